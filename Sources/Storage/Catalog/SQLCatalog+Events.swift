public import Domain
public import Foundation

/// The event outbox: `study_activity` (the marker the instance transaction sets), `events`,
/// `event_deliveries` (one per event and sink, claimed with leases), `event_attempts` and `event_sinks`.
extension SQLCatalog {
    /// The outbox write of the instance transaction: marks the study dirty with the time of this instance.
    /// The dispatcher announces the study once it has been quiet for its listener's period. One row
    /// upsert; the instance upsert runs it last in its transaction (on PostgreSQL inside its final
    /// statement, so events add no round trip to a C-STORE).
    func studyDirtyUpsert(_ stored: InstanceRecord) -> SQLStatement {
        """
        INSERT INTO study_activity (study_instance_uid, listener_id, last_instance_at, dirty, revision)
        VALUES (\(stored.studyInstanceUID), \(stored.listenerID), \(Date()), \(true), 0)
        ON CONFLICT (study_instance_uid) DO UPDATE SET dirty = \(true), listener_id = excluded.listener_id,
            last_instance_at = excluded.last_instance_at
        """
    }

    // MARK: sinks

    public func listEventSinks() async throws -> [EventSink] {
        try await read { session in
            try await session.query("SELECT \(EventSinkRow.columns) FROM event_sinks ORDER BY name, id").map(EventSink.init(row:))
        }
    }

    public func eventSink(id: UUID) async throws -> EventSink? {
        try await read { session in
            try await session.query("SELECT \(EventSinkRow.columns) FROM event_sinks WHERE id = \(id)").first.map(EventSink.init(row:))
        }
    }

    public func createEventSink(_ sink: EventSink) async throws {
        let fields = try EventSinkRow.fields(sink)
        let names = SQLStatement(unsafeSQL: fields.map(\.column).joined(separator: ", "))
        let values = SQLStatement.joined(fields.map { "\($0.value)" })
        _ = try await write { session in
            try await session.query("INSERT INTO event_sinks (\(names)) VALUES (\(values))")
        }
        await refreshEventSubscriptionsAfterChange()
    }

    public func updateEventSink(_ sink: EventSink) async throws {
        let assignments = SQLStatement.joined(try EventSinkRow.fields(sink)
            .filter { $0.column != "id" && $0.column != "created_at" }
            .map { "\(unsafeRaw: $0.column) = \($0.value)" })
        let updated = try await write { session in
            try await session.query("UPDATE event_sinks SET \(assignments) WHERE id = \(sink.id) RETURNING id").count
        }
        await refreshEventSubscriptionsAfterChange()
        guard updated == 1 else { throw CatalogError(.notFound, detail: "no event sink with this id") }
    }

    public func deleteEventSink(id: UUID) async throws {
        let deleted = try await write { session in
            let count = try await session.query("DELETE FROM event_sinks WHERE id = \(id) RETURNING id").count
            try await session.query("DELETE FROM event_deliveries WHERE sink_id = \(id) AND status = 'pending'")
            return count
        }
        await refreshEventSubscriptionsAfterChange()
        guard deleted == 1 else { throw CatalogError(.notFound, detail: "no event sink with this id") }
    }

    // MARK: events

    /// Newest first: `created_at` descending, then `id` descending.
    public func events(status: DeliveryStatus?, sinkID: UUID?, page: PageRequest) async throws -> Page<StoredEvent> {
        var statement: SQLStatement = "SELECT \(EventRow.columns) FROM events e WHERE 1 = 1"
        if status != nil || sinkID != nil {
            statement += " AND EXISTS (SELECT 1 FROM event_deliveries d WHERE d.event_id = e.id"
            if let status { statement += " AND d.status = \(status.rawValue)" }
            if let sinkID { statement += " AND d.sink_id = \(sinkID)" }
            statement += ")"
        }
        if let cursor = try page.cursor.map({ try CatalogCursor.decode($0, kind: .events) }) {
            guard let id = UUID(uuidString: cursor.id) else { throw CatalogError(.invalidCursor, detail: "cursor does not parse") }
            statement += " AND (e.created_at, e.id) < (\(SQLValue.time(cursor.key)), \(id))"
        }
        statement += " ORDER BY e.created_at DESC, e.id DESC"
        var result = try await keysetPage(statement, limit: page.clampedLimit, item: StoredEvent.init(row:)) { last in
            CatalogCursor(kind: .events, key: try last.micros("created_at"), id: try last.decode("id", as: UUID.self).uuidString)
        }
        let deliveries = try await self.deliveries(of: result.items.map(\.id))
        for index in result.items.indices {
            result.items[index].deliveries = deliveries[result.items[index].id] ?? []
        }
        return result
    }

