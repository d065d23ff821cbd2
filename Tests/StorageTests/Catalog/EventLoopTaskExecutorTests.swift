import NIOCore
import NIOPosix
import PostgresNIO
@testable import Storage
import Testing

/// A PostgreSQL catalog operation runs on the event loop of the connection it holds, so that its
/// statements' answers resume it on the same thread (no hop to Swift's pool and back per round trip).
@Suite("Event loop task executor")
struct EventLoopTaskExecutorTests {
    @Test func aPreferringTaskStaysOnTheLoopAcrossSuspensionsThatCompleteElsewhere() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loop = group.next()
        var other = group.next()
        while other === loop { other = group.next() }
        let answering = other
        let onLoop = try await PostgresCatalogDatabase.onConnectionLoop(loop) {
            var every: [Bool] = []
            for index in 0..<20 {
                every.append(loop.inEventLoop)
                // A future completed on another loop (as an answer read by another channel would be).
                let value = try await answering.submit { index }.get()
                #expect(value == index)
                every.append(loop.inEventLoop)
                try await Task.sleep(for: .milliseconds(1))
            }
            return every
        }
        #expect(onLoop.count == 40)
        #expect(onLoop.allSatisfy { $0 })
        #expect(!loop.inEventLoop)
        try await group.shutdownGracefully()
    }

    @Test func childTasksInheritTheLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let children = try await PostgresCatalogDatabase.onConnectionLoop(loop) {
            await withTaskGroup(of: Bool.self) { tasks in
                for _ in 0..<8 { tasks.addTask { loop.inEventLoop } }
                var all: [Bool] = []
                for await onLoop in tasks { all.append(onLoop) }
                return all
            }
        }
        #expect(children == Array(repeating: true, count: 8))
        let detached = await Task.detached { loop.inEventLoop }.value
        #expect(!detached)
        try await group.shutdownGracefully()
    }

    /// Every kind of catalog operation (a transaction, a one-statement write, a read) runs its SQL on the
    /// loop of the connection it leased.
    @Test func catalogOperationsRunOnTheirConnectionsLoop() async throws {
        try await withFreshPostgresDatabase { server, name in
            try await withRunningPostgresCatalog(url: server.url(database: name)) { catalog in
                try await catalog.migrate()
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
}
