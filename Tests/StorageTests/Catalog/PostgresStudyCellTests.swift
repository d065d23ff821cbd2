import Domain
import Foundation
import NIOCore
import PostgresNIO
@testable import Storage
import Testing

/// `PostgresCatalog.studies` reads each study from one binary `record` cell: modalities split as the
/// generic path splits them, and any other cell refused naming its column.
@Suite("PostgreSQL study cells")
struct PostgresStudyCellTests {
    static let text: UInt32 = 25, int8: UInt32 = 20, timestamptz: UInt32 = 1184

    /// A study record as record_send writes it: `uid`, seven NULL texts, `modalities`, three bigints
    /// of 1 and both times 1 µs after 2000-01-01.
    static func studyRecord(_ uid: String, modalities: String = "CT") -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(14))
        func field(_ oid: UInt32, _ bytes: [UInt8]?) {
            buffer.writeInteger(oid)
            if let bytes {
                buffer.writeInteger(Int32(bytes.count))
                buffer.writeBytes(bytes)
            } else {
                buffer.writeInteger(Int32(-1))
            }
        }
        field(text, Array(uid.utf8))
        for _ in 0..<7 { field(text, nil) }
        field(text, Array(modalities.utf8))
        for _ in 0..<3 { field(int8, [0, 0, 0, 0, 0, 0, 0, 1]) }
        for _ in 0..<2 { field(timestamptz, [0, 0, 0, 0, 0, 0, 0, 1]) }
        return buffer
    }

    static func cell(_ bytes: ByteBuffer?, type: PostgresDataType = .record, format: PostgresFormat = .binary) -> PostgresCell {
        PostgresCell(bytes: bytes, dataType: type, format: format, columnName: "study", columnIndex: 0)
    }

    /// Modalities split as `String.split(separator: "\\")` splits them: empty values dropped, and a
    /// backslash that a combining mark joins is no separator.
    @Test func modalitiesSplitAsStringSplits() throws {
        for modalities in ["CT\\MR\\US", "", "\\", "CT\\\\MR\\", "MR", "CT\\\u{301}MR", "Ü\\CT", "\\CT\\\r\nMR"] {
            let record = try StudyRecord(Self.cell(Self.studyRecord("1.2.3", modalities: modalities)))
            #expect(record.summary.modalities == modalities.split(separator: "\\").map(String.init), "\(modalities)")
        }
    }

    @Test func otherCellsAreRefusedNamingTheColumn() throws {
        var trailing = Self.studyRecord("1.2.3")
        trailing.writeInteger(UInt8(0))
        let cells = [
            Self.cell(Self.studyRecord("1.2.3"), type: .recordArray),
            Self.cell(Self.studyRecord("1.2.3"), format: .text),
            Self.cell(nil),
            Self.cell(trailing),
            Self.cell(ByteBuffer(bytes: [0, 0, 0])),
        ]
        for cell in cells {
            #expect(performing: { try StudyRecord(cell) }, throws: { error in
                (error as? SQLDecodingError)?.column == "study"
            })
        }
        #expect(try StudyRecord(Self.cell(Self.studyRecord("1.2.3"))).summary.studyInstanceUID == "1.2.3")
    }
}
