@testable import API
import Domain
import Foundation
import NIOCore
import Testing

/// `JSONBuffer` writes each study into one reservation sized from `JSONOutput`'s bounds; a value at the
/// longest form of every member (all control characters, which expand 6×; 20-character numbers; years
/// beyond 9999 and before 0) must fit it, or the write traps.
@Suite("JSONOutput bounds")
struct JSONOutputBoundsTests {
    @Test(arguments: [
        Date(timeIntervalSince1970: 1e15), Date(timeIntervalSince1970: -1e15), Date(timeIntervalSince1970: 0),
    ])
    func longestStudiesFitTheirReservation(date: Date) throws {
        let control = String(repeating: "\u{1}", count: 64)
        let study = StudySummary(
            studyInstanceUID: control, patientID: control, patientName: control, patientBirthDate: control,
            studyDate: control, studyTime: control, studyDescription: control, accessionNumber: control,
            modalities: [control, control, ""], seriesCount: Int.min, instanceCount: Int.max, totalBytes: Int64.min,
            firstReceivedAt: date, lastReceivedAt: date)
        var json = JSONBuffer(capacity: 1)
        PageDTO(items: [StudyDTO(study: study), StudyDTO(study: study)], nextCursor: control).write(to: &json)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.buffer.readableBytesView)) as? [String: Any])
        let items = try #require(object["items"] as? [[String: Any]])
        #expect(items.count == 2)
        #expect(items.first?["patientName"] as? String == control)
        #expect(items.first?["modalities"] as? [String] == [control, control, ""])
        #expect(items.first?["totalBytes"] as? Int64 == Int64.min)
        #expect(object["nextCursor"] as? String == control)
    }
}
