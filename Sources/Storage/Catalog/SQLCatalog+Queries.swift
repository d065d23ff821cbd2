import Domain
import Foundation

/// The dashboard's study and series queries over the `studies` and `series` tables.
extension SQLCatalog {
    /// Newest first by `first_received_at`, then study UID descending: a study's first receive time
    /// never changes, so pages stay exact while studies keep receiving instances.
    public func studies(filter: StudyFilter, page: PageRequest) async throws -> Page<StudySummary> {
        return try await keysetPage(try studiesStatement(filter: filter, page: page), limit: page.clampedLimit,
                                    item: StudySummary.init(row:)) { last in
            CatalogCursor(kind: .studies, key: try last.micros("first_received_at"), id: try last.decode("study_instance_uid"))
        }
    }

    /// The query of `studies(filter:page:)` up to its ORDER BY, without the LIMIT: `columns` (of the
    /// `studies` row `s`), filtered and positioned after the page's cursor.
    func studiesStatement(filter: StudyFilter, page: PageRequest, columns: SQLStatement = StudyRow.columns) throws -> SQLStatement {
        var statement: SQLStatement = "SELECT \(columns) FROM studies s WHERE 1 = 1"
        if let v = filter.patientID { statement += " AND s.patient_id = \(v)" }
        if let v = filter.patientName { statement += " AND s.patient_name_lower LIKE \(likePattern(v)) ESCAPE '\\'" }
        if let v = filter.accessionNumber { statement += " AND s.accession_number = \(v)" }
        if let v = filter.studyDateFrom { statement += " AND s.study_date >= \(v)" }
        if let v = filter.studyDateTo { statement += " AND s.study_date <= \(v)" }
        if let v = filter.modality {
            statement += " AND EXISTS (SELECT 1 FROM series x WHERE x.study_instance_uid = s.study_instance_uid AND x.modality = \(v))"
        }
        if let v = filter.listenerID {
            statement += " AND EXISTS (SELECT 1 FROM instances i WHERE i.listener_id = \(v) AND i.study_instance_uid = s.study_instance_uid)"
        }
        if let v = filter.callingAETitle {
            statement += " AND EXISTS (SELECT 1 FROM instances i WHERE i.calling_ae_title = \(v) AND i.study_instance_uid = s.study_instance_uid)"
        }
        // A study matches a received window when its receive span [first, last] overlaps it.
        if let v = filter.receivedFrom { statement += " AND s.last_received_at >= \(v)" }
        if let v = filter.receivedTo { statement += " AND s.first_received_at <= \(v)" }
        if let cursor = try page.cursor.map({ try CatalogCursor.decode($0, kind: .studies) }) {
            statement += " AND (s.first_received_at, s.study_instance_uid) < (\(SQLValue.time(cursor.key)), \(cursor.id))"
        }
        statement += " ORDER BY s.first_received_at DESC, s.study_instance_uid DESC"
        return statement
    }

    public func study(uid: String) async throws -> StudySummary? {
        try await read { session in
            try await session.query("SELECT \(StudyRow.columns) FROM studies s WHERE s.study_instance_uid = \(uid)")
                .first.map(StudySummary.init(row:))
        }
    }

    /// Every series of one study, by series number (absent last), then series UID.
    public func series(studyInstanceUID: String) async throws -> [SeriesSummary] {
        try await read { session in
            try await session.query("""
                SELECT series_instance_uid, study_instance_uid, modality, series_number, series_description,
                    instance_count, total_bytes
                FROM series WHERE study_instance_uid = \(studyInstanceUID)
                ORDER BY CASE WHEN series_number IS NULL THEN 1 ELSE 0 END, series_number, series_instance_uid
                """).map(SeriesSummary.init(row:))
        }
    }
}

/// The patient name as `studies.patient_name_lower` holds it and a search compares with it: Swift's
/// `lowercased()`, on both dialects, because the database's `lower()` follows its locale (İ, Σ).
func patientNameLower(_ name: String) -> String {
    name.lowercased()
}

/// A DICOM-style patient-name pattern (`*` any run, `?` one character) as a LIKE pattern on
/// `patient_name_lower`, with `\` escapes.
func likePattern(_ pattern: String) -> String {
    var out = ""
    for c in patientNameLower(pattern) {
        switch c {
        case "*": out.append("%")
        case "?": out.append("_")
        case "%", "_", "\\": out.append("\\"); out.append(c)
        default: out.append(c)
        }
    }
    return out
}

/// How a row of `studies` maps to a `StudySummary`.
enum StudyRow {
    /// Qualified with `s.` so the filters' subqueries can name the outer study; each column keeps its
    /// own name in the result.
    static let columns = SQLStatement(unsafeSQL: """
        s.study_instance_uid AS study_instance_uid, s.patient_id AS patient_id, s.patient_name AS patient_name,
        s.patient_birth_date AS patient_birth_date, s.study_date AS study_date, s.study_time AS study_time,
        s.study_description AS study_description, s.accession_number AS accession_number, s.modalities AS modalities,
        s.series_count AS series_count, s.instance_count AS instance_count, s.total_bytes AS total_bytes,
        s.first_received_at AS first_received_at, s.last_received_at AS last_received_at
        """)
}

extension StudySummary {
    init(row: SQLRow) throws {
        let modalities = try row.decode("modalities", as: String.self)
        self.init(
            studyInstanceUID: try row.decode("study_instance_uid"), patientID: try row.decode("patient_id"),
            patientName: try row.decode("patient_name"), patientBirthDate: try row.decode("patient_birth_date"),
            studyDate: try row.decode("study_date"), studyTime: try row.decode("study_time"),
            studyDescription: try row.decode("study_description"), accessionNumber: try row.decode("accession_number"),
            modalities: modalities.isEmpty ? [] : modalities.split(separator: "\\").map(String.init),
            seriesCount: try row.decode("series_count"), instanceCount: try row.decode("instance_count"),
            totalBytes: try row.decode("total_bytes"), firstReceivedAt: try row.decode("first_received_at"),
            lastReceivedAt: try row.decode("last_received_at"))
    }
}

extension SeriesSummary {
    init(row: SQLRow) throws {
        self.init(
            seriesInstanceUID: try row.decode("series_instance_uid"), studyInstanceUID: try row.decode("study_instance_uid"),
            modality: try row.decode("modality"), seriesNumber: try row.decode("series_number"),
            seriesDescription: try row.decode("series_description"), instanceCount: try row.decode("instance_count"),
            totalBytes: try row.decode("total_bytes"))
    }
}
