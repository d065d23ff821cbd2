import Domain
@testable import Storage
import Testing

/// `GET /v1/studies?patientName=DOE^J*` is a prefix match on `studies.patient_name_lower` (LIKE 'doe^j%').
/// With migration 0009 both catalogs can answer a selective prefix from `studies_patient_name_prefix_idx`
/// instead of reading every study; the page is still the one the filter defines.
@Suite("Studies: patient-name prefix index")
struct StudiesPatientNameIndexTests {
    static let studies = 4000

    /// 4,000 studies, patient names DOE^JOHN0 … DOE^JOHN3999 (each prefix "doe^john3999" matches one).
    static func seed(_ catalog: some SQLCatalog, postgres: Bool) async throws {
        let seed: SQLStatement = postgres
            ? """
              INSERT INTO studies (study_instance_uid, patient_name, patient_name_lower, first_received_at, last_received_at)
              SELECT '1.2.3.' || g, 'DOE^JOHN' || g, 'doe^john' || g, timestamptz '2025-01-01' + g * interval '1 second',
                     timestamptz '2025-01-01' + g * interval '1 second'
              FROM generate_series(0, \(unsafeRaw: "\(studies - 1)")) AS g
              """
            : """
              WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n < \(unsafeRaw: "\(studies - 1)"))
              INSERT INTO studies (study_instance_uid, patient_name, patient_name_lower, first_received_at, last_received_at)
              SELECT '1.2.3.' || n, 'DOE^JOHN' || n, 'doe^john' || n, 1735689600000000 + n * 1000000,
                     1735689600000000 + n * 1000000
              FROM g
              """
        try await catalog.write { session in
            try await session.query(seed)
        }
        try await catalog.write("ANALYZE")
    }

    /// The plan the catalog's own studies query gets for the filter, as text.
    static func plan(_ catalog: some SQLCatalog, postgres: Bool, filter: StudyFilter) async throws -> String {
        let query = try catalog.studiesStatement(filter: filter, page: PageRequest(limit: 50)) + " LIMIT 51"
        return try await catalog.read { session in
            if postgres {
                return try await session.query("EXPLAIN " + query).map { try $0.decode("QUERY PLAN", as: String.self) }
                    .joined(separator: "\n")
            }
            return try await session.query("EXPLAIN QUERY PLAN " + query).map { try $0.decode("detail", as: String.self) }
                .joined(separator: "\n")
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func aSelectivePrefixIsReadFromTheIndex(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let sql = try #require(catalog as? any SQLCatalog)
            try await Self.seed(sql, postgres: kind == .postgres)
            let filter = StudyFilter(patientName: "DOE^JOHN3999*")
            let plan = try await Self.plan(sql, postgres: kind == .postgres, filter: filter)
            #expect(plan.contains("studies_patient_name_prefix_idx"), "\(plan)")

            let page = try await catalog.studies(filter: filter, page: PageRequest(limit: 50))
            #expect(page.items.map(\.studyInstanceUID) == ["1.2.3.3999"])
            let wider = try await catalog.studies(filter: StudyFilter(patientName: "doe^john399*"), page: PageRequest(limit: 50))
            #expect(wider.items.map(\.studyInstanceUID) == (3990...3999).reversed().map { "1.2.3.\($0)" } + ["1.2.3.399"])
        }
    }
}
