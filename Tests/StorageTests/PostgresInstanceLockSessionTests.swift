import Domain
import Foundation
import Logging
import PostgresNIO
@testable import Storage
import Testing

/// What a held instance lock (`PostgresCatalog.withInstanceLock`) leaves on the server of TEST_POSTGRES_URL
/// while the commit step it guards writes the objects: a session holding the lock, and no open transaction.
@Suite(.serialized) struct PostgresInstanceLockSessionTests {
    /// `state` (pg_stat_activity) of every backend of `database` that holds an advisory lock.
    func lockHolderStates(_ server: PostgresTestServer, _ database: String) async throws -> [String] {
        let rows = try await server.query(database: server.database, """
            SELECT a.state FROM pg_locks l JOIN pg_database d ON d.oid = l.database
            JOIN pg_stat_activity a ON a.pid = l.pid
            WHERE l.locktype = 'advisory' AND d.datname = \(database) AND l.granted
            """)
        return try rows.map { try $0.decode(String.self) }
    }

    /// An open transaction would be cut by `idle_in_transaction_session_timeout` during a slow object write,
    /// and costs BEGIN and COMMIT round trips on every C-STORE: the lock is held by an idle session.
    @Test func aHeldLockKeepsNoTransactionOpen() async throws {
        try await withTwoPostgresNodes { server, name, a, _ in
            let (held, heldSink) = AsyncStream.makeStream(of: Void.self)
            let (gate, gateSink) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await a.withInstanceLock(sopInstanceUID: "1.2.3.4.5") {
                        heldSink.yield()
                        for await _ in gate {}
                    }
                }
                _ = try await next(held, "node a holding the lock")
                #expect(try await lockHolderStates(server, name) == ["idle"])
                gateSink.finish()
                try await group.waitForAll()
            }
            // The unlock is sent as the step ends; its answer is not waited for.
            try await waitUntil("every lock released") { try await lockHolderStates(server, name) == [] }
        }
    }

    /// The session-level lock is released at the end of the step, not only with its connection: the
    /// pooled connection that held it takes the same UID again at once, and so does another node.
    @Test func aReleasedLockIsFreeForTheSameAndTheOtherNode() async throws {
        try await withTwoPostgresNodes { server, name, a, b in
            for round in 0..<3 {
                let first = try await a.withInstanceLock(sopInstanceUID: "1.2.3.4.5") { round }
                let second = try await b.withInstanceLock(sopInstanceUID: "1.2.3.4.5") { round + 10 }
                #expect(first == round)
                #expect(second == round + 10)
            }
            // The unlock is sent as the step ends; its answer is not waited for.
            try await waitUntil("every lock released") { try await lockHolderStates(server, name) == [] }
        }
    }
}
