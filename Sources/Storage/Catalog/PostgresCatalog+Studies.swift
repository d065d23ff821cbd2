public import Domain
import NIOCore
import PostgresNIO

extension PostgresCatalog {
    /// `SQLCatalog.studies(filter:page:)`, same filters, order and keyset, with each study selected as one
    /// `ROW(…)` value and read straight from its binary form. A page of 100 studies is 1,400 columns:
    /// read as cells through the generic `SQLRow` (a `PostgresCell`, a value enum and a lookup by name per
    /// column) they cost more of the service's CPU than the rest of the request together.
    ///
    /// One row per study, not the page as one `ARRAY(SELECT ROW(…) …)` value: that would save postgres-nio's
    /// per-row work (a few hundredths of a millisecond a page) but costs PostgreSQL 0.7 ms more per query, which
    /// builds and sends the 36 KB array in fresh memory it page-faults in every time.
    public func studies(filter: StudyFilter, page: PageRequest) async throws -> Page<StudySummary> {
        let limit = page.clampedLimit
        let statement = try studiesStatement(filter: filter, page: page, columns: StudyRecord.column) + " LIMIT \(limit + 1)"
        let rows: [PostgresRow]
        do {
            rows = try await database.readRows(statement)
        } catch {
            throw mapped(error)
        }
        do {
            return try StudyRecord.page(rows, limit: limit)
        } catch {
            throw mapped(error)
        }
    }
}

/// One study as PostgreSQL sends a `ROW(…)` of the `studies` columns in the binary format (record_send):
///
///     int32 field count, then per field: uint32 type OID, int32 length (-1 for NULL), length bytes
///
/// Text fields are their UTF-8 bytes, `bigint` 8 bytes and `timestamptz` 8 bytes of microseconds since
/// 2000-01-01, big-endian. Every field's type is checked against the one the column has in
/// Migrations/postgres.
struct StudyRecord {
    /// The fields in `StudyRow.columns` order, as one column.
    static let column = SQLStatement(unsafeSQL: """
        ROW(s.study_instance_uid, s.patient_id, s.patient_name, s.patient_birth_date, s.study_date, s.study_time,
            s.study_description, s.accession_number, s.modalities, s.series_count, s.instance_count, s.total_bytes,
            s.first_received_at, s.last_received_at) AS study
        """)
    static let fieldCount: Int32 = 14

    /// The bytes are not the record the catalog selects (the caller names the column, never a value).
    struct Invalid: Error {}

    var summary: StudySummary
    /// `first_received_at` in microseconds since 1970, as stored (the cursor compares these).
    var firstReceivedMicros: Int64

    /// The page in `rows`, one record each: the first `limit` are the items; one more only says that
    /// another page follows (as `keysetPage`), and its bytes are not read.
    static func page(_ rows: [PostgresRow], limit: Int) throws -> Page<StudySummary> {
        var items: [StudySummary] = []
        items.reserveCapacity(min(rows.count, limit))
        var next: String?
        for (index, row) in rows.prefix(limit).enumerated() {
            guard row.count == 1, let cell = row.first else {
                throw SQLDecodingError(column: "study", reason: "is not the one study record the catalog selects")
            }
            let record = try StudyRecord(cell)
            if index == limit - 1 && rows.count > limit {
                next = CatalogCursor(kind: .studies, key: record.firstReceivedMicros, id: record.summary.studyInstanceUID).encoded()
            }
            items.append(record.summary)
        }
        return Page(items: items, nextCursor: next)
    }

    /// The record in `cell`; a refusal names the column, never a value.
    init(_ cell: PostgresCell) throws {
        guard cell.dataType == .record, cell.format == .binary, let buffer = cell.bytes else {
            throw SQLDecodingError(column: cell.columnName, reason: "is not a binary study record")
        }
        do {
            self = try buffer.withUnsafeReadableBytes { try StudyRecord(record: $0) }
        } catch {
            throw SQLDecodingError(column: cell.columnName, reason: "is not the study record the catalog selects")
        }
    }

