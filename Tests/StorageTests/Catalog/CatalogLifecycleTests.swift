import Domain
import Foundation
import Logging
import ServiceLifecycle
import Storage
import Testing

/// Both catalogs run as Services in a ServiceGroup and stop on graceful shutdown.
@Suite("Catalog lifecycle")
struct CatalogLifecycleTests {
    @Test func postgresCatalogStopsOnGracefulShutdown() async throws {
        try await withFreshPostgresDatabase { server, name in
            let catalog = try PostgresCatalog(url: server.url(database: name), logger: catalogTestLogger)
            let group = ServiceGroup(services: [catalog], gracefulShutdownSignals: [], logger: catalogTestLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await catalog.migrate()
                try await catalog.ping()
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    @Test func sqliteCatalogClosesOnGracefulShutdown() async throws {
        try await withTemporaryDirectory { dir in
            let catalog = try SQLiteCatalog(path: dir.appendingPathComponent("c.sqlite").path, logger: catalogTestLogger)
            let group = ServiceGroup(services: [catalog], gracefulShutdownSignals: [], logger: catalogTestLogger)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                try await catalog.migrate()
                try await catalog.ping()
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            await expectCatalogError(.unavailable) { try await catalog.ping() }
        }
    }

    /// Nothing listens on port 1: calls end in `CatalogError(.unavailable)` once the deadline passes,
    /// instead of waiting for the pool's reconnect attempts.
    @Test func unreachablePostgresIsUnavailable() async throws {
        let catalog = try PostgresCatalog(url: "postgres://u:p@127.0.0.1:1/db?sslmode=disable", logger: catalogTestLogger,
                                          operationTimeout: .seconds(1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await catalog.run() }
            await expectCatalogError(.unavailable) { try await catalog.ping() }
            await expectCatalogError(.unavailable) { _ = try await catalog.listListeners() }
            await expectCatalogError(.unavailable) { try await catalog.recordInstance(makeInstance(sop: "u.1")) }
            group.cancelAll()
        }
    }
}