    public func event(id: UUID) async throws -> StoredEvent? {
        let found = try await read { session in
            try await session.query("SELECT \(EventRow.columns) FROM events e WHERE e.id = \(id)").first.map(StoredEvent.init(row:))
        }
        guard var event = found else { return nil }
        event.deliveries = try await deliveries(of: [id])[id] ?? []
        return event
    }

    private func deliveries(of eventIDs: [UUID]) async throws -> [UUID: [EventDelivery]] {
        guard !eventIDs.isEmpty else { return [:] }
        let list = SQLStatement.joined(eventIDs.map { "\($0)" })
        let rows = try await read { session in
            try await session.query("""
                SELECT event_id, sink_id, status, attempts, next_attempt_at, last_attempt_at, delivered_at, last_error
                FROM event_deliveries WHERE event_id IN (\(list)) ORDER BY event_id, sink_id
                """)
        }
        var byEvent: [UUID: [EventDelivery]] = [:]
        for row in rows {
            let status = DeliveryStatus(rawValue: try row.decode("status")) ?? .pending
            byEvent[try row.decode("event_id"), default: []].append(EventDelivery(
                sinkID: try row.decode("sink_id"), status: status, attempts: try row.decode("attempts"),
                nextAttemptAt: status == .pending ? try row.decode("next_attempt_at") : nil,
                lastAttemptAt: try row.decode("last_attempt_at"), deliveredAt: try row.decode("delivered_at"),
                lastError: try row.decode("last_error")))
        }
        return byEvent
    }

    public func redeliver(eventID: UUID, now: Date) async throws {
        let found = try await write { session in
            guard try await session.query("SELECT id FROM events WHERE id = \(eventID)").first != nil else { return false }
            try await session.query("""
                UPDATE event_deliveries SET status = 'pending', next_attempt_at = \(now), lease_owner = NULL, lease_until = NULL
                WHERE event_id = \(eventID)
                """)
            return true
        }
        guard found else { throw CatalogError(.notFound, detail: "no event with this id") }
    }

    // MARK: stable studies

    public func dirtyStudies(limit: Int) async throws -> [DirtyStudy] {
        try await read { session in
            try await session.query("""
                SELECT a.study_instance_uid, a.listener_id, a.last_instance_at, a.revision, l.study_stable_seconds
                FROM study_activity a LEFT JOIN listeners l ON l.id = a.listener_id
                WHERE a.dirty ORDER BY a.last_instance_at LIMIT \(limit)
                """).map { row in
                DirtyStudy(studyInstanceUID: try row.decode("study_instance_uid"), listenerID: try row.decode("listener_id"),
                           lastInstanceAt: try row.decode("last_instance_at"), revision: try row.decode("revision"),
                           stableSeconds: try row.decode("study_stable_seconds"))
            }
        }
    }

    public func clearDirtyStudy(_ study: DirtyStudy) async throws {
        try await write { session in
            try await session.query("""
                UPDATE study_activity SET dirty = \(false)
                WHERE study_instance_uid = \(study.studyInstanceUID) AND last_instance_at = \(study.lastInstanceAt)
                """)
        }
    }

