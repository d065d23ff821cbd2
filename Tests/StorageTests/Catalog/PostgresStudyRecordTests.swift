import Domain
import Foundation
import NIOCore
import PostgresNIO
@testable import Storage
import Testing

/// `PostgresCatalog.studies` reads each study as one binary `ROW(…)`; it must give exactly the pages that
/// the generic `SQLRow` path of `SQLCatalog` gives for the same statement.
@Suite("PostgreSQL study records")
struct PostgresStudyRecordTests {
    @Test
    func recordPagesEqualTheGenericRowPages() async throws {
        try await withMigratedPostgresCatalog { server, name, catalog in
            // NULLs, non-ASCII, JSON metacharacters and control characters, several modalities, none,
            // microsecond and pre-1970 timestamps, the largest bigint.
            _ = try await server.query(database: name, """
                INSERT INTO studies (study_instance_uid, patient_id, patient_name, patient_name_lower,
                    patient_birth_date, study_date, study_time, study_description, accession_number, modalities,
                    series_count, instance_count, total_bytes, first_received_at, last_received_at)
                VALUES
                  ('1.2.1', 'P1', 'Müller^Hans', 'müller^hans', '19700101', '20240101', '120000.123456',
                   E'quote " backslash \\\\ tab \\t newline \\n bell \\x07 slash /', 'A1', 'CT\\MR\\US',
                   3, 7, 9223372036854775807, '2025-01-01 00:00:00.000001+00', '2025-01-01 00:00:00.999999+00'),
                  ('1.2.2', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, '',
                   0, 0, 0, '1969-12-31 23:59:59.5+00', '1969-12-31 23:59:59.5+00'),
                  ('1.2.3', 'P3', '山田^太郎', '山田^太郎', '', '', '', '', '', 'MR',
                   1, 1, 1, '2025-01-01 00:00:00.000001+00', '2026-06-30 12:34:56.789012+00'),
                  ('1.2.4', 'P4', 'DOE^JOHN', 'doe^john', '19800229', '20240229', '235959', 'Study', 'A4', 'CT',
                   2, 10, 5242880, '2024-02-29 23:59:59.999999+00', '2024-03-01 00:00:00+00')
                """)
            for filter in [StudyFilter(), StudyFilter(patientID: "P1"), StudyFilter(patientName: "*^*")] {
                for limit in [1, 2, 3, 100] {
                    var cursor: String?
                    var pages = 0
                    repeat {
                        let page = PageRequest(limit: limit, cursor: cursor)
                        let record = try await catalog.studies(filter: filter, page: page)
                        let generic = try await catalog.keysetPage(
                            try catalog.studiesStatement(filter: filter, page: page), limit: limit,
                            item: StudySummary.init(row:)) { last in
                            CatalogCursor(kind: .studies, key: try last.micros("first_received_at"),
                                          id: try last.decode("study_instance_uid"))
                        }
                        #expect(record == generic)
                        cursor = record.nextCursor
                        pages += 1
                    } while cursor != nil && pages < 10
                    #expect(cursor == nil)
                }
            }
            let all = try await catalog.studies(filter: StudyFilter(), page: PageRequest())
            #expect(all.items.map(\.studyInstanceUID) == ["1.2.3", "1.2.1", "1.2.4", "1.2.2"])
            #expect(all.items[1].modalities == ["CT", "MR", "US"])
            #expect(all.items[1].studyDescription == "quote \" backslash \\ tab \t newline \n bell \u{07} slash /")
            #expect(all.items[3].patientName == nil && all.items[3].modalities == [])
            #expect(all.items[1].totalBytes == Int64.max)
        }
    }

    /// Cursors whose keys lie beyond PostgreSQL's timestamps (any 64-bit key is a well-formed cursor)
    /// still name positions: before every study (an empty page) or after (the first page).
    @Test
    func cursorKeysBeyondPostgresTimestampsArePositions() async throws {
        try await withMigratedPostgresCatalog { _, _, catalog in
            try await catalog.recordInstance(makeInstance(sop: "1", series: "1.s", study: "1.2.1", at: at(100)))
            for key in ["-9223372036854775808", "-9223372036854775807", "-300000000000000000", "-1000000000000000000"] {
                let page = try await catalog.studies(filter: StudyFilter(), page: PageRequest(cursor: "s\(key)_1"))
                #expect(page.items.isEmpty, "cursor key \(key)")
                let associations = try await catalog.associations(
                    listenerID: nil, page: PageRequest(cursor: "a\(key)_00000000-0000-0000-0000-000000000000"))
                #expect(associations.items.isEmpty, "cursor key \(key)")
            }
            for key in ["9223372036854775807", "9223372036854775000", "9000000000000000000"] {
                let page = try await catalog.studies(filter: StudyFilter(), page: PageRequest(cursor: "s\(key)_1"))
                #expect(page.items.map(\.studyInstanceUID) == ["1.2.1"], "cursor key \(key)")
            }
        }
    }

    /// A record of another shape (field count, field type, truncated bytes, a field past its end) is
    /// refused with a decoding error, never read past its end.
    @Test
    func malformedRecordsAreRefused() throws {
        func record(_ fields: [(oid: UInt32, bytes: [UInt8]?)], count: Int32? = nil) -> ByteBuffer {
            var buffer = ByteBuffer()
            buffer.writeInteger(count ?? Int32(fields.count))
            for field in fields {
                buffer.writeInteger(field.oid)
                if let bytes = field.bytes {
                    buffer.writeInteger(Int32(bytes.count))
                    buffer.writeBytes(bytes)
                } else {
                    buffer.writeInteger(Int32(-1))
                }
            }
            return buffer
        }
        let text: UInt32 = 25, int8: UInt32 = 20, timestamptz: UInt32 = 1184
        let eight: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 1]
        let valid: [(oid: UInt32, bytes: [UInt8]?)] =
            [(text, Array("1.2.3".utf8))] + Array(repeating: (text, nil), count: 7) + [(text, Array("CT".utf8))]
            + Array(repeating: (int8, eight), count: 3) + Array(repeating: (timestamptz, eight), count: 2)

        func decode(_ buffer: ByteBuffer) throws -> StudyRecord {
            try buffer.withUnsafeReadableBytes { try StudyRecord(record: $0) }
        }
        let decoded = try decode(record(valid))
        #expect(decoded.summary.studyInstanceUID == "1.2.3" && decoded.summary.modalities == ["CT"])
        #expect(decoded.firstReceivedMicros == CatalogTime.postgresToUnixMicros + 1)

        var wrongType = valid
        wrongType[9] = (text, eight)
        var nullUID = valid
        nullUID[0] = (text, nil)
        var tooLong = record(valid)
        tooLong.writeInteger(UInt8(0))
        let full = record(valid)
        let cases: [ByteBuffer] = [
            record(valid, count: 13), record(wrongType), record(nullUID), tooLong,
            full.getSlice(at: 0, length: full.readableBytes - 1)!, full.getSlice(at: 0, length: 10)!,
        ]
        for buffer in cases {
            #expect(throws: StudyRecord.Invalid.self) { try decode(buffer) }
        }
        // A length beyond what is left.
        var overlong = ByteBuffer()
        overlong.writeInteger(Int32(14))
        overlong.writeInteger(text)
        overlong.writeInteger(Int32(1000))
        #expect(throws: StudyRecord.Invalid.self) { try decode(overlong) }
    }
}
