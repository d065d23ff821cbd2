import NIOCore
import PostgresNIO
@testable import Storage
import Testing

/// A PostgreSQL catalog operation runs on the event loop of the connection it holds, so that its
/// statements' answers resume it on the same thread (no hop to Swift's pool and back per round trip).
@Suite("PostgreSQL operations on their connection's loop")
struct PostgresLoopConnectionTests {
    /// Every kind of catalog operation (a transaction, a one-statement write, a read) runs its SQL on the
    /// loop of the connection it leased.
    @Test func catalogOperationsRunOnTheirConnectionsLoop() async throws {
        try await withMigratedPostgresCatalog { _, _, catalog in
            let database = catalog.database
            let inTransaction = try await database.write { session -> Bool in
                let connection = try #require(session as? PostgresSession).connection
                _ = try await session.query("SELECT 1 AS one")
                let afterFirst = connection.eventLoop.inEventLoop
                _ = try await session.query("SELECT 2 AS two")
                return afterFirst && connection.eventLoop.inEventLoop
            }
            #expect(inTransaction)
            let inRead = try await database.read { session -> Bool in
                let connection = try #require(session as? PostgresSession).connection
                _ = try await session.query("SELECT 1 AS one")
                return connection.eventLoop.inEventLoop
            }
            #expect(inRead)
        }
    }
}