    public func announceStudy(_ study: DirtyStudy, source: String, now: Date) async throws -> StoredEvent? {
        let uid = study.studyInstanceUID
        // PostgreSQL: a node announcing this study holds the row; another node skips it, and an instance
        // transaction waits, then marks the study dirty again for the next revision.
        let lock: SQLStatement = dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try await write { session -> StoredEvent? in
            guard let marker = try await session.query("""
                SELECT last_instance_at, revision, listener_id FROM study_activity
                WHERE study_instance_uid = \(uid) AND dirty\(lock)
                """).first,
                try marker.micros("last_instance_at") == CatalogTime.micros(study.lastInstanceAt)
            else { return nil }
            let revision = try marker.decode("revision", as: Int.self) + 1
            let listenerID: UUID = try marker.decode("listener_id")
            guard let summary = try await session.query("SELECT \(StudyRow.columns) FROM studies s WHERE s.study_instance_uid = \(uid)")
                .first.map(StudySummary.init(row:)) else { return nil }
            let series = try await session.query("""
                SELECT series_instance_uid, study_instance_uid, modality, series_number, series_description,
                    instance_count, total_bytes
                FROM series WHERE study_instance_uid = \(uid)
                ORDER BY CASE WHEN series_number IS NULL THEN 1 ELSE 0 END, series_number, series_instance_uid
                """).map(SeriesSummary.init(row:))
            let instances = try await session.query("""
                SELECT calling_ae_title, peer_address, object_uri FROM instances WHERE study_instance_uid = \(uid)
                """)
            let listenerName: String? = try await session.query("SELECT name FROM listeners WHERE id = \(listenerID)")
                .first?.decode("name")
            let data = StudyEventData(
                study: summary, series: series, revision: revision, listenerID: listenerID, listenerName: listenerName,
                callingAETitles: try instances.map { try $0.decode("calling_ae_title") },
                peerAddresses: try instances.map { try $0.decode("peer_address") },
                objectURIs: try instances.map { try $0.decode("object_uri") })
            let id = UUID()
            let type: EventType = revision == 1 ? .studyStable : .studyUpdated
            let body = try CloudEvent.encode(id: id, source: source, type: type, subject: uid, time: now, data: data)
            try await session.query("""
                INSERT INTO events (id, type, subject, listener_id, revision, body, created_at)
                VALUES (\(id), \(type.rawValue), \(uid), \(listenerID), \(revision), \(body), \(now))
                """)
            let sinks = try await session.query("SELECT \(EventSinkRow.columns) FROM event_sinks WHERE enabled")
                .map(EventSink.init(row:)).filter { $0.accepts(type, listenerID: listenerID) }
            for sink in sinks {
                try await session.query("""
                    INSERT INTO event_deliveries (event_id, sink_id, status, attempts, next_attempt_at, created_at)
                    VALUES (\(id), \(sink.id), 'pending', 0, \(now), \(now))
                    """)
            }
            try await session.query("""
                UPDATE study_activity SET dirty = \(false), revision = \(revision) WHERE study_instance_uid = \(uid)
                """)
            return StoredEvent(id: id, type: type.rawValue, subject: uid, listenerID: listenerID, revision: revision,
                               createdAt: now, body: body, deliveries: [])
        }
    }

    // MARK: delivery

    public func claimDeliveries(owner: String, now: Date, leaseSeconds: Int, limit: Int) async throws -> [ClaimedDelivery] {
        let until = now.addingTimeInterval(TimeInterval(leaseSeconds))
        // Each claim has a lease of its own, so the rows read back are exactly those this claim took.
        let lease = "\(owner) \(UUID().uuidString.lowercased())"
        // PostgreSQL: rows another node is claiming right now are skipped, not waited for.
        let lock: SQLStatement = dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try await write { session in
            try await session.query("""
                UPDATE event_deliveries SET lease_owner = \(lease), lease_until = \(until)
                WHERE (event_id, sink_id) IN (
                    SELECT event_id, sink_id FROM event_deliveries
                    WHERE status = 'pending' AND next_attempt_at <= \(now) AND (lease_until IS NULL OR lease_until < \(now))
                    ORDER BY next_attempt_at LIMIT \(limit)\(lock))
                """)
            return try await session.query("""
                SELECT d.event_id AS event_id, d.attempts AS attempts, e.type AS event_type, e.subject AS event_subject,
                    e.body AS event_body, e.created_at AS event_created_at, \(EventSinkRow.qualifiedColumns)
                FROM event_deliveries d JOIN events e ON e.id = d.event_id JOIN event_sinks s ON s.id = d.sink_id
                WHERE d.lease_owner = \(lease) AND d.status = 'pending'
                """).map { row in
                ClaimedDelivery(eventID: try row.decode("event_id"), eventType: try row.decode("event_type"),
                                subject: try row.decode("event_subject"), body: try row.decode("event_body"),
                                sink: try EventSink(row: row), attempts: try row.decode("attempts"),
                                createdAt: try row.decode("event_created_at"), lease: lease)
            }
        }
    }

