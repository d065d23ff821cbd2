@testable import API
import Domain
import Foundation
import NIOCore
import Testing

/// `JSONBuffer` must write exactly what `JSONCoding.encode` (JSONEncoder) writes for the same bodies:
/// the same members and values (compared as parsed JSON), and dates as the same strings.
@Suite("JSONBuffer")
struct JSONBufferTests {
    private func fast<T: JSONBufferWritable>(_ value: T) -> ByteBuffer {
        var json = JSONBuffer()
        value.write(to: &json)
        return json.buffer
    }

    private func parsed(_ buffer: ByteBuffer) throws -> NSObject {
        try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView), options: [.fragmentsAllowed]) as? NSObject)
    }

    private func expectSame<T: JSONBufferWritable & Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ours = fast(value)
        let reference = try JSONCoding.encode(value)
        #expect(try parsed(ours) == parsed(reference),
                "\(String(buffer: ours))\n!=\n\(String(buffer: reference))", sourceLocation: sourceLocation)
    }

    static let awkward = ["", "plain", "Doe^Jöhn=山田^太郎", "quote \" backslash \\ slash /", "line\nbreak\ttab\r\u{8}\u{c}",
                          "\u{0}\u{1}\u{1f}", "emoji 🩻", "\u{7f}\u{2028}"]

    @Test(arguments: awkward)
    func studiesMatchJSONEncoder(_ text: String) throws {
        let full = StudySummary(
            studyInstanceUID: "1.2.3", patientID: text, patientName: text, patientBirthDate: "19700101", studyDate: "20240101",
            studyTime: "120000.5", studyDescription: text, accessionNumber: text, modalities: ["CT", text], seriesCount: 3,
            instanceCount: 1200, totalBytes: Int64.max, firstReceivedAt: Date(timeIntervalSince1970: 1_750_000_000.123_456),
            lastReceivedAt: Date(timeIntervalSince1970: -1.5))
        let empty = StudySummary(studyInstanceUID: "9", firstReceivedAt: Date(timeIntervalSince1970: 0),
                                 lastReceivedAt: Date(timeIntervalSince1970: 0.000_999))
        try expectSame(PageDTO(items: [StudyDTO(study: full), StudyDTO(study: empty)], nextCursor: "abc=="))
        try expectSame(PageDTO(items: [StudyDTO](), nextCursor: nil))
        try expectSame(StudyDTO(study: full))
    }

    @Test func seriesInstancesAndAssociationsMatchJSONEncoder() throws {
        let series = SeriesSummary(seriesInstanceUID: "1.2.3.4", studyInstanceUID: "1.2.3", modality: "MR", seriesNumber: -7,
                                   seriesDescription: "T1 \"axial\"", instanceCount: 0, totalBytes: 0)
        try expectSame(ItemsDTO(items: [SeriesDTO(series: series), SeriesDTO(series: SeriesSummary(
            seriesInstanceUID: "5", studyInstanceUID: "6", instanceCount: 1, totalBytes: 1))]))
        let instance = InstanceRecord(
            sopInstanceUID: "1.2.3.4.5", sopClassUID: "1.2.840.10008.5.1.4.1.1.2", seriesInstanceUID: "1.2.3.4",
            studyInstanceUID: "1.2.3", instanceNumber: 12, transferSyntaxUID: "1.2.840.10008.1.2.1", sizeBytes: 524_288,
            storedBytes: 1, objectURI: "s3://b/DICOM/1.2.3/1.2.3.4.5.dcm", metadataURI: "file:///data/a%20b.json",
            sha256: String(repeating: "ab", count: 32), listenerID: UUID(), associationID: UUID(), callingAETitle: "MOD\\X",
            calledAETitle: "STORESCP", peerAddress: "[::1]:104", receivedAt: Date(timeIntervalSince1970: 1_800_000_000.9999),
            receiveCount: 2)
        var bare = instance
        bare.instanceNumber = nil
        bare.metadataURI = nil
        try expectSame(PageDTO(items: [InstanceDTO(instance: instance), InstanceDTO(instance: bare)], nextCursor: "x"))
        let association = AssociationRecord(
            listenerID: UUID(), callingAETitle: "A", calledAETitle: "B", peerAddress: "127.0.0.1:1",
            startedAt: Date(timeIntervalSince1970: 1_700_000_000.25), endedAt: nil, outcome: .rejected,
            rejectReason: "called AE title not recognized", instancesReceived: 5, instancesFailed: 1, bytesReceived: -1)
        var ended = association
        ended.endedAt = Date(timeIntervalSince1970: 1_700_000_001)
        ended.outcome = .released
        ended.rejectReason = nil
        try expectSame(PageDTO(items: [AssociationDTO(association: association), AssociationDTO(association: ended)], nextCursor: nil))
    }

    /// Dates: the exact strings `JSONCoding.formatDate` writes, over 1900–2200 and sub-millisecond parts.
    @Test func datesAreWrittenLikeJSONCoding() throws {
        var generator = SystemRandomNumberGenerator()
        var samples: [Double] = [0, -0.0005, 0.0005, 951_782_400, 4_107_542_399.999, -2_208_988_800, 1_709_164_800.5]
        for _ in 0..<200_000 { samples.append(Double.random(in: -2_208_988_800 ... 7_258_118_400, using: &generator)) }
        for seconds in samples {
            // Catalog dates have microsecond resolution.
            let date = Date(timeIntervalSince1970: (seconds * 1_000_000).rounded() / 1_000_000)
            var json = JSONBuffer()
            json.date(date)
            #expect(String(buffer: json.buffer) == "\"\(JSONCoding.formatDate(date))\"", "\(date.timeIntervalSince1970)")
        }
    }
}
