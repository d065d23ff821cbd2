import Domain
import Foundation

/// The `associations` table: one row per association (accepted or rejected), its outcome and counters.
extension SQLCatalog {
    public func startAssociation(_ a: AssociationRecord) async throws {
        try await write("""
            INSERT INTO associations (\(AssociationRow.columns)) VALUES (
                \(a.id), \(a.listenerID), \(a.callingAETitle), \(a.calledAETitle), \(a.peerAddress), \(a.startedAt),
                \(a.endedAt), \(a.outcome.rawValue), \(a.rejectReason), \(a.instancesReceived), \(a.instancesFailed),
                \(a.bytesReceived), \(a.attempts))
            """)
    }

    /// With the `association.ended` event in the same transaction when some sink wants it; without one, the
    /// update is a transaction of one statement.
    public func endAssociation(id: UUID, outcome: AssociationOutcome, endedAt: Date) async throws {
        // In memory, no query: nil unless some enabled sink wants `association.ended` from some listener.
        let event = try await ingestEventPlan(.associationEnded, listenerID: nil)
        let end: SQLStatement = """
            UPDATE associations SET outcome = \(outcome.rawValue), ended_at = \(endedAt) WHERE id = \(id)
            RETURNING \(AssociationRow.columns)
            """
        let updated: Int
        if let event {
            updated = try await write { session in
                let rows = try await session.query(end)
                if let row = rows.first {
                    try await appendAssociationEndedEvent(AssociationRecord(row: row), plan: event, session: session)
                }
                return rows.count
            }
        } else {
            updated = try await write(end).count
        }
        guard updated == 1 else { throw CatalogError(.notFound, detail: "no association with this id") }
    }

    public func recordFailure(associationID: UUID) async throws {
        let updated = try await write("""
            UPDATE associations SET instances_failed = instances_failed + 1 WHERE id = \(associationID) RETURNING id
            """).count
        guard updated == 1 else { throw CatalogError(.notFound, detail: "no association with this id") }
    }

    public func addRejectedAttempts(associationID: UUID, count: Int) async throws {
        let updated = try await write("""
            UPDATE associations SET attempts = attempts + \(count) WHERE id = \(associationID) RETURNING id
            """).count
        guard updated == 1 else { throw CatalogError(.notFound, detail: "no association with this id") }
    }

    /// Newest first: `started_at` descending, then `id` descending.
    public func associations(listenerID: UUID?, page: PageRequest) async throws -> Page<AssociationRecord> {
        var statement: SQLStatement = "SELECT \(AssociationRow.columns) FROM associations WHERE 1 = 1"
        if let listenerID { statement += " AND listener_id = \(listenerID)" }
        if let cursor = try page.cursor.map({ try CatalogCursor.decode($0, kind: .associations) }) {
            guard let id = UUID(uuidString: cursor.id) else {
                throw CatalogError(.invalidCursor, detail: "cursor does not parse")
            }
            statement += " AND (started_at, id) < (\(SQLValue.time(cursor.key)), \(id))"
        }
        statement += " ORDER BY started_at DESC, id DESC"
        return try await keysetPage(statement, limit: page.clampedLimit, item: AssociationRecord.init(row:)) { last in
            CatalogCursor(kind: .associations, key: try last.micros("started_at"), id: try last.decode("id", as: UUID.self).uuidString)
        }
    }
}

/// How an `AssociationRecord` maps to a row of `associations`.
enum AssociationRow {
    static let columns = SQLStatement(unsafeSQL: """
        id, listener_id, calling_ae_title, called_ae_title, peer_address, started_at, ended_at, outcome,
        reject_reason, instances_received, instances_failed, bytes_received, attempts
        """)
}

extension AssociationRecord {
    init(row: SQLRow) throws {
        self.init(
            id: try row.decode("id"), listenerID: try row.decode("listener_id"),
            callingAETitle: try row.decode("calling_ae_title"), calledAETitle: try row.decode("called_ae_title"),
            peerAddress: try row.decode("peer_address"), startedAt: try row.decode("started_at"),
            endedAt: try row.decode("ended_at"), outcome: AssociationOutcome(rawValue: try row.decode("outcome")) ?? .aborted,
            rejectReason: try row.decode("reject_reason"), instancesReceived: try row.decode("instances_received"),
            instancesFailed: try row.decode("instances_failed"), bytesReceived: try row.decode("bytes_received"),
            attempts: try row.decode("attempts"))
    }
}
