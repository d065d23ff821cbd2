import Domain
import Foundation
import PostgresNIO

/// The `instances` table: one row per SOP Instance UID, written by the C-STORE commit.
extension SQLCatalog {
    /// Upsert by SOP Instance UID plus the aggregates, in one transaction. PostgreSQL runs it as one call
    /// of `dicom_ingest_record_instance` (migration 10; with an `instance.stored` event, in a transaction
    /// with the event's row); SQLite, where a statement costs no round trip, runs the same steps as
    /// statements here.
    ///
    /// The insert is `ON CONFLICT DO NOTHING`: of two concurrent first receives one inserts, the other
    /// waits for it (PostgreSQL) and then takes the repeat path, which locks the row before reading the
    /// values it replaces, so the aggregate deltas are always computed against the committed row.
    ///
    /// A repeat from another listener is refused inside the same transaction (the row stays as it was):
    /// the duplicate policy is per listener, and a row is never re-pointed to another listener's target.
    @discardableResult
    public func recordInstance(_ sent: InstanceRecord) async throws -> InstanceRecord {
        let record: InstanceRecord
        do {
            record = try sent.catalogNormalised()
        } catch let error as CatalogValueError {
            throw CatalogError(.invalidValue, field: error.field, detail: error.description)
        }
        let receivedAt = max(record.receivedAt, record.lastReceivedAt)
        // In memory, no query: nil unless some enabled sink wants `instance.stored` from this listener.
        let instanceEvent = try await ingestEventPlan(.instanceStored, listenerID: record.listenerID)
        if dialect == .postgres {
            return try await recordInstanceCall(record, lastReceivedAt: receivedAt, event: instanceEvent)
        }

        let replaced = InstanceRow.replacedFields(record)
        let replacedNames = SQLStatement(unsafeSQL: replaced.map(\.column).joined(separator: ", "))
        let replacedValues = SQLStatement.joined(replaced.map { "\($0.value)" })
        // SQLite stores every value exactly as bound (each has its column's type), so a first insert's row is
        // `record.insertedRow`: one column returned instead of all of them, which SQLite would compile anew
        // for every instance.
        let insert: SQLStatement = """
            INSERT INTO instances (\(replacedNames), sop_instance_uid, received_at, last_received_at, receive_count)
            VALUES (\(replacedValues), \(record.sopInstanceUID), \(record.receivedAt), \(receivedAt), 1)
            ON CONFLICT (sop_instance_uid) DO NOTHING
            RETURNING receive_count
            """
        let update: SQLStatement = """
            UPDATE instances SET \(SQLStatement.joined(replaced.map { "\(unsafeRaw: $0.column) = \($0.value)" })),
                last_received_at = CASE WHEN last_received_at > \(receivedAt) THEN last_received_at ELSE \(receivedAt) END,
                receive_count = receive_count + 1
            WHERE sop_instance_uid = \(record.sopInstanceUID)
            RETURNING \(InstanceRow.columns)
            """
        let previousRow: SQLStatement = """
            SELECT series_instance_uid, study_instance_uid, size_bytes, listener_id FROM instances
            WHERE sop_instance_uid = \(record.sopInstanceUID)
            """
        let countAssociation: SQLStatement = """
            UPDATE associations SET instances_received = instances_received + 1,
                bytes_received = bytes_received + \(record.sizeBytes)
            WHERE id = \(record.associationID)
            """

        return try await write { session in
            let stored: InstanceRecord
            var previous: PreviousInstance?
            if try await session.query(insert).first != nil {
                stored = record.insertedRow(lastReceivedAt: receivedAt)
            } else {
                guard let old = try await session.query(previousRow).first else {
                    // Deleted between the two statements: nothing in this catalog deletes instances.
                    throw CatalogError(.unavailable, detail: "instance row vanished during upsert; retry")
                }
                guard try old.decode("listener_id", as: UUID.self) == record.listenerID else {
                    throw Self.heldByAnotherListener
                }
                previous = PreviousInstance(series: try old.decode("series_instance_uid"),
                                            study: try old.decode("study_instance_uid"), size: try old.decode("size_bytes"))
                guard let row = try await session.query(update).first else {
                    throw CatalogError(.unavailable, detail: "instance row vanished during upsert; retry")
                }
                stored = try InstanceRecord(row: row)
            }
            try await updateAggregates(stored: stored, previous: previous, session: session)
            if let instanceEvent {
                try await appendInstanceStoredEvent(stored, plan: instanceEvent, session: session)
            }
            try await session.query(studyDirtyUpsert(stored))
            try await session.query(countAssociation)
            return stored
        }
    }

