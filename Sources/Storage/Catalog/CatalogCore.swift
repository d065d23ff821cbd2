import Domain
import Foundation
import Logging
import PostgresNIO

/// The catalog logic both dialects share: the SQL is written once with `?` placeholders, and only the
/// few places where PostgreSQL and SQLite differ ask `dialect`.
///
/// Sort keys (keyset pagination; each key is unique and never changes for a row):
/// - studies: `first_received_at` descending, then `study_instance_uid` descending. `first_received_at`
///   is set when the study row is created and never updated, unlike `last_received_at`, which moves
///   whenever the study gets an instance and would make a page skip or repeat studies.
/// - instances of a series: instance number ascending (absent last), then SOP Instance UID ascending.
/// - associations: `started_at` descending, then `id` descending.
struct CatalogCore: Sendable {
    let database: any CatalogDatabase
    let logger: Logger

    var dialect: SQLDialect { database.dialect }

    // MARK: Listeners

    static let listenerColumns = """
        id, name, enabled, port, bind_address, ae_title, require_called_ae_title, allowed_calling_ae_titles,
        allowed_peers, tls, storage, limits, state, error, created_at, updated_at, allowed_sop_classes
        """

    func listListeners() async throws -> [ListenerConfig] {
        try await read { session in
            try await session.query("SELECT \(Self.listenerColumns) FROM listeners ORDER BY name, id", [])
                .map(Self.decodeListener)
        }
    }

    func listener(id: UUID) async throws -> ListenerConfig? {
        try await read { session in
            try await session.query("SELECT \(Self.listenerColumns) FROM listeners WHERE id = ?", [.uuid(id)])
                .first.map(Self.decodeListener)
        }
    }

    func createListener(_ listener: ListenerConfig) async throws {
        let values = try Self.listenerValues(listener)
        _ = try await write { session in
            try await session.query(
                "INSERT INTO listeners (\(Self.listenerColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                values)
        }
    }

    func updateListener(_ listener: ListenerConfig) async throws {
        let values = try Self.listenerValues(listener)
        // Every field but id (0) and created_at (14).
        let binds = Array(values[1..<14]) + [values[15], values[16], values[0]]
        let updated = try await write { session in
            try await session.query("""
                UPDATE listeners SET name = ?, enabled = ?, port = ?, bind_address = ?, ae_title = ?,
                    require_called_ae_title = ?, allowed_calling_ae_titles = ?, allowed_peers = ?, tls = ?,
                    storage = ?, limits = ?, state = ?, error = ?, updated_at = ?, allowed_sop_classes = ?
                WHERE id = ? RETURNING id
                """, binds).count
        }
        guard updated == 1 else { throw CatalogError(.notFound, detail: "no listener with this id") }
    }

    func deleteListener(id: UUID) async throws {
        let deleted = try await write { session in
            try await session.query("DELETE FROM listeners WHERE id = ? RETURNING id", [.uuid(id)]).count
        }
        guard deleted == 1 else { throw CatalogError(.notFound, detail: "no listener with this id") }
    }

    func setListenerState(id: UUID, state: ListenerState, error: String?) async throws {
        let updated = try await write { session in
            try await session.query(
                "UPDATE listeners SET state = ?, error = ? WHERE id = ? RETURNING id",
                [.text(state.rawValue), .text(error), .uuid(id)]).count
        }
        guard updated == 1 else { throw CatalogError(.notFound, detail: "no listener with this id") }
    }

    static func listenerValues(_ l: ListenerConfig) throws -> [SQLValue] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func json<T: Encodable>(_ value: T) throws -> SQLValue {
            .text(String(decoding: try encoder.encode(value), as: UTF8.self))
        }
        return [
            .uuid(l.id), .text(l.name), .bool(l.enabled), .int(l.port), .text(l.bindAddress), .text(l.aeTitle),
            .bool(l.requireCalledAETitle), try json(l.allowedCallingAETitles), try json(l.allowedPeers),
            try l.tls.map(json) ?? .null, try json(l.storage), try json(l.limits), .text(l.state.rawValue),
            .text(l.error), .date(l.createdAt), .date(l.updatedAt), try json(l.allowedSOPClasses),
        ]
    }

