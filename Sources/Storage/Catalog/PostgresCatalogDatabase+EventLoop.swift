import Domain
import NIOCore
import PostgresNIO

extension PostgresCatalogDatabase {
    /// Leases a catalog connection and runs `body` with it on the connection's own event loop, so each
    /// statement's answer resumes the operation on the thread that read it (`EventLoopTaskExecutor`):
    /// a transaction of N statements costs two thread wake-ups instead of 2N. Every catalog operation
    /// (transaction, one-statement write, read) goes through here; migrations do not.
    func withLoopConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await EventLoopTaskExecutor.run(on: connection.eventLoop) { try await body(connection) }
        }
    }
}