    /// PostgreSQL's `recordInstance`: one call of `dicom_ingest_record_instance`, which outside a
    /// transaction block is a transaction of its own; with `event`, the call and the event's row share one.
    private func recordInstanceCall(_ record: InstanceRecord, lastReceivedAt: Date,
                                    event: IngestEventPlan?) async throws -> InstanceRecord {
        let r = record
        let call = SQLStatement("""
            SELECT \(InstanceRow.columns) FROM dicom_ingest_record_instance(\(r.sopInstanceUID), \(r.sopClassUID),
                \(r.seriesInstanceUID), \(r.studyInstanceUID), \(r.instanceNumber), \(r.transferSyntaxUID), \(r.sizeBytes),
                \(r.storedBytes), \(r.objectURI), \(r.metadataURI), \(r.sha256), \(r.listenerID), \(r.associationID),
                \(r.callingAETitle), \(r.calledAETitle), \(r.peerAddress), \(r.receivedAt), \(lastReceivedAt), \(r.patientID),
                \(r.patientName), \(r.patientBirthDate), \(r.patientSex), \(r.studyDate), \(r.studyTime), \(r.studyDescription),
                \(r.accessionNumber), \(r.seriesNumber), \(r.seriesDescription), \(r.modality), \(r.numberOfFrames),
                \(r.storageState.rawValue), \(r.storedAt), \(r.spoolID), \(Date()), \(r.patientName.map(patientNameLower)))
            """).prepared(as: .recordInstance)
        do {
            if let event {
                return try await database.write { session in
                    guard let row = try await session.query(call).first else {
                        throw CatalogError(.unavailable, detail: "instance upsert returned no row")
                    }
                    let stored = try InstanceRecord(row: row)
                    try await appendInstanceStoredEvent(stored, plan: event, session: session)
                    return stored
                }
            }
            guard let row = try await database.write(call).first else {
                throw CatalogError(.unavailable, detail: "instance upsert returned no row")
            }
            return try InstanceRecord(row: row)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == Self.heldByAnotherListenerSQLState {
            throw Self.heldByAnotherListener
        } catch {
            throw mapped(error)
        }
    }

    /// The refusal of a repeat from another listener than the row's.
    static var heldByAnotherListener: CatalogError {
        CatalogError(.conflict, field: "listenerId", detail: "SOP Instance UID is held by another listener")
    }

    /// What `dicom_ingest_record_instance` raises for `heldByAnotherListener`.
    static var heldByAnotherListenerSQLState: String { "DI409" }

    public func instance(sopInstanceUID: String) async throws -> InstanceRecord? {
        try await read { session in
            try await session.query("SELECT \(InstanceRow.columns) FROM instances WHERE sop_instance_uid = \(sopInstanceUID)")
                .first.map(InstanceRecord.init(row:))
        }
    }

    /// Three columns of the row instead of all of them: SQLite compiles a statement anew on every call, and
    /// the whole column list costs it about as much as the rest of the statement.
    public func committedObjects(sopInstanceUID: String) async throws -> CommittedInstanceObjects? {
        try await read { session in
            try await session.query(Self.committedObjectsStatement(sopInstanceUID)).first.map(CommittedInstanceObjects.init(row:))
        }
    }

    /// The read of `committedObjects`, which every receive runs to choose its key slot (and again under the
    /// instance lock where the catalog has no call that reads while it locks).
    static func committedObjectsStatement(_ sopInstanceUID: String) -> SQLStatement {
        SQLStatement("""
            SELECT listener_id, object_uri, metadata_uri FROM instances WHERE sop_instance_uid = \(sopInstanceUID)
            """).prepared(as: .committedObjects)
    }

    /// Instances of one series by instance number (absent last), then SOP Instance UID.
    public func instances(seriesInstanceUID: String, page: PageRequest) async throws -> Page<InstanceRecord> {
        let orderKey = InstanceRow.orderKey
        var statement: SQLStatement = """
            SELECT \(InstanceRow.columns), \(orderKey) AS order_key FROM instances
            WHERE series_instance_uid = \(seriesInstanceUID)
            """
        if let cursor = try page.cursor.map({ try CatalogCursor.decode($0, kind: .instances) }) {
            statement += " AND (\(orderKey), sop_instance_uid) > (\(cursor.key), \(cursor.id))"
        }
        statement += " ORDER BY \(orderKey), sop_instance_uid"
        return try await keysetPage(statement, limit: page.clampedLimit, item: InstanceRecord.init(row:)) { last in
            CatalogCursor(kind: .instances, key: try last.decode("order_key"), id: try last.decode("sop_instance_uid"))
        }
    }
}

extension CommittedInstanceObjects {
    /// From a row with the columns `listener_id`, `object_uri`, `metadata_uri`.
    init(row: SQLRow) throws {
        self.init(listenerID: try row.decode("listener_id"), objectURI: try row.decode("object_uri"),
                  metadataURI: try row.decode("metadata_uri"))
    }
}

/// What a repeat replaces of the row it finds: the aggregates move its size out of its old series and study.
struct PreviousInstance {
    var series: String
    var study: String
    var size: Int64
}

/// How an `InstanceRecord` maps to a row of `instances`.
enum InstanceRow {
    static let columns = SQLStatement(unsafeSQL: """
        sop_instance_uid, sop_class_uid, series_instance_uid, study_instance_uid, instance_number,
        transfer_syntax_uid, size_bytes, stored_bytes, object_uri, metadata_uri, sha256, listener_id,
        association_id, calling_ae_title, called_ae_title, peer_address, received_at, last_received_at,
        receive_count, patient_id, patient_name, patient_birth_date, patient_sex, study_date, study_time,
        study_description, accession_number, series_number, series_description, modality, number_of_frames,
        storage_state, stored_at, spool_id
        """)

