import Domain
import Foundation
import Logging

/// The forwarder's queue over the `instances` table (see `ForwardQueue`).
extension CatalogCore {
    func claimSpooled(spoolId: String, owner: String, limit: Int, now: Date, leaseUntil: Date) async throws -> [ForwardClaim] {
        // PostgreSQL: rows another node is claiming at this moment are skipped, not waited for.
        let skipLocked = dialect == .postgres ? " FOR UPDATE SKIP LOCKED" : ""
        let sql = """
            UPDATE instances SET forward_owner = ?, forward_lease_until = ?
            WHERE sop_instance_uid IN (
                SELECT sop_instance_uid FROM instances
                WHERE storage_state = 'spooled' AND spool_id = ?
                    AND (forward_lease_until IS NULL OR forward_lease_until <= ?)
                ORDER BY last_received_at LIMIT ?\(skipLocked))
            RETURNING \(Self.instanceColumns), forward_attempts
            """
        let binds: [SQLValue] = [.text(owner), .date(leaseUntil), .text(spoolId), .date(now), .int(limit)]
        return try await writeSpool { session in
            try await session.query(sql, binds).map { row in
                ForwardClaim(record: try Self.decodeInstance(row), failedAttempts: try row.int(34))
            }
        }
    }

    func markStored(sopInstanceUID: String, sha256: String, objectUri: String, storedBytes: Int64, storedAt: Date) async throws -> Bool {
        try await writeSpool { session in
            try await session.query("""
                UPDATE instances SET storage_state = 'stored', stored_at = ?, stored_bytes = ?, spool_id = NULL,
                    forward_owner = NULL, forward_lease_until = NULL, forward_attempts = 0
                WHERE sop_instance_uid = ? AND storage_state = 'spooled' AND sha256 = ? AND object_uri = ?
                RETURNING sop_instance_uid
                """, [.date(storedAt), .int(storedBytes), .text(sopInstanceUID), .text(sha256), .text(objectUri)]).count == 1
        }
    }

    func markLost(sopInstanceUID: String, sha256: String, objectUri: String) async throws -> Bool {
        try await writeSpool { session in
            try await session.query("""
                UPDATE instances SET storage_state = 'lost', forward_owner = NULL, forward_lease_until = NULL
                WHERE sop_instance_uid = ? AND storage_state = 'spooled' AND sha256 = ? AND object_uri = ?
                RETURNING sop_instance_uid
                """, [.text(sopInstanceUID), .text(sha256), .text(objectUri)]).count == 1
        }
    }

    func releaseClaim(sopInstanceUID: String, owner: String, retryAt: Date, failed: Bool) async throws {
        _ = try await writeSpool { session in
            try await session.query("""
                UPDATE instances SET forward_owner = NULL, forward_lease_until = ?, forward_attempts = forward_attempts + ?
                WHERE sop_instance_uid = ? AND forward_owner = ?
                """, [.date(retryAt), .int(failed ? 1 : 0), .text(sopInstanceUID), .text(owner)]).count
        }
    }

    func renewClaim(sopInstanceUID: String, owner: String, leaseUntil: Date) async throws -> Bool {
        try await writeSpool { session in
            try await session.query(
                "UPDATE instances SET forward_lease_until = ? WHERE sop_instance_uid = ? AND forward_owner = ? RETURNING sop_instance_uid",
                [.date(leaseUntil), .text(sopInstanceUID), .text(owner)]).count == 1
        }
    }

    func releaseClaims(owner: String) async throws {
        _ = try await writeSpool { session in
            try await session.query("""
                UPDATE instances SET forward_owner = NULL, forward_lease_until = NULL
                WHERE forward_owner = ? AND storage_state = 'spooled'
                """, [.text(owner)]).count
        }
    }

    func spooledLocations(spoolId: String) async throws -> [SpooledLocation] {
        try await readSpool { session in
            try await session.query(
                "SELECT listener_id, object_uri, metadata_uri FROM instances WHERE storage_state = 'spooled' AND spool_id = ?",
                [.text(spoolId)]).map { row in
                SpooledLocation(listenerId: try row.uuid(0), objectUri: try row.string(1), metadataUri: row.optionalString(2))
            }
        }
    }

    func spoolFigures() async throws -> SpoolFigures {
        try await readSpool { session in try await Self.spoolFigures(in: session) }
    }

    static func spoolFigures(in session: any SQLSession) async throws -> SpoolFigures {
        guard let row = try await session.query("""
            SELECT count(*), CAST(COALESCE(SUM(size_bytes), 0) AS BIGINT), MIN(last_received_at),
                (SELECT count(*) FROM instances WHERE storage_state = 'lost')
            FROM instances WHERE storage_state = 'spooled'
            """, []).first else { throw SQLDecodingError(column: 0) }
        return SpoolFigures(instances: try row.int(0), bytes: try row.int64(1), oldestReceivedAt: row.optionalDate(2),
                            lost: try row.int(3))
    }

    /// Driver errors carry statement values: they become `CatalogError(.unavailable)` like every other
    /// catalog operation's.
    private func writeSpool<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        do {
            return try await database.write(body)
        } catch let error as CatalogError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            logger.warning("spool queue operation failed", metadata: ["error": "\(String(describing: type(of: error))): \(Self.safeSummary(error))"])
            throw CatalogError(.unavailable, detail: "catalog database operation failed")
        }
    }

    private func readSpool<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        do {
            return try await database.read(body)
        } catch let error as CatalogError {
            throw error
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            logger.warning("spool queue read failed", metadata: ["error": "\(String(describing: type(of: error))): \(Self.safeSummary(error))"])
            throw CatalogError(.unavailable, detail: "catalog database operation failed")
        }
    }
}
