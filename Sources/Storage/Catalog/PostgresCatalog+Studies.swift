public import Domain
import NIOCore
import PostgresNIO

extension PostgresCatalog {
    /// `SQLCatalog.studies(filter:page:)`, same filters, order and keyset, with each study selected as one
    /// `ROW(…)` value and read straight from its binary form. A page of 100 studies is 1,400 columns:
    /// read as cells through the generic `SQLRow` (a `PostgresCell`, a value enum and a lookup by name per
    /// column) they cost more of the service's CPU than the rest of the request together.
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
            var items: [StudySummary] = []
            items.reserveCapacity(min(rows.count, limit))
            var next: String?
            for (index, row) in rows.prefix(limit).enumerated() {
                let record = try row.decode(StudyRecord.self)
                // As `keysetPage`: the row past `limit` only says that another page follows.
                if index == limit - 1 && rows.count > limit {
                    next = CatalogCursor(kind: .studies, key: record.firstReceivedMicros, id: record.summary.studyInstanceUID).encoded()
                }
                items.append(record.summary)
            }
            return Page(items: items, nextCursor: next)
        } catch let error as PostgresDecodingError {
            // Names the column, never its value (PostgresDecodingError carries the cell's bytes).
            throw mapped(SQLDecodingError(column: error.columnName, reason: "is not the study record the catalog selects"))
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
struct StudyRecord: PostgresDecodable {
    /// The fields in `StudyRow.columns` order, as one column.
    static let column = SQLStatement(unsafeSQL: """
        ROW(s.study_instance_uid, s.patient_id, s.patient_name, s.patient_birth_date, s.study_date, s.study_time,
            s.study_description, s.accession_number, s.modalities, s.series_count, s.instance_count, s.total_bytes,
            s.first_received_at, s.last_received_at) AS study
        """)
    static let fieldCount: Int32 = 14

    var summary: StudySummary
    /// `first_received_at` in microseconds since 1970, as stored (the cursor compares these).
    var firstReceivedMicros: Int64

    init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat,
        context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        guard type == .record, format == .binary else { throw PostgresDecodingError.Code.typeMismatch }
        // One pass over the raw bytes: ByteBuffer's checked reads cost more than the fields themselves.
        let decoded = try buffer.withUnsafeReadableBytes { bytes in
            var reader = RecordReader(bytes: bytes)
            guard reader.int32() == Self.fieldCount else { throw PostgresDecodingError.Code.typeMismatch }
            let uid = try reader.text()
            let patientID = try reader.optionalText()
            let patientName = try reader.optionalText()
            let patientBirthDate = try reader.optionalText()
            let studyDate = try reader.optionalText()
            let studyTime = try reader.optionalText()
            let studyDescription = try reader.optionalText()
            let accessionNumber = try reader.optionalText()
            let modalities = try reader.text()
            let seriesCount = try reader.bigint()
            let instanceCount = try reader.bigint()
            let totalBytes = try reader.bigint()
            let firstReceivedAt = try reader.timestamp()
            let lastReceivedAt = try reader.timestamp()
            guard reader.offset == bytes.count, let seriesCount = Int(exactly: seriesCount),
                  let instanceCount = Int(exactly: instanceCount) else {
                throw PostgresDecodingError.Code.failure
            }
            return StudyRecord(
                summary: StudySummary(
                    studyInstanceUID: uid, patientID: patientID, patientName: patientName,
                    patientBirthDate: patientBirthDate, studyDate: studyDate, studyTime: studyTime,
                    studyDescription: studyDescription, accessionNumber: accessionNumber,
                    modalities: modalities.isEmpty ? [] : modalities.split(separator: "\\").map(String.init),
                    seriesCount: seriesCount, instanceCount: instanceCount, totalBytes: totalBytes,
                    firstReceivedAt: CatalogTime.date(firstReceivedAt), lastReceivedAt: CatalogTime.date(lastReceivedAt)),
                firstReceivedMicros: firstReceivedAt)
        }
        buffer.moveReaderIndex(forwardBy: buffer.readableBytes)
        self = decoded
    }

    init(summary: StudySummary, firstReceivedMicros: Int64) {
        self.summary = summary
        self.firstReceivedMicros = firstReceivedMicros
    }
}

/// Reads the fields of a binary record, each length checked against what is left.
private struct RecordReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    /// The next big-endian int32, nil past the end.
    mutating func int32() -> Int32? {
        guard bytes.count - offset >= 4 else { return nil }
        defer { offset += 4 }
        return Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int32.self))
    }

    /// The next field's bytes if it has type `oid`; nil for NULL.
    mutating func field(oid: PostgresDataType) throws -> UnsafeRawBufferPointer? {
        guard let fieldOID = int32(), UInt32(bitPattern: fieldOID) == oid.rawValue, let length = int32() else {
            throw PostgresDecodingError.Code.typeMismatch
        }
        if length == -1 { return nil }
        guard length >= 0, bytes.count - offset >= Int(length) else { throw PostgresDecodingError.Code.failure }
        defer { offset += Int(length) }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(length))])
    }

    /// UTF-8, decoded as `ByteBuffer.readString` decodes it (invalid sequences repaired).
    mutating func optionalText() throws -> String? {
        guard let field = try field(oid: .text) else { return nil }
        return String(decoding: field, as: UTF8.self)
    }

    mutating func text() throws -> String {
        guard let text = try optionalText() else { throw PostgresDecodingError.Code.missingData }
        return text
    }

    mutating func bigint() throws -> Int64 {
        guard let field = try field(oid: .int8), field.count == 8 else { throw PostgresDecodingError.Code.failure }
        return Int64(bigEndian: field.loadUnaligned(as: Int64.self))
    }

    /// Microseconds since 1970. ±infinity (Int64.max / Int64.min) are beyond any date the catalog writes.
    mutating func timestamp() throws -> Int64 {
        guard let field = try field(oid: .timestamptz), field.count == 8 else { throw PostgresDecodingError.Code.failure }
        let (unixMicros, overflow) = Int64(bigEndian: field.loadUnaligned(as: Int64.self))
            .addingReportingOverflow(CatalogTime.postgresToUnixMicros)
        guard !overflow else { throw PostgresDecodingError.Code.failure }
        return unixMicros
    }
}
