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
}
