import Domain
import Foundation

/// The `series` and `studies` tables as the instance upsert keeps them on SQLite: counts, byte totals,
/// receive span, the patient and study fields of the latest instance that has them, and per study the
/// number of series and the distinct modalities. (PostgreSQL runs the same steps inside
/// `dicom_ingest_record_instance`, migration 10.)
extension SQLCatalog {
    /// Adds `stored` to its series and study, inside the upsert's transaction. On a repeat (`previous`
    /// set) the old row's size leaves its old series and study first; a series or study left empty is
    /// deleted.
    func updateAggregates(stored: InstanceRecord, previous: PreviousInstance?, session: any SQLSession) async throws {
        var seriesCount: Int64 = 1
        var seriesBytes = stored.sizeBytes
        var studyCount: Int64 = 1
        var studyBytes = stored.sizeBytes
        var recomputeStudies = [stored.studyInstanceUID]
        if let previous {
            if previous.series == stored.seriesInstanceUID {
                seriesCount = 0
                seriesBytes = stored.sizeBytes - previous.size
            } else {
                try await remove(size: previous.size, from: .series, uid: previous.series, session: session)
            }
            if previous.study == stored.studyInstanceUID {
                studyCount = 0
                studyBytes = stored.sizeBytes - previous.size
            } else {
                try await remove(size: previous.size, from: .studies, uid: previous.study, session: session)
            }
            if previous.series != stored.seriesInstanceUID || previous.study != stored.studyInstanceUID {
                recomputeStudies.append(previous.study)
            }
        }

        // Creating a series, or a modality change, alters the study's series count or modalities; they
        // are recomputed below for every study touched (a study has few series, so this is cheap).
        let series: SQLStatement = """
            INSERT INTO series (series_instance_uid, study_instance_uid, modality, series_number, series_description,
                instance_count, total_bytes, first_received_at, last_received_at)
            VALUES (\(stored.seriesInstanceUID), \(stored.studyInstanceUID), \(stored.modality), \(stored.seriesNumber),
                \(stored.seriesDescription), \(seriesCount), \(seriesBytes), \(stored.receivedAt), \(stored.lastReceivedAt))
            ON CONFLICT (series_instance_uid) DO UPDATE SET
                study_instance_uid = excluded.study_instance_uid,
                modality = COALESCE(excluded.modality, series.modality),
                series_number = COALESCE(excluded.series_number, series.series_number),
                series_description = COALESCE(excluded.series_description, series.series_description),
                instance_count = series.instance_count + excluded.instance_count,
                total_bytes = series.total_bytes + excluded.total_bytes,
                last_received_at = CASE WHEN excluded.last_received_at > series.last_received_at
                    THEN excluded.last_received_at ELSE series.last_received_at END
            """
        let study: SQLStatement = """
            INSERT INTO studies (study_instance_uid, patient_id, patient_name, patient_name_lower, patient_birth_date,
                study_date, study_time, study_description, accession_number, instance_count, total_bytes,
                first_received_at, last_received_at)
            VALUES (\(stored.studyInstanceUID), \(stored.patientID), \(stored.patientName), \(stored.patientName.map(patientNameLower)),
                \(stored.patientBirthDate), \(stored.studyDate), \(stored.studyTime), \(stored.studyDescription),
                \(stored.accessionNumber), \(studyCount), \(studyBytes), \(stored.receivedAt), \(stored.lastReceivedAt))
            ON CONFLICT (study_instance_uid) DO UPDATE SET
                patient_id = COALESCE(excluded.patient_id, studies.patient_id),
                patient_name = COALESCE(excluded.patient_name, studies.patient_name),
                patient_name_lower = COALESCE(excluded.patient_name_lower, studies.patient_name_lower),
                patient_birth_date = COALESCE(excluded.patient_birth_date, studies.patient_birth_date),
                study_date = COALESCE(excluded.study_date, studies.study_date),
                study_time = COALESCE(excluded.study_time, studies.study_time),
                study_description = COALESCE(excluded.study_description, studies.study_description),
                accession_number = COALESCE(excluded.accession_number, studies.accession_number),
                instance_count = studies.instance_count + excluded.instance_count,
                total_bytes = studies.total_bytes + excluded.total_bytes,
                last_received_at = CASE WHEN excluded.last_received_at > studies.last_received_at
                    THEN excluded.last_received_at ELSE studies.last_received_at END
            """
        try await session.query(series)
        try await session.query(study)

        for uid in recomputeStudies {
            try await session.query("""
                UPDATE studies SET
                    series_count = (SELECT count(*) FROM series WHERE study_instance_uid = \(uid)),
                    modalities = (SELECT COALESCE(group_concat(modality, '\\'), '') FROM (SELECT DISTINCT modality
                        FROM series WHERE study_instance_uid = \(uid) AND modality IS NOT NULL ORDER BY modality))
                WHERE study_instance_uid = \(uid)
                """)
        }
    }

    /// Takes one instance of `size` bytes out of a series or study row, and deletes the row when that
    /// was its last instance.
    private func remove(size: Int64, from aggregate: Aggregate, uid: String, session: any SQLSession) async throws {
        try await session.query("""
            UPDATE \(unsafeRaw: aggregate.rawValue) SET instance_count = instance_count - 1, total_bytes = total_bytes - \(size)
            WHERE \(unsafeRaw: aggregate.key) = \(uid)
            """)
        try await session.query("""
            DELETE FROM \(unsafeRaw: aggregate.rawValue) WHERE \(unsafeRaw: aggregate.key) = \(uid) AND instance_count <= 0
            """)
    }
}

/// A table of per-instance totals, named as in SQL, with its key column.
enum Aggregate: String {
    case series
    case studies

    var key: String {
        switch self {
        case .series: "series_instance_uid"
        case .studies: "study_instance_uid"
        }
    }
}