    static func decodeListener(_ row: SQLRow) throws -> ListenerConfig {
        let decoder = JSONDecoder()
        func json<T: Decodable>(_ type: T.Type, _ index: Int) throws -> T {
            try decoder.decode(type, from: Data(try row.string(index).utf8))
        }
        return ListenerConfig(
            id: try row.uuid(0), name: try row.string(1), enabled: try row.bool(2), port: try row.int(3),
            bindAddress: try row.string(4), aeTitle: try row.string(5), requireCalledAETitle: try row.bool(6),
            allowedCallingAETitles: try json([String].self, 7), allowedPeers: try json([String].self, 8),
            allowedSOPClasses: try json([String].self, 16),
            tls: row.optionalString(9) == nil ? nil : try json(TLSSettings.self, 9),
            storage: try json(StorageTarget.self, 10), limits: try json(ListenerLimits.self, 11),
            state: ListenerState(rawValue: try row.string(12)) ?? .stopped, error: row.optionalString(13),
            createdAt: try row.date(14), updatedAt: try row.date(15))
    }

    // MARK: Associations

    static let associationColumns = """
        id, listener_id, calling_ae_title, called_ae_title, peer_address, started_at, ended_at, outcome,
        reject_reason, instances_received, instances_failed, bytes_received, attempts
        """