    /// The sort key of a series' instances. Must match the expression of `instances_series_number_idx`.
    static let orderKey = SQLStatement(unsafeSQL: "COALESCE(instance_number, 9223372036854775807)")

    /// The columns a repeat replaces (all but the UID, `received_at`, `last_received_at`, `receive_count`),
    /// with their values.
    static func replacedFields(_ r: InstanceRecord) -> [(column: String, value: SQLValue)] {
        func value<V: SQLBindable>(_ v: V?) -> SQLValue { v?.sqlValue ?? .null }
        return [
            ("sop_class_uid", value(r.sopClassUID)), ("series_instance_uid", value(r.seriesInstanceUID)),
            ("study_instance_uid", value(r.studyInstanceUID)), ("instance_number", value(r.instanceNumber)),
            ("transfer_syntax_uid", value(r.transferSyntaxUID)), ("size_bytes", value(r.sizeBytes)),
            ("stored_bytes", value(r.storedBytes)), ("object_uri", value(r.objectURI)),
            ("metadata_uri", value(r.metadataURI)), ("sha256", value(r.sha256)), ("listener_id", value(r.listenerID)),
            ("association_id", value(r.associationID)), ("calling_ae_title", value(r.callingAETitle)),
            ("called_ae_title", value(r.calledAETitle)), ("peer_address", value(r.peerAddress)),
            ("patient_id", value(r.patientID)), ("patient_name", value(r.patientName)),
            ("patient_birth_date", value(r.patientBirthDate)), ("patient_sex", value(r.patientSex)),
            ("study_date", value(r.studyDate)), ("study_time", value(r.studyTime)),
            ("study_description", value(r.studyDescription)), ("accession_number", value(r.accessionNumber)),
            ("series_number", value(r.seriesNumber)), ("series_description", value(r.seriesDescription)),
            ("modality", value(r.modality)), ("number_of_frames", value(r.numberOfFrames)),
            ("storage_state", value(r.storageState.rawValue)), ("stored_at", value(r.storedAt)),
            ("spool_id", value(r.spoolID)),
        ]
    }
}

extension InstanceRecord {
    /// The row a first insert of `self` stores (`recordInstance`): times at the catalog's microsecond
    /// resolution, `lastReceivedAt` as given, one receive.
    func insertedRow(lastReceivedAt: Date) -> InstanceRecord {
        var row = self
        row.receivedAt = CatalogTime.rounded(receivedAt)
        row.lastReceivedAt = CatalogTime.rounded(lastReceivedAt)
        row.receiveCount = 1
        row.storedAt = storedAt.map(CatalogTime.rounded)
        return row
    }

    init(row: SQLRow) throws {
        self.init(
            sopInstanceUID: try row.decode("sop_instance_uid"), sopClassUID: try row.decode("sop_class_uid"),
            seriesInstanceUID: try row.decode("series_instance_uid"), studyInstanceUID: try row.decode("study_instance_uid"),
            instanceNumber: try row.decode("instance_number"), transferSyntaxUID: try row.decode("transfer_syntax_uid"),
            sizeBytes: try row.decode("size_bytes"), storedBytes: try row.decode("stored_bytes"),
            objectURI: try row.decode("object_uri"), metadataURI: try row.decode("metadata_uri"),
            sha256: try row.decode("sha256"), listenerID: try row.decode("listener_id"),
            associationID: try row.decode("association_id"), callingAETitle: try row.decode("calling_ae_title"),
            calledAETitle: try row.decode("called_ae_title"), peerAddress: try row.decode("peer_address"),
            receivedAt: try row.decode("received_at"), lastReceivedAt: try row.decode("last_received_at", as: Date.self),
            receiveCount: try row.decode("receive_count"), patientID: try row.decode("patient_id"),
            patientName: try row.decode("patient_name"), patientBirthDate: try row.decode("patient_birth_date"),
            patientSex: try row.decode("patient_sex"), studyDate: try row.decode("study_date"),
            studyTime: try row.decode("study_time"), studyDescription: try row.decode("study_description"),
            accessionNumber: try row.decode("accession_number"), seriesNumber: try row.decode("series_number"),
            seriesDescription: try row.decode("series_description"), modality: try row.decode("modality"),
            numberOfFrames: try row.decode("number_of_frames"),
            storageState: StorageState(rawValue: try row.decode("storage_state", as: String.self)) ?? .stored,
            storedAt: try row.decode("stored_at"), spoolID: try row.decode("spool_id"))
    }
}
