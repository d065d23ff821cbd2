public import Domain
import Logging
import PostgresNIO

/// Receives of one SOP Instance UID on different nodes commit one after the other: each holds a
/// session-level advisory lock keyed on the UID (`pg_advisory_lock(hashtextextended(uid, 0))`) for the
/// whole commit step and gives it back with `pg_advisory_unlock`. That is one round trip to take the lock
/// (which also reads the row's objects, for the commit's check under the lock) and an unlock whose answer
/// nothing waits for, on every C-STORE (a transaction-level lock would add BEGIN and COMMIT), and no
/// transaction stays open while the objects are written, so `idle_in_transaction_session_timeout` never
/// cuts a commit short. Session and transaction-level locks on one key exclude each other, so nodes of
/// either kind serialise on the same UID. The lock goes with the session when the connection or the node
/// dies (a crashed node never leaves an instance locked); a connection whose lock query or release fails
/// is closed, so no session keeps a lock past its step.
extension PostgresCatalog {
    /// How long a receive waits for the lock (and a lock connection) before answering "retry".
    static let instanceLockWait: Duration = .seconds(20)

    public func withInstanceLock<T: Sendable>(sopInstanceUID: String, _ body: @Sendable () async -> T) async throws -> T {
        let lock = SQLStatement("SELECT pg_advisory_lock(hashtextextended(\(sopInstanceUID), 0))").prepared(as: .instanceLock)
        return try await holdingInstanceLock(sopInstanceUID: sopInstanceUID, lock: lock, reads: false) { _ in await body() }
    }

    /// One round trip for the lock and the read under it: `dicom_ingest_lock_instance` (migration 10).
    public func withInstanceLockReadingObjects<T: Sendable>(sopInstanceUID: String,
                                                            _ body: @Sendable (CommittedInstanceObjects?) async -> T) async throws -> T {
        let lock = SQLStatement("""
            SELECT listener_id, object_uri, metadata_uri FROM dicom_ingest_lock_instance(\(sopInstanceUID))
            """).prepared(as: .instanceLockReading)
        return try await holdingInstanceLock(sopInstanceUID: sopInstanceUID, lock: lock, reads: true, body)
    }

    /// Runs `lock` (which takes the session-level lock of `sopInstanceUID`, and when `reads` returns the
    /// row's objects), `body` with what it read, and the unlock.
    private func holdingInstanceLock<T: Sendable>(sopInstanceUID: String, lock: SQLStatement, reads: Bool,
                                                  _ body: @Sendable (CommittedInstanceObjects?) async -> T) async throws -> T {
        let lockClient = self.lockClient
        let database = self.database
        let logger = self.logger
        // `held` yields once the lock is granted, with what `lock` read (and finishes without yielding when
        // it cannot be); finishing `release` ends the transaction that holds it.
        let (held, heldSink) = AsyncStream.makeStream(of: CommittedInstanceObjects?.self)
        let (release, releaseSink) = AsyncStream.makeStream(of: Void.self)
        defer { releaseSink.finish() }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                defer { heldSink.finish() }
                try await lockClient.withConnection { connection in
                    let session = PostgresSession(connection: connection, logger: logger)
                    do {
                        let rows = try await session.query(lock)
                        heldSink.yield(reads ? try rows.first.map(CommittedInstanceObjects.init(row:)) : nil)
                        for await _ in release {}
                        // A session that ended meanwhile took its lock with it. (A query written to a closed
                        // connection is never answered, so it is not sent.)
                        guard !connection.isClosed else { return }
                        Self.releaseInstanceLock(sopInstanceUID: sopInstanceUID, on: connection, logger: logger)
                    } catch {
                        // Whether the session holds the lock is unknown (a cancelled wait may still be
                        // granted): closing ends the session, and every lock of it, for certain.
                        do {
                            try await connection.close()
                        } catch {
                            logger.debug("closing an instance lock connection failed")
                        }
                        throw error
                    }
                }
            }
            // Some(objects) once granted; nil when the lock task ended without the lock.
            let granted: CommittedInstanceObjects??
            do {
                granted = try await database.withDeadline(Self.instanceLockWait) {
                    var iterator = held.makeAsyncIterator()
                    return await iterator.next()
                }
            } catch {
                group.cancelAll()
                throw CatalogError(.unavailable, detail: "the instance lock was not granted in time")
            }
            guard let current = granted else {
                let reason: String
                do {
                    try await group.waitForAll()
                    reason = "ended"
                } catch {
                    reason = safeSummary(error)
                }
                throw CatalogError(.unavailable, detail: "cannot take the instance lock: \(reason)")
            }
            let value = await body(current)
            releaseSink.finish()
            do {
                try await group.waitForAll()
            } catch {
                // The commit step has run; its lock went with the closed connection.
                logger.warning("instance lock connection failed after the commit step; it was closed",
                               metadata: ["error": "\(safeSummary(error))"])
            }
            return value
        }
    }

    /// Sends the unlock of `sopInstanceUID` on the session that holds it, without waiting for its answer:
    /// the commit step is over, and the C-STORE answer need not wait a round trip more. The connection goes
    /// back to the pool at once; it runs its queries in order, so whatever it is leased for next runs after
    /// the unlock. An unlock that fails or finds no lock (neither happens while the session lives) closes the
    /// connection, which ends the session and every lock it holds.
    private static func releaseInstanceLock(sopInstanceUID: String, on connection: PostgresConnection, logger: Logger) {
        let unlock = SQLStatement("SELECT pg_advisory_unlock(hashtextextended(\(sopInstanceUID), 0))")
        connection.query(PostgresSession.postgresQuery(unlock), logger: logger).whenComplete { result in
            do {
                guard try result.get().rows.first?.decode(Bool.self) == true else {
                    throw CatalogError(.unavailable, detail: "the instance lock was not held at its release")
                }
            } catch {
                logger.warning("instance lock release failed; its connection is closed",
                               metadata: ["error": "\(safeSummary(error))"])
                connection.close().whenFailure { _ in logger.debug("closing an instance lock connection failed") }
            }
        }
    }
}
