public import Domain
public import Foundation

/// The forwarder's queue over the `instances` table (see `ForwardQueue`): spooled rows are claimed with a
/// lease (`forward_owner`, `forward_lease_until`), so with a shared spool any node takes over the work of
/// a node that died; a row becomes `stored` or `lost` only while it still names the object that was sent.
extension SQLCatalog {
    public func claimSpooled(spoolID: String, owner: String, limit: Int, now: Date, leaseUntil: Date) async throws -> [ForwardClaim] {
        // PostgreSQL: rows another node is claiming at this moment are skipped, not waited for.
        let skipLocked: SQLStatement = dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        let statement: SQLStatement = """
            UPDATE instances SET forward_owner = \(owner), forward_lease_until = \(leaseUntil)
            WHERE sop_instance_uid IN (
                SELECT sop_instance_uid FROM instances
                WHERE storage_state = 'spooled' AND spool_id = \(spoolID)
                    AND (forward_lease_until IS NULL OR forward_lease_until <= \(now))
                ORDER BY last_received_at LIMIT \(limit)\(skipLocked))
            RETURNING \(InstanceRow.columns), forward_attempts
            """
        return try await write(statement.prepared(as: .forwardClaim)).map { row in
            ForwardClaim(record: try InstanceRecord(row: row), failedAttempts: try row.decode("forward_attempts"))
        }
    }

    public func markStored(sopInstanceUID: String, sha256: String, objectURI: String, storedBytes: Int64, storedAt: Date) async throws -> Bool {
        try await write("""
            UPDATE instances SET \(Self.settledStored(storedBytes: storedBytes, storedAt: storedAt))
            WHERE sop_instance_uid = \(sopInstanceUID) AND storage_state = 'spooled' AND sha256 = \(sha256)
                AND object_uri = \(objectURI)
            RETURNING sop_instance_uid
            """).count == 1
    }

    /// The settle of a forward as one statement (one round trip, one transaction): the conditions that
    /// `markStored` checks under the instance lock, checked and acted on by the row update itself, which
    /// holds the row's lock from its check to its commit. `receive_count = 1`: no earlier receive of the
    /// UID can have left an object under the sibling key slot, so nothing needs deleting first.
    public func settleForwarded(sopInstanceUID: String, owner: String, sha256: String, objectURI: String,
                                storedBytes: Int64, storedAt: Date) async throws -> Bool {
        let statement: SQLStatement = """
            UPDATE instances SET \(Self.settledStored(storedBytes: storedBytes, storedAt: storedAt))
            WHERE sop_instance_uid = \(sopInstanceUID) AND forward_owner = \(owner) AND storage_state = 'spooled'
                AND sha256 = \(sha256) AND object_uri = \(objectURI) AND receive_count = 1
            RETURNING sop_instance_uid
            """
        return try await write(statement.prepared(as: .forwardSettle)).count == 1
    }

    /// The columns of a row once forwarded: `stored`, out of the spool, its lease released.
    private static func settledStored(storedBytes: Int64, storedAt: Date) -> SQLStatement {
        """
        storage_state = 'stored', stored_at = \(storedAt), stored_bytes = \(storedBytes),
            spool_id = NULL, forward_owner = NULL, forward_lease_until = NULL, forward_attempts = 0
        """
    }

    public func markLost(sopInstanceUID: String, sha256: String, objectURI: String) async throws -> Bool {
        try await write("""
            UPDATE instances SET storage_state = 'lost', forward_owner = NULL, forward_lease_until = NULL
            WHERE sop_instance_uid = \(sopInstanceUID) AND storage_state = 'spooled' AND sha256 = \(sha256)
                AND object_uri = \(objectURI)
            RETURNING sop_instance_uid
            """).count == 1
    }

    public func releaseClaim(sopInstanceUID: String, owner: String, retryAt: Date, failed: Bool) async throws {
        try await write("""
            UPDATE instances SET forward_owner = NULL, forward_lease_until = \(retryAt),
                forward_attempts = forward_attempts + \(failed ? 1 : 0)
            WHERE sop_instance_uid = \(sopInstanceUID) AND forward_owner = \(owner)
            """)
    }

    public func renewClaim(sopInstanceUID: String, owner: String, leaseUntil: Date) async throws -> Bool {
        try await write("""
            UPDATE instances SET forward_lease_until = \(leaseUntil)
            WHERE sop_instance_uid = \(sopInstanceUID) AND forward_owner = \(owner) RETURNING sop_instance_uid
            """).count == 1
    }

    public func releaseClaims(owner: String) async throws {
        try await write("""
            UPDATE instances SET forward_owner = NULL, forward_lease_until = NULL
            WHERE forward_owner = \(owner) AND storage_state = 'spooled'
            """)
    }

    public func spooledLocations(spoolID: String) async throws -> [CommittedInstanceObjects] {
        try await read { session in
            try await session.query("""
                SELECT listener_id, object_uri, metadata_uri FROM instances
                WHERE storage_state = 'spooled' AND spool_id = \(spoolID)
                """).map { row in
                CommittedInstanceObjects(listenerID: try row.decode("listener_id"), objectURI: try row.decode("object_uri"),
                                metadataURI: try row.decode("metadata_uri"))
            }
        }
    }

    public func spoolFigures() async throws -> SpoolFigures {
        try await read { session in try await Self.spoolFigures(in: session) }
    }

    static func spoolFigures(in session: any SQLSession) async throws -> SpoolFigures {
        guard let row = try await session.query("""
            SELECT count(*) AS instances, CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT) AS bytes,
                MIN(last_received_at) AS oldest,
                (SELECT count(*) FROM instances WHERE storage_state = 'lost') AS lost
            FROM instances WHERE storage_state = 'spooled'
            """).first else {
            throw SQLDecodingError(column: "instances", reason: "is missing: the spool figures query returned no row")
        }
        return SpoolFigures(instances: try row.decode("instances"), bytes: try row.decode("bytes"),
                            oldestReceivedAt: try row.decode("oldest"), lost: try row.decode("lost"))
    }
}

extension PostgresCatalog: ForwardQueue {}
extension SQLiteCatalog: ForwardQueue {}