    func startAssociation(_ a: AssociationRecord) async throws {
        _ = try await write { session in
            try await session.query("""
                INSERT INTO associations (\(Self.associationColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, [
                    .uuid(a.id), .uuid(a.listenerId), .text(a.callingAETitle), .text(a.calledAETitle),
                    .text(a.peerAddress), .date(a.startedAt), .date(a.endedAt), .text(a.outcome.rawValue),
                    .text(a.rejectReason), .int(a.instancesReceived), .int(a.instancesFailed), .int(a.bytesReceived),
                    .int(a.attempts),
                ])
        }
    }

    func endAssociation(id: UUID, outcome: AssociationOutcome, endedAt: Date) async throws {
        let updated = try await write { session in
            try await session.query(
                "UPDATE associations SET outcome = ?, ended_at = ? WHERE id = ? RETURNING id",
                [.text(outcome.rawValue), .date(endedAt), .uuid(id)]).count
        }
        guard updated == 1 else { throw CatalogError(.notFound, detail: "no association with this id") }
    }

    func recordFailure(associationId: UUID) async throws {
        let updated = try await write { session in
            try await session.query(
                "UPDATE associations SET instances_failed = instances_failed + 1 WHERE id = ? RETURNING id",
                [.uuid(associationId)]).count
        }
        guard updated == 1 else { throw CatalogError(.notFound, detail: "no association with this id") }
    }

    static func decodeAssociation(_ row: SQLRow) throws -> AssociationRecord {
        AssociationRecord(
            id: try row.uuid(0), listenerId: try row.uuid(1), callingAETitle: try row.string(2),
            calledAETitle: try row.string(3), peerAddress: try row.string(4), startedAt: try row.date(5),
            endedAt: row.optionalDate(6), outcome: AssociationOutcome(rawValue: try row.string(7)) ?? .aborted,
            rejectReason: row.optionalString(8), instancesReceived: try row.int(9), instancesFailed: try row.int(10),
            bytesReceived: try row.int64(11), attempts: try row.int(12))
    }

    func addRejectedAttempts(associationId: UUID, count: Int) async throws {
        let updated = try await write { session in
            try await session.query(
                "UPDATE associations SET attempts = attempts + ? WHERE id = ? RETURNING id",
                [.int(count), .uuid(associationId)]).count
        }
        guard updated == 1 else { throw CatalogError(.notFound, detail: "no association with this id") }
    }

    func associations(listenerId: UUID?, page: PageRequest) async throws -> Page<AssociationRecord> {
        let limit = page.clampedLimit
        var q = SQLBuilder("SELECT \(Self.associationColumns), started_at FROM associations WHERE 1 = 1")
        if let listenerId { q.append(" AND listener_id = ?", .uuid(listenerId)) }
        if let cursor = try page.cursor.map({ try CatalogCursor.decode($0, kind: .associations) }) {
            guard let id = UUID(uuidString: cursor.id) else {
                throw CatalogError(.invalidCursor, detail: "cursor does not parse")
            }
            q.append(" AND (started_at, id) < (?, ?)", .time(cursor.key), .uuid(id))
        }
        q.append(" ORDER BY started_at DESC, id DESC LIMIT ?", .int(limit + 1))
        let (sql, binds) = (q.sql, q.binds)
        let rows = try await read { session in try await session.query(sql, binds) }
        let items = try rows.prefix(limit).map(Self.decodeAssociation)
        var next: String?
        if rows.count > limit, let last = rows.prefix(limit).last {
            next = CatalogCursor(kind: .associations, key: try last.micros(13), id: try last.uuid(0).uuidString).encoded()
        }
        return Page(items: items, nextCursor: next)
    }

    // MARK: Instances

    static let instanceColumns = """
        sop_instance_uid, sop_class_uid, series_instance_uid, study_instance_uid, instance_number,
        transfer_syntax_uid, size_bytes, stored_bytes, object_uri, metadata_uri, sha256, listener_id,
        association_id, calling_ae_title, called_ae_title, peer_address, received_at, last_received_at,
        receive_count, patient_id, patient_name, patient_birth_date, patient_sex, study_date, study_time,
        study_description, accession_number, series_number, series_description, modality, number_of_frames,
        storage_state, stored_at, spool_id
        """

    /// Columns a repeat replaces (everything but the UID, `received_at`, `last_received_at`, `receive_count`).
    static let replacedInstanceColumns = [
        "sop_class_uid", "series_instance_uid", "study_instance_uid", "instance_number", "transfer_syntax_uid",
        "size_bytes", "stored_bytes", "object_uri", "metadata_uri", "sha256", "listener_id", "association_id",
        "calling_ae_title", "called_ae_title", "peer_address", "patient_id", "patient_name", "patient_birth_date",
        "patient_sex", "study_date", "study_time", "study_description", "accession_number", "series_number",
        "series_description", "modality", "number_of_frames", "storage_state", "stored_at", "spool_id",
    ]

    static func replacedInstanceValues(_ r: InstanceRecord) -> [SQLValue] {
        [
            .text(r.sopClassUID), .text(r.seriesInstanceUID), .text(r.studyInstanceUID), .int(r.instanceNumber),
            .text(r.transferSyntaxUID), .int(r.sizeBytes), .int(r.storedBytes), .text(r.objectUri),
            .text(r.metadataUri), .text(r.sha256), .uuid(r.listenerId), .uuid(r.associationId),
            .text(r.callingAETitle), .text(r.calledAETitle), .text(r.peerAddress), .text(r.patientId),
            .text(r.patientName), .text(r.patientBirthDate), .text(r.patientSex), .text(r.studyDate),
            .text(r.studyTime), .text(r.studyDescription), .text(r.accessionNumber), .int(r.seriesNumber),
            .text(r.seriesDescription), .text(r.modality), .int(r.numberOfFrames),
            .text(r.storageState.rawValue), .date(r.storedAt), .text(r.spoolId),
        ]
    }

    static func decodeInstance(_ row: SQLRow) throws -> InstanceRecord {
        InstanceRecord(
            sopInstanceUID: try row.string(0), sopClassUID: try row.string(1), seriesInstanceUID: try row.string(2),
            studyInstanceUID: try row.string(3), instanceNumber: row.optionalInt(4), transferSyntaxUID: try row.string(5),
            sizeBytes: try row.int64(6), storedBytes: try row.int64(7), objectUri: try row.string(8),
            metadataUri: row.optionalString(9), sha256: try row.string(10), listenerId: try row.uuid(11),
            associationId: try row.uuid(12), callingAETitle: try row.string(13), calledAETitle: try row.string(14),
            peerAddress: try row.string(15), receivedAt: try row.date(16), lastReceivedAt: try row.date(17),
            receiveCount: try row.int(18), patientId: row.optionalString(19), patientName: row.optionalString(20),
            patientBirthDate: row.optionalString(21), patientSex: row.optionalString(22),
            studyDate: row.optionalString(23), studyTime: row.optionalString(24),
            studyDescription: row.optionalString(25), accessionNumber: row.optionalString(26),
            seriesNumber: row.optionalInt(27), seriesDescription: row.optionalString(28),
            modality: row.optionalString(29), numberOfFrames: row.optionalInt(30),
            storageState: StorageState(rawValue: try row.string(31)) ?? .stored, storedAt: row.optionalDate(32), spoolId: row.optionalString(33))
    }

    /// Upsert by SOP Instance UID plus the aggregates, in one transaction.
    ///
    /// The insert is `ON CONFLICT DO NOTHING`: of two concurrent first receives one inserts, the other
    /// waits for it (PostgreSQL) and then takes the repeat path, which locks the row before reading the
    /// values it replaces, so the aggregate deltas are always computed against the committed row.
    ///
    /// A repeat from another listener is refused inside the same transaction (the row stays as it was):
    /// the duplicate policy is per listener, and a row is never re-pointed to another listener's target.
    func recordInstance(_ sent: InstanceRecord) async throws -> InstanceRecord {
        let record: InstanceRecord
        do {
            record = try sent.catalogNormalised()
        } catch let error as CatalogValueError {
            throw CatalogError(.invalidValue, field: error.field, detail: error.description)
        }
        let receivedAt = max(record.receivedAt, record.lastReceivedAt)
        let replaced = Self.replacedInstanceValues(record)
        let insertSQL = """
            INSERT INTO instances (\(Self.replacedInstanceColumns.joined(separator: ", ")), sop_instance_uid,
                received_at, last_received_at, receive_count)
            VALUES (\(Array(repeating: "?", count: replaced.count + 4).joined(separator: ", ")))
            ON CONFLICT (sop_instance_uid) DO NOTHING
            RETURNING \(Self.instanceColumns)
            """
        let insertBinds = replaced + [.text(record.sopInstanceUID), .date(record.receivedAt), .date(receivedAt), .int(1)]
        let updateSQL = """
            UPDATE instances SET \(Self.replacedInstanceColumns.map { "\($0) = ?" }.joined(separator: ", ")),
                last_received_at = CASE WHEN last_received_at > ? THEN last_received_at ELSE ? END,
                receive_count = receive_count + 1
            WHERE sop_instance_uid = ?
            RETURNING \(Self.instanceColumns)
            """
        let updateBinds = replaced + [.date(receivedAt), .date(receivedAt), .text(record.sopInstanceUID)]
        let lockSuffix = dialect == .postgres ? " FOR UPDATE" : ""

        let associationSQL =
            "UPDATE associations SET instances_received = instances_received + 1, bytes_received = bytes_received + ? WHERE id = ?"
        let associationBinds: [SQLValue] = [.int(record.sizeBytes), .uuid(record.associationId)]
        let postgres = dialect == .postgres
        // PostgreSQL: the association counter rides on the insert (a data-modifying WITH), one round trip less.
        let firstSQL = postgres ? "WITH counted AS (\(associationSQL)) \(insertSQL)" : insertSQL
        let firstBinds = postgres ? associationBinds + insertBinds : insertBinds

        return try await write { session in
            let stored: InstanceRecord
            var previous: (series: String, study: String, size: Int64)?
            if let row = try await session.query(firstSQL, firstBinds).first {
                stored = try Self.decodeInstance(row)
            } else {
                guard let old = try await session.query(
                    "SELECT series_instance_uid, study_instance_uid, size_bytes, listener_id FROM instances WHERE sop_instance_uid = ?\(lockSuffix)",
                    [.text(record.sopInstanceUID)]).first
                else {
                    // Deleted between the two statements: nothing in this catalog deletes instances.
                    throw CatalogError(.unavailable, detail: "instance row vanished during upsert; retry")
                }
                guard try old.uuid(3) == record.listenerId else {
                    throw CatalogError(.conflict, field: "listenerId", detail: "SOP Instance UID is held by another listener")
                }
                previous = (try old.string(0), try old.string(1), try old.int64(2))
                guard let row = try await session.query(updateSQL, updateBinds).first else {
                    throw CatalogError(.unavailable, detail: "instance row vanished during upsert; retry")
                }
                stored = try Self.decodeInstance(row)
            }
            try await updateAggregates(stored: stored, previous: previous, session: session)
            if !postgres {
                try await session.query(associationSQL, associationBinds)
            }
            return stored
        }
    }

    private func updateAggregates(
        stored: InstanceRecord, previous: (series: String, study: String, size: Int64)?, session: any SQLSession
    ) async throws {
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
                try await session.query(
                    "UPDATE series SET instance_count = instance_count - 1, total_bytes = total_bytes - ? WHERE series_instance_uid = ?",
                    [.int(previous.size), .text(previous.series)])
                try await session.query(
                    "DELETE FROM series WHERE series_instance_uid = ? AND instance_count <= 0", [.text(previous.series)])
            }
            if previous.study == stored.studyInstanceUID {
                studyCount = 0
                studyBytes = stored.sizeBytes - previous.size
            } else {
                try await session.query(
                    "UPDATE studies SET instance_count = instance_count - 1, total_bytes = total_bytes - ? WHERE study_instance_uid = ?",
                    [.int(previous.size), .text(previous.study)])
                try await session.query(
                    "DELETE FROM studies WHERE study_instance_uid = ? AND instance_count <= 0", [.text(previous.study)])
            }
            if previous.series != stored.seriesInstanceUID || previous.study != stored.studyInstanceUID {
                recomputeStudies.append(previous.study)
            }
        }

        // Creating a series, or a modality change, alters the study's series count or modalities; they
        // are recomputed below for every study touched (a study has few series, so this is cheap).
        let seriesSQL = """
            INSERT INTO series (series_instance_uid, study_instance_uid, modality, series_number, series_description,
                instance_count, total_bytes, first_received_at, last_received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
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
        let seriesBinds: [SQLValue] = [
                .text(stored.seriesInstanceUID), .text(stored.studyInstanceUID), .text(stored.modality),
                .int(stored.seriesNumber), .text(stored.seriesDescription), .int(seriesCount), .int(seriesBytes),
                .date(stored.receivedAt), .date(stored.lastReceivedAt),
            ]
        let studySQL = """
            INSERT INTO studies (study_instance_uid, patient_id, patient_name, patient_name_lower, patient_birth_date,
                study_date, study_time, study_description, accession_number, instance_count, total_bytes,
                first_received_at, last_received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
        let studyBinds: [SQLValue] = [
                .text(stored.studyInstanceUID), .text(stored.patientId), .text(stored.patientName),
                .text(stored.patientName?.lowercased()), .text(stored.patientBirthDate), .text(stored.studyDate),
                .text(stored.studyTime), .text(stored.studyDescription), .text(stored.accessionNumber),
                .int(studyCount), .int(studyBytes), .date(stored.receivedAt), .date(stored.lastReceivedAt),
            ]
        if dialect == .postgres {
            // One round trip instead of two: a data-modifying WITH runs exactly once. Locks are taken in
            // the same order as before (series row, then study row).
            try await session.query("WITH series_upsert AS (\(seriesSQL)) \(studySQL)", seriesBinds + studyBinds)
        } else {
            try await session.query(seriesSQL, seriesBinds)
            try await session.query(studySQL, studyBinds)
        }

        let modalities = dialect == .postgres
            ? "SELECT COALESCE(string_agg(DISTINCT modality, '\\' ORDER BY modality), '') FROM series WHERE study_instance_uid = ? AND modality IS NOT NULL"
            : "SELECT COALESCE(group_concat(modality, '\\'), '') FROM (SELECT DISTINCT modality FROM series WHERE study_instance_uid = ? AND modality IS NOT NULL ORDER BY modality)"
        for study in recomputeStudies {
            try await session.query("""
                UPDATE studies SET
                    series_count = (SELECT count(*) FROM series WHERE study_instance_uid = ?),
                    modalities = (\(modalities))
                WHERE study_instance_uid = ?
                """, [.text(study), .text(study), .text(study)])
        }
    }

    func instance(sopInstanceUID: String) async throws -> InstanceRecord? {
        try await read { session in
            try await session.query("SELECT \(Self.instanceColumns) FROM instances WHERE sop_instance_uid = ?",
                                    [.text(sopInstanceUID)]).first.map(Self.decodeInstance)
        }
    }

    /// Must match the expression of `instances_series_number_idx`.
    static let instanceOrderKey = "COALESCE(instance_number, 9223372036854775807)"

    func instances(seriesInstanceUID: String, page: PageRequest) async throws -> Page<InstanceRecord> {
        let limit = page.clampedLimit
        var q = SQLBuilder("SELECT \(Self.instanceColumns), \(Self.instanceOrderKey) FROM instances WHERE series_instance_uid = ?",
                           .text(seriesInstanceUID))
        if let cursor = try page.cursor.map({ try CatalogCursor.decode($0, kind: .instances) }) {
            q.append(" AND (\(Self.instanceOrderKey), sop_instance_uid) > (?, ?)", .int(cursor.key), .text(cursor.id))
        }
        q.append(" ORDER BY \(Self.instanceOrderKey), sop_instance_uid LIMIT ?", .int(limit + 1))
        let (sql, binds) = (q.sql, q.binds)
        let rows = try await read { session in try await session.query(sql, binds) }
        let items = try rows.prefix(limit).map(Self.decodeInstance)
        var next: String?
        if rows.count > limit, let last = rows.prefix(limit).last {
            next = CatalogCursor(kind: .instances, key: try last.int64(34), id: try last.string(0)).encoded()
        }
        return Page(items: items, nextCursor: next)
    }

    // MARK: Studies and series

    static let studyColumns = """
        s.study_instance_uid, s.patient_id, s.patient_name, s.patient_birth_date, s.study_date, s.study_time,
        s.study_description, s.accession_number, s.modalities, s.series_count, s.instance_count, s.total_bytes,
        s.first_received_at, s.last_received_at
        """

    static func decodeStudy(_ row: SQLRow) throws -> StudySummary {
        let modalities = try row.string(8)
        return StudySummary(
            studyInstanceUID: try row.string(0), patientId: row.optionalString(1), patientName: row.optionalString(2),
            patientBirthDate: row.optionalString(3), studyDate: row.optionalString(4), studyTime: row.optionalString(5),
            studyDescription: row.optionalString(6), accessionNumber: row.optionalString(7),
            modalities: modalities.isEmpty ? [] : modalities.split(separator: "\\").map(String.init),
            seriesCount: try row.int(9), instanceCount: try row.int(10), totalBytes: try row.int64(11),
            firstReceivedAt: try row.date(12), lastReceivedAt: try row.date(13))
    }

    /// A DICOM-style pattern (`*` any run, `?` one character) as a lowercase LIKE pattern with `\` escapes.
    static func likePattern(_ pattern: String) -> String {
        var out = ""
        for c in pattern.lowercased() {
            switch c {
            case "*": out.append("%")
            case "?": out.append("_")
            case "%", "_", "\\": out.append("\\"); out.append(c)
            default: out.append(c)
            }
        }
        return out
    }

    func studies(filter: StudyFilter, page: PageRequest) async throws -> Page<StudySummary> {
        let limit = page.clampedLimit
        var q = SQLBuilder("SELECT \(Self.studyColumns) FROM studies s WHERE 1 = 1")
        if let v = filter.patientId { q.append(" AND s.patient_id = ?", .text(v)) }
        if let v = filter.patientName { q.append(" AND s.patient_name_lower LIKE ? ESCAPE '\\'", .text(Self.likePattern(v))) }
        if let v = filter.accessionNumber { q.append(" AND s.accession_number = ?", .text(v)) }
        if let v = filter.studyDateFrom { q.append(" AND s.study_date >= ?", .text(v)) }
        if let v = filter.studyDateTo { q.append(" AND s.study_date <= ?", .text(v)) }
        if let v = filter.modality {
            q.append(" AND EXISTS (SELECT 1 FROM series x WHERE x.study_instance_uid = s.study_instance_uid AND x.modality = ?)", .text(v))
        }
        if let v = filter.listenerId {
            q.append(" AND EXISTS (SELECT 1 FROM instances i WHERE i.listener_id = ? AND i.study_instance_uid = s.study_instance_uid)", .uuid(v))
        }
        if let v = filter.callingAETitle {
            q.append(" AND EXISTS (SELECT 1 FROM instances i WHERE i.calling_ae_title = ? AND i.study_instance_uid = s.study_instance_uid)", .text(v))
        }
        // A study matches a received window when its receive span [first, last] overlaps it.
        if let v = filter.receivedFrom { q.append(" AND s.last_received_at >= ?", .date(v)) }
        if let v = filter.receivedTo { q.append(" AND s.first_received_at <= ?", .date(v)) }
        if let cursor = try page.cursor.map({ try CatalogCursor.decode($0, kind: .studies) }) {
            q.append(" AND (s.first_received_at, s.study_instance_uid) < (?, ?)", .time(cursor.key), .text(cursor.id))
        }
        q.append(" ORDER BY s.first_received_at DESC, s.study_instance_uid DESC LIMIT ?", .int(limit + 1))
        let (sql, binds) = (q.sql, q.binds)
        let rows = try await read { session in try await session.query(sql, binds) }
        let items = try rows.prefix(limit).map(Self.decodeStudy)
        var next: String?
        if rows.count > limit, let last = rows.prefix(limit).last {
            next = CatalogCursor(kind: .studies, key: try last.micros(12), id: try last.string(0)).encoded()
        }
        return Page(items: items, nextCursor: next)
    }

    func study(uid: String) async throws -> StudySummary? {
        try await read { session in
            try await session.query("SELECT \(Self.studyColumns) FROM studies s WHERE s.study_instance_uid = ?", [.text(uid)])
                .first.map(Self.decodeStudy)
        }
    }

    func series(studyInstanceUID: String) async throws -> [SeriesSummary] {
        try await read { session in
            try await session.query("""
                SELECT series_instance_uid, study_instance_uid, modality, series_number, series_description,
                    instance_count, total_bytes
                FROM series WHERE study_instance_uid = ?
                ORDER BY CASE WHEN series_number IS NULL THEN 1 ELSE 0 END, series_number, series_instance_uid
                """, [.text(studyInstanceUID)]).map { row in
                SeriesSummary(
                    seriesInstanceUID: try row.string(0), studyInstanceUID: try row.string(1),
                    modality: row.optionalString(2), seriesNumber: row.optionalInt(3),
                    seriesDescription: row.optionalString(4), instanceCount: try row.int(5), totalBytes: try row.int64(6))
            }
        }
    }

    // MARK: Stats

    func stats() async throws -> CatalogStats {
        let day = dialect == .postgres
            ? "to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
            : "strftime('%Y-%m-%d', received_at / 1000000, 'unixepoch')"
        return try await read { session in
            let totals = try await session.query("""
                SELECT (SELECT count(*) FROM instances), (SELECT CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) FROM instances),
                    (SELECT count(*) FROM studies), (SELECT count(*) FROM series)
                """, [])
            guard let t = totals.first else { throw SQLDecodingError(column: 0) }
            let byListener = try await session.query("""
                SELECT listener_id, count(*), CAST(SUM(size_bytes) AS BIGINT) FROM instances
                GROUP BY listener_id ORDER BY listener_id
                """, []).map { row in
                CatalogStats.ByListener(listenerId: try row.uuid(0), instances: try row.int(1), bytes: try row.int64(2))
            }
            let byDay = try await session.query("""
                SELECT \(day) AS day, count(*), CAST(SUM(size_bytes) AS BIGINT) FROM instances
                GROUP BY day ORDER BY day
                """, []).map { row in
                CatalogStats.ByDay(date: try row.string(0), instances: try row.int(1), bytes: try row.int64(2))
            }
            return CatalogStats(instances: try t.int(0), studies: try t.int(2), series: try t.int(3), bytes: try t.int64(1),
                                byListener: byListener, byDay: byDay, spool: try await Self.spoolFigures(in: session))
        }
    }

    func ping() async throws {
        try await read { session in
            _ = try await session.query("SELECT 1", [])
        }
    }

    // MARK: Error mapping

    /// Runs a write and turns driver errors into `CatalogError`s that carry no row data.
    private func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        do {
            return try await database.write(body)
        } catch {
            throw mapped(error)
        }
    }

    private func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        do {
            return try await database.read(body)
        } catch {
            throw mapped(error)
        }
    }

    /// A summary of a driver error that carries no row data.
    static func safeSummary(_ error: any Error) -> String {
        if let error = error as? PSQLError {
            return "\(error.code) sqlState=\(error.serverInfo?[.sqlState] ?? "-")"
        }
        return "\(error)"
    }

    private func mapped(_ error: any Error) -> any Error {
        switch error {
        case let error as CatalogError:
            return error
        case let error as SQLUniqueViolation:
            let field = error.constraint.contains("port") ? "port" : error.constraint.contains("name") ? "name" : "id"
            return CatalogError(.conflict, field: field, detail: "\(field) is already taken")
        case let error as SQLPermanentError:
            logger.warning("catalog refused a value", metadata: ["error": "\(error.kind)"])
            return CatalogError(.invalidValue, detail: "the database refused a value (\(error.kind))")
        case is CancellationError:
            return error
        default:
            // Driver errors may quote values from the statement (PHI): log their kind only.
            logger.warning("catalog operation failed", metadata: ["error": "\(String(describing: type(of: error))): \(Self.safeSummary(error))"])
            return CatalogError(.unavailable, detail: "catalog database operation failed")
        }
    }
}
