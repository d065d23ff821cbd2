public import Domain
public import Foundation
import Logging

/// What a transaction needs to write an ingest event: the subscription snapshot it was decided on and
/// the CloudEvents `source`.
struct IngestEventPlan: Sendable {
    var snapshot: EventSubscriptionCache.Snapshot
    var source: String
}

/// Events written on the ingest path: `instance.stored` in the instance transaction and
/// `association.ended` in the transaction that records the association's end. Each is one `events` row
/// (`fanout_pending`), written only when some enabled sink wants it, which the in-memory
/// `EventSubscriptionCache` answers without a query; `fanOutEvents` later gives it its deliveries.
extension SQLCatalog {
    /// The plan for an event of `type` from `listenerID` (from any listener when nil), or nil when no
    /// enabled sink wants one: then the transaction writes nothing for it.
    func ingestEventPlan(_ type: EventType, listenerID: UUID?) async throws -> IngestEventPlan? {
        let snapshot: EventSubscriptionCache.Snapshot
        if let cached = eventSubscriptions.snapshot {
            snapshot = cached
        } else {
            snapshot = try await loadEventSubscriptions()
        }
        let wanted = listenerID.map { snapshot.subscriptions.wants(type, listenerID: $0) } ?? snapshot.subscriptions.wantsAny(type)
        return wanted ? IngestEventPlan(snapshot: snapshot, source: eventSubscriptions.source) : nil
    }

    public func refreshEventSubscriptions() async throws {
        _ = try await loadEventSubscriptions()
    }

    /// After a sink change through this catalog: the new set applies to the next instance. A failure here
    /// leaves the previous set until the dispatcher's next refresh; the change itself is committed.
    func refreshEventSubscriptionsAfterChange() async {
        do {
            try await refreshEventSubscriptions()
        } catch {
            logger.warning("reloading the event subscriptions failed; the dispatcher retries", metadata: ["error": "\(error)"])
        }
    }

    @discardableResult
    private func loadEventSubscriptions() async throws -> EventSubscriptionCache.Snapshot {
        let ticket = eventSubscriptions.beginRefresh()
        let (sinks, names) = try await read { session in
            let sinks = try await session.query("SELECT \(EventSinkRow.columns) FROM event_sinks WHERE enabled")
                .map(EventSink.init(row:))
            var names: [UUID: String] = [:]
            for row in try await session.query("SELECT id, name FROM listeners") {
                names[try row.decode("id")] = try row.decode("name")
            }
            return (sinks, names)
        }
        let snapshot = EventSubscriptionCache.Snapshot(subscriptions: EventSubscriptionSet(sinks: sinks), listenerNames: names)
        eventSubscriptions.apply(snapshot, ticket: ticket)
        return snapshot
    }

    /// The `instance.stored` event of `stored`, written in the instance transaction.
    func appendInstanceStoredEvent(_ stored: InstanceRecord, plan: IngestEventPlan, session: any SQLSession) async throws {
        let name = try await listenerName(stored.listenerID, plan: plan, session: session)
        let data = InstanceStoredEventData(instance: stored, listenerName: name)
        try await appendIngestEvent(.instanceStored, subject: stored.sopInstanceUID, listenerID: stored.listenerID, data: data,
                                    source: plan.source, session: session)
    }

    /// The `association.ended` event of `association` (its row as updated), written in the same
    /// transaction, when some sink wants it from the association's listener.
    func appendAssociationEndedEvent(_ association: AssociationRecord, plan: IngestEventPlan,
                                     session: any SQLSession) async throws {
        guard plan.snapshot.subscriptions.wants(.associationEnded, listenerID: association.listenerID) else { return }
        let name = try await listenerName(association.listenerID, plan: plan, session: session)
        let data = AssociationEndedEventData(association: association, listenerName: name)
        try await appendIngestEvent(.associationEnded, subject: association.id.uuidString.lowercased(),
                                    listenerID: association.listenerID, data: data, source: plan.source, session: session)
    }

    /// The cached name; a listener created since the last refresh (on another node) is read.
    private func listenerName(_ id: UUID, plan: IngestEventPlan, session: any SQLSession) async throws -> String? {
        if let name = plan.snapshot.listenerNames[id] { return name }
        return try await session.query("SELECT name FROM listeners WHERE id = \(id)").first?.decode("name")
    }

    /// The one row an ingest event costs its transaction.
    private func appendIngestEvent<Payload: Encodable>(_ type: EventType, subject: String, listenerID: UUID, data: Payload,
                                                       source: String, session: any SQLSession) async throws {
        let id = UUID()
        let now = Date()
        let body = try CloudEvent.encode(id: id, source: source, type: type, subject: subject, time: now, data: data)
        try await session.query("""
            INSERT INTO events (id, type, subject, listener_id, revision, body, created_at, fanout_pending)
            VALUES (\(id), \(type.rawValue), \(subject), \(listenerID), 0, \(body), \(now), \(true))
            """)
    }

    public func fanOutEvents(now: Date, limit: Int) async throws -> [StoredEvent] {
        // PostgreSQL: events another node is fanning out right now are skipped, not waited for.
        let lock: SQLStatement = dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        return try await write { session -> [StoredEvent] in
            let events = try await session.query("""
                SELECT \(EventRow.columns) FROM events e WHERE e.fanout_pending ORDER BY e.created_at LIMIT \(limit)\(lock)
                """).map(StoredEvent.init(row:))
            guard !events.isEmpty else { return [] }
            let sinks = try await session.query("SELECT \(EventSinkRow.columns) FROM event_sinks WHERE enabled")
                .map(EventSink.init(row:))
            for event in events {
                // A type this binary does not know (written by a newer node) has no sink that accepts it.
                guard let type = EventType(rawValue: event.type) else { continue }
                for sink in sinks where sink.accepts(type, listenerID: event.listenerID) {
                    try await session.query("""
                        INSERT INTO event_deliveries (event_id, sink_id, status, attempts, next_attempt_at, created_at)
                        VALUES (\(event.id), \(sink.id), 'pending', 0, \(now), \(now))
                        ON CONFLICT (event_id, sink_id) DO NOTHING
                        """)
                }
            }
            let ids = SQLStatement.joined(events.map { "\($0.id)" })
            try await session.query("UPDATE events SET fanout_pending = \(false) WHERE id IN (\(ids))")
            return events
        }
    }
}

extension PostgresCatalog: EventFanOut {}
extension SQLiteCatalog: EventFanOut {}
