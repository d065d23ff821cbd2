import Domain
import Foundation
import NIOCore
import PostgresNIO
@testable import Storage
import Testing

/// `PostgresCatalog.studies` reads a whole page as one `record[]` value (array_send's binary layout):
/// the items, the cursor taken from the last item when one more record follows, and a refusal naming the
/// column for any other shape.
@Suite("PostgreSQL study pages")
struct PostgresStudyPageTests {
    static let text: UInt32 = 25, int8: UInt32 = 20, timestamptz: UInt32 = 1184, record: UInt32 = 2249

    /// A study record as record_send writes it: `uid`, seven NULL texts, `modalities`, three bigints
    /// of 1 and both times `micros` after 2000-01-01.
    static func studyRecord(_ uid: String, modalities: String = "CT", micros: Int64 = 1) -> [UInt8] {
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
        var time = ByteBuffer()
        time.writeInteger(micros)
        for _ in 0..<2 { field(timestamptz, Array(time.readableBytesView)) }
        return Array(buffer.readableBytesView)
    }

    /// array_send: one dimension of `elements` (nil: a NULL element), or none when empty.
    static func array(_ elements: [[UInt8]?], elementType: UInt32 = record, dimensions: Int32? = nil) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(dimensions ?? (elements.isEmpty ? 0 : 1))
        buffer.writeInteger(Int32(elements.contains { $0 == nil } ? 1 : 0))
        buffer.writeInteger(elementType)
        if !elements.isEmpty {
            buffer.writeInteger(Int32(elements.count))
            buffer.writeInteger(Int32(1))
        }
        for element in elements {
            if let element {
                buffer.writeInteger(Int32(element.count))
                buffer.writeBytes(element)
            } else {
                buffer.writeInteger(Int32(-1))
            }
        }
        return buffer
    }

    static func cell(_ bytes: ByteBuffer?, type: PostgresDataType = .recordArray, format: PostgresFormat = .binary) -> PostgresCell {
        PostgresCell(bytes: bytes, dataType: type, format: format, columnName: "page", columnIndex: 0)
    }

    @Test func emptyArrayIsAnEmptyPage() throws {
        let page = try StudyRecord.page(Self.cell(Self.array([])), limit: 100)
        #expect(page.items.isEmpty && page.nextCursor == nil)
    }

    /// `limit` records are the page; one more gives the cursor of the last item and is not read (here
    /// it is not even a record).
    @Test func recordPastTheLimitOnlyGivesTheCursor() throws {
        let elements = [Self.studyRecord("1.2.3", micros: 5), Self.studyRecord("1.2.2", micros: 4), [0xFF, 0xFF]]
        let page = try StudyRecord.page(Self.cell(Self.array(elements)), limit: 2)
        #expect(page.items.map(\.studyInstanceUID) == ["1.2.3", "1.2.2"])
        #expect(page.nextCursor == CatalogCursor(kind: .studies, key: CatalogTime.postgresToUnixMicros + 4, id: "1.2.2").encoded())

        let whole = try StudyRecord.page(Self.cell(Self.array(Array(elements.prefix(2)))), limit: 2)
        #expect(whole.items.count == 2 && whole.nextCursor == nil)
    }

    /// Modalities split as `String.split(separator: "\\")` splits them: empty values dropped, and a
    /// backslash that a combining mark joins is no separator.
    @Test func modalitiesSplitAsStringSplits() throws {
        for modalities in ["CT\\MR\\US", "", "\\", "CT\\\\MR\\", "MR", "CT\\\u{301}MR", "Ü\\CT"] {
            let page = try StudyRecord.page(Self.cell(Self.array([Self.studyRecord("1.2.3", modalities: modalities)])), limit: 1)
            #expect(page.items.first?.modalities == modalities.split(separator: "\\").map(String.init), "\(modalities)")
        }
    }

    @Test func otherShapesAreRefused() throws {
        let valid = Self.studyRecord("1.2.3")
        var truncated = Self.array([valid])
        truncated.moveWriterIndex(to: truncated.writerIndex - 1)
        var trailing = Self.studyRecord("1.2.3")
        trailing.append(0)
        let cells = [
            Self.cell(Self.array([valid]), type: .record),
            Self.cell(Self.array([valid]), format: .text),
            Self.cell(nil),
            Self.cell(Self.array([valid], elementType: Self.text)),
            Self.cell(Self.array([valid], dimensions: 2)),
            Self.cell(Self.array([nil, valid])),
            Self.cell(truncated),
            Self.cell(Self.array([trailing])),
            Self.cell(Self.array([valid, valid, valid])),  // more than limit + 1
            Self.cell(ByteBuffer(bytes: [0, 0, 0])),
        ]
        for cell in cells {
            #expect(throws: SQLDecodingError.self) { try StudyRecord.page(cell, limit: 1) }
        }
    }
}