    public func recordAttempt(_ delivery: ClaimedDelivery, startedAt: Date, duration: Duration,
                              outcome: DeliveryOutcome) async throws {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        let (status, error, next, deliveredAt): (DeliveryStatus, String?, Date, Date?) = switch outcome {
        case .delivered: (.delivered, nil, startedAt, Date())
        case .retry(let at, let error): (.pending, error, at, nil)
        case .failed(let error): (.failed, error, startedAt, nil)
        }
        try await write { session in
            try await session.query("""
                INSERT INTO event_attempts (event_id, sink_id, attempt, started_at, duration_ms, outcome, error)
                VALUES (\(delivery.eventID), \(delivery.sink.id), \(delivery.attempts + 1), \(startedAt), \(milliseconds),
                    \(status == .pending ? "retry" : status.rawValue), \(error))
                ON CONFLICT (event_id, sink_id, attempt) DO NOTHING
                """)
            try await session.query("""
                UPDATE event_deliveries SET status = \(status.rawValue), attempts = attempts + 1, last_attempt_at = \(startedAt),
                    last_error = \(error), next_attempt_at = \(next), delivered_at = \(deliveredAt),
                    lease_owner = NULL, lease_until = NULL
                WHERE event_id = \(delivery.eventID) AND sink_id = \(delivery.sink.id) AND lease_owner = \(delivery.lease)
                """)
        }
    }

    public func pendingDeliveries() async throws -> [UUID: Int] {
        try await read { session in
            var counts: [UUID: Int] = [:]
            for row in try await session.query("""
                SELECT sink_id, COUNT(*) AS pending FROM event_deliveries WHERE status = 'pending' GROUP BY sink_id
                """) {
                counts[try row.decode("sink_id")] = try row.decode("pending")
            }
            return counts
        }
    }
}

extension PostgresCatalog: EventStore {}
extension SQLiteCatalog: EventStore {}

/// How an `EventSink` maps to a row of `event_sinks`.
enum EventSinkRow {
    static let columns = SQLStatement(unsafeSQL: """
        id, name, kind, enabled, settings, secret, event_types, listener_ids, created_at, updated_at
        """)
    /// The same columns of `s`, for joins (the event's own columns are aliased apart).
    static let qualifiedColumns = SQLStatement(unsafeSQL: """
        s.id AS id, s.name AS name, s.kind AS kind, s.enabled AS enabled, s.settings AS settings, s.secret AS secret,
        s.event_types AS event_types, s.listener_ids AS listener_ids, s.created_at AS created_at, s.updated_at AS updated_at
        """)

    static func fields(_ s: EventSink) throws -> [(column: String, value: SQLValue)] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        func json<T: Encodable>(_ value: T) throws -> SQLValue {
            .text(String(decoding: try encoder.encode(value), as: UTF8.self))
        }
        return [
            ("id", s.id.sqlValue), ("name", s.name.sqlValue), ("kind", s.kind.rawValue.sqlValue), ("enabled", s.enabled.sqlValue),
            ("settings", try json(s.settings)), ("secret", s.secret?.sqlValue ?? .null),
            ("event_types", try json(s.eventTypes)), ("listener_ids", try json(s.listenerIDs)),
            ("created_at", s.createdAt.sqlValue), ("updated_at", s.updatedAt.sqlValue),
        ]
    }
}

extension EventSink {
    init(row: SQLRow) throws {
        guard let kind = EventSinkKind(rawValue: try row.decode("kind")) else {
            throw SQLDecodingError(column: "kind", reason: "holds an unknown sink kind")
        }
        self.init(id: try row.decode("id"), name: try row.decode("name"), kind: kind, enabled: try row.decode("enabled"),
                  settings: try row.json("settings"), secret: try row.decode("secret"),
                  eventTypes: try row.json("event_types"), listenerIDs: try row.json("listener_ids"),
                  createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }
}

enum EventRow {
    static let columns = SQLStatement(unsafeSQL: """
        e.id AS id, e.type AS type, e.subject AS subject, e.listener_id AS listener_id, e.revision AS revision,
        e.body AS body, e.created_at AS created_at
        """)
}

extension StoredEvent {
    init(row: SQLRow) throws {
        self.init(id: try row.decode("id"), type: try row.decode("type"), subject: try row.decode("subject"),
                  listenerID: try row.decode("listener_id"), revision: try row.decode("revision"),
                  createdAt: try row.decode("created_at"), body: try row.decode("body"), deliveries: [])
    }
}
