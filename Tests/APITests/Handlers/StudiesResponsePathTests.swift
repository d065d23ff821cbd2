@testable import API
import Domain
import Foundation
import NIOCore
import Testing

/// The pieces of `GET /v1/studies` written for speed give the answers of the general ones: the page body
/// byte for byte as a `PageDTO` of `StudyDTO`s, and the cursor check as the pattern of openapi.yaml.
@Suite("Studies response path")
struct StudiesResponsePathTests {
    private func written(_ value: some JSONBufferWritable, capacity: Int = 16384) -> [UInt8] {
        var json = JSONBuffer(capacity: capacity)
        value.write(to: &json)
        return Array(json.buffer.readableBytesView)
    }

    @Test(arguments: [0, 1, 2, 150])
    func studyPageIsThePageOfStudyDTOs(count: Int) throws {
        let texts = JSONBufferTests.awkward
        let studies = (0..<count).map { index in
            let text = texts[index % texts.count]
            return StudySummary(
                studyInstanceUID: "1.2.\(index)", patientID: index % 3 == 0 ? nil : text, patientName: text,
                patientBirthDate: "19700101", studyDate: nil, studyTime: "120000.5", studyDescription: String(repeating: text, count: index % 5),
                accessionNumber: text, modalities: index % 4 == 0 ? [] : ["CT", text], seriesCount: index, instanceCount: 1200,
                totalBytes: Int64(index) * 1_000_003, firstReceivedAt: Date(timeIntervalSince1970: 1_750_000_000.123_456 + Double(index)),
                lastReceivedAt: Date(timeIntervalSince1970: -1.5 * Double(index)))
        }
        for cursor in [nil, "s1750000000123456_1.2.3"] {
            let reference = written(PageDTO(items: studies.map { StudyDTO(study: $0) }, nextCursor: cursor))
            // Presized as the handler does, and from a small buffer that has to grow.
            #expect(written(StudyPageDTO(page: Page(items: studies, nextCursor: cursor)),
                            capacity: StudyPageDTO.capacity(count)) == reference)
            #expect(written(StudyPageDTO(page: Page(items: studies, nextCursor: cursor)), capacity: 16) == reference)
        }
    }

    /// Candidate cursors: well-formed ones of every kind, and their neighbours one edit away.
    static func candidates() -> [String] {
        let uuid = "0123abcd-4567-89ef-0123-456789abcdef"
        var result = ["", "s", "s_", "s1_", "s1_1", "s-1_1", "s--1_1", "s1_1.", "s1_.1", "s1_1..2", "s1_1.2.3", "s01234567890123456789_1",
                      "s0123456789012345678_1", "s1_1\n", "s1_1 ", "S1_1", "s1_a", "s１_1", "i-9223372036854775808_1.2",
                      "a1_\(uuid)", "e-5_\(uuid)", "a1_\(uuid.uppercased())", "a1_\(uuid)0", "a1_\(uuid.dropLast())",
                      "e1_" + uuid.replacingOccurrences(of: "-", with: "_"), "a1_\(uuid)\n", "a_\(uuid)", "i1_1", "e1_1"]
        // Deterministic single-character edits of well-formed cursors.
        let seeds = ["s1750000000123456_1.2.840.10008", "i-12_3.4", "a42_\(uuid)", "e-7_\(uuid)"]
        let alphabet = Array("saie-_.09af:g\n \u{0}é")
        for seed in seeds {
            let characters = Array(seed)
            for position in 0...characters.count {
                for character in alphabet {
                    var inserted = characters
                    inserted.insert(character, at: position)
                    result.append(String(inserted))
                    if position < characters.count {
                        var replaced = characters
                        replaced[position] = character
                        result.append(String(replaced))
                        var removed = characters
                        removed.remove(at: position)
                        result.append(String(removed))
                    }
                }
            }
        }
        return result
    }

    @Test func cursorFormsMatchTheirPatterns() {
        let forms: [QueryParameters.CursorForm] = [.studies, .instances, .associations, .events]
        var accepted = 0
        for candidate in Self.candidates() {
            for form in forms {
                let expected = ListenerValidation.matches(candidate, form.pattern)
                #expect(form.matches(candidate) == expected, "\(form) \(candidate.debugDescription)")
                if expected { accepted += 1 }
            }
        }
        // The candidates exercise both answers.
        #expect(accepted > 100)
    }
}