    /// One record's bytes, in one pass: ByteBuffer's checked reads cost more than the fields themselves.
    init(record bytes: UnsafeRawBufferPointer) throws {
        var reader = RecordReader(bytes: bytes)
        guard reader.int32() == Self.fieldCount else { throw Invalid() }
        let uid = try reader.text()
        let patientID = try reader.optionalText()
        let patientName = try reader.optionalText()
        let patientBirthDate = try reader.optionalText()
        let studyDate = try reader.optionalText()
        let studyTime = try reader.optionalText()
        let studyDescription = try reader.optionalText()
        let accessionNumber = try reader.optionalText()
        let modalities = try reader.textValues(separator: UInt8(ascii: "\\"))
        let seriesCount = try reader.bigint()
        let instanceCount = try reader.bigint()
        let totalBytes = try reader.bigint()
        let firstReceivedAt = try reader.timestamp()
        let lastReceivedAt = try reader.timestamp()
        guard reader.offset == bytes.count, let seriesCount = Int(exactly: seriesCount),
              let instanceCount = Int(exactly: instanceCount) else {
            throw Invalid()
        }
        self.summary = StudySummary(
            studyInstanceUID: uid, patientID: patientID, patientName: patientName,
            patientBirthDate: patientBirthDate, studyDate: studyDate, studyTime: studyTime,
            studyDescription: studyDescription, accessionNumber: accessionNumber, modalities: modalities,
            seriesCount: seriesCount, instanceCount: instanceCount, totalBytes: totalBytes,
            firstReceivedAt: CatalogTime.date(firstReceivedAt), lastReceivedAt: CatalogTime.date(lastReceivedAt))
        self.firstReceivedMicros = firstReceivedAt
    }
}

/// Reads the fields of a binary record, each length checked against what is left.
private struct RecordReader {
    typealias Invalid = StudyRecord.Invalid

    let bytes: UnsafeRawBufferPointer
    var offset = 0

    /// The next big-endian int32, nil past the end.
    mutating func int32() -> Int32? {
        guard bytes.count - offset >= 4 else { return nil }
        defer { offset += 4 }
        return Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))
    }

    /// The next `count` bytes, nil past the end.
    mutating func bytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, bytes.count - offset >= count else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    /// The next field's bytes if it has type `oid`; nil for NULL.
    mutating func field(oid: PostgresDataType) throws -> UnsafeRawBufferPointer? {
        guard let fieldOID = int32(), UInt32(bitPattern: fieldOID) == oid.rawValue, let length = int32() else {
            throw Invalid()
        }
        if length == -1 { return nil }
        guard let field = bytes(Int(length)) else { throw Invalid() }
        return field
    }

    /// UTF-8, decoded as `ByteBuffer.readString` decodes it (invalid sequences repaired).
    mutating func optionalText() throws -> String? {
        guard let field = try field(oid: .text) else { return nil }
        return String(decoding: field, as: UTF8.self)
    }

    mutating func text() throws -> String {
        guard let text = try optionalText() else { throw Invalid() }
        return text
    }

    /// A non-NULL text field of values joined by `separator`, as `text().split(separator:)` (empty
    /// values dropped) gives them. An ASCII field is split on its bytes without the joined `String`;
    /// any other goes through `String` (a separator followed by a combining mark is one `Character`).
    mutating func textValues(separator: UInt8) throws -> [String] {
        guard let field = try field(oid: .text) else { throw Invalid() }
        guard field.allSatisfy({ $0 < 0x80 }) else {
            let text = String(decoding: field, as: UTF8.self)
            return text.split(separator: Character(Unicode.Scalar(separator))).map(String.init)
        }
        var values: [String] = []
        var start = 0
        for index in 0...field.count where index == field.count || field[index] == separator {
            if index > start { values.append(String(decoding: UnsafeRawBufferPointer(rebasing: field[start..<index]), as: UTF8.self)) }
            start = index + 1
        }
        return values
    }

    mutating func bigint() throws -> Int64 {
        guard let field = try field(oid: .int8), field.count == 8 else { throw Invalid() }
        return Int64(bigEndian: field.loadUnaligned(as: Int64.self))
    }

    /// Microseconds since 1970. ±infinity (Int64.max / Int64.min) are beyond any date the catalog writes.
    mutating func timestamp() throws -> Int64 {
        guard let field = try field(oid: .timestamptz), field.count == 8 else { throw Invalid() }
        let (unixMicros, overflow) = Int64(bigEndian: field.loadUnaligned(as: Int64.self))
            .addingReportingOverflow(CatalogTime.postgresToUnixMicros)
        guard !overflow else { throw Invalid() }
        return unixMicros
    }
}
