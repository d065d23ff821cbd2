import Domain
import Foundation
import Logging
import PostgresNIO
@testable import Storage
import Testing

/// Listener changes reach every node through PostgreSQL `LISTEN`/`NOTIFY` (migration 0004's trigger and
/// `PostgresCatalog.watchListenerChanges`), against the real server of TEST_POSTGRES_URL.
@Suite(.serialized) struct PostgresListenerNotificationTests {
    /// Payloads of channel `dicom_ingest_listeners` as a plain client sees them, for `body`.
    func withRawListen(_ server: PostgresTestServer, database: String,
                       _ body: (AsyncStream<String>) async throws -> Void) async throws {
        let configuration = PostgresConnection.Configuration(
            host: server.host, port: server.port, username: server.user, password: server.password,
            database: database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 7, logger: catalogTestLogger)
        let (payloads, sink) = AsyncStream.makeStream(of: String.self)
        let (subscribed, subscribedSink) = AsyncStream.makeStream(of: Void.self)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await connection.listen(on: PostgresCatalog.listenerChannel) { notifications in
                        subscribedSink.yield()
                        for try await notification in notifications { sink.yield(notification.payload) }
                    }
                }
                _ = try await next(subscribed, "LISTEN")
                try await body(payloads)
                group.cancelAll()
            }
        } catch {
            try await connection.close()
            throw error
        }
        try await connection.close()
    }

    @Test func listenerWritesNotifyOnCommitAndStateReportsDoNot() async throws {
        try await withTwoPostgresNodes { server, name, a, _ in
            try await withRawListen(server, database: name) { payloads in
                let first = ListenerConfig(name: "ct-room", port: 21001)
                try await a.createListener(first)
                #expect(try await next(payloads, "create") == first.id.uuidString.lowercased())

                // A node reporting what it runs is not a change: the next notification is the next write's.
                try await a.setListenerState(id: first.id, state: .running, error: nil)
                try await a.setListenerState(id: first.id, state: .failed, error: "cannot bind")
                // A refused write rolls back and notifies nobody.
                await expectCatalogError(.conflict, field: "port") {
                    try await a.createListener(ListenerConfig(name: "taken-port", port: 21001))
                }
                let second = ListenerConfig(name: "mr-room", port: 21002)
                try await a.createListener(second)
                #expect(try await next(payloads, "second create") == second.id.uuidString.lowercased())

                var moved = first
                moved.port = 21003
                try await a.updateListener(moved)
                #expect(try await next(payloads, "update") == first.id.uuidString.lowercased())

                try await a.deleteListener(id: second.id)
                #expect(try await next(payloads, "delete") == second.id.uuidString.lowercased())
            }
        }
    }

    @Test func anotherNodeHearsOfAChangeAndSubscribesAgainAfterLosingItsConnection() async throws {
        try await withTwoPostgresNodes { server, name, a, b in
            let (changes, sink) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await b.watchListenerChanges(retryDelay: .milliseconds(100)) { sink.yield() } }
                _ = try await next(changes, "first subscription")

                try await a.createListener(ListenerConfig(name: "ct-room", port: 21011))
                _ = try await next(changes, "change from the other node")

                // The server ends the subscribed session (as a failover or an idle-session killer would).
                let terminated = try await server.query(database: server.database, """
                    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                    WHERE datname = \(name) AND query LIKE 'LISTEN%'
                    """)
                #expect(terminated.count == 1)
                _ = try await next(changes, "subscription after the connection was lost")

                try await a.createListener(ListenerConfig(name: "mr-room", port: 21012))
                _ = try await next(changes, "change after subscribing again")
                group.cancelAll()
            }
        }
    }
}
