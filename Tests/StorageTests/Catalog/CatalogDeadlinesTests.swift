import Domain
import Foundation
import PostgresNIO
@testable import Storage
import Synchronization
import Testing

/// `CatalogDeadlines`: one sweeping clock bounds every catalog operation; results and errors pass
/// through unchanged, an operation past its deadline is cancelled and awaited, then reported as
/// `CatalogError(.unavailable)`.
@Suite("Catalog deadlines")
struct CatalogDeadlinesTests {
    /// Runs `body` while `deadlines.run()` sweeps.
    private func sweeping(_ deadlines: CatalogDeadlines, _ body: () async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await deadlines.run() }
            // `withDeadline` only uses the sweeper once `run()` has counted itself in.
            while !deadlines.isSweeping { await Task.yield() }
            defer { group.cancelAll() }
            try await body()
        }
    }

    private struct Refused: Error, Equatable {}

    @Test func resultsAndErrorsPassThrough() async throws {
        let deadlines = CatalogDeadlines(tick: .milliseconds(10))
        try await sweeping(deadlines) {
            let value = try await deadlines.withDeadline(.seconds(60)) { 42 }
            #expect(value == 42)
            await #expect(throws: Refused()) {
                try await deadlines.withDeadline(.seconds(60)) { () async throws -> Int in throw Refused() }
            }
            #expect(deadlines.pendingCount == 0)
        }
    }

    /// An operation that would never end is cancelled once the sweeper finds it past its deadline, and
    /// the caller learns of it only after the operation has ended.
    @Test func expiredOperationIsCancelledAndAwaited() async throws {
        let deadlines = CatalogDeadlines(tick: .milliseconds(10))
        let ended = Mutex(false)
        try await sweeping(deadlines) {
            await expectCatalogError(.unavailable) {
                _ = try await deadlines.withDeadline(.milliseconds(50)) { () async throws -> Int in
                    defer { ended.withLock { $0 = true } }
                    try await Task.sleep(for: .seconds(3600))
                    return 0
                }
            }
            #expect(ended.withLock { $0 })
            #expect(deadlines.pendingCount == 0)
        }
    }

    /// Expiry only settles operations at or past their deadline.
    @Test func expireLeavesOperationsBeforeTheirDeadline() async throws {
        let deadlines = CatalogDeadlines(tick: .seconds(3600))
        try await sweeping(deadlines) {
            try await withThrowingTaskGroup(of: Int.self) { group in
                let release = AsyncStream<Void>.makeStream()
                group.addTask {
                    try await deadlines.withDeadline(.seconds(3600)) {
                        for await _ in release.stream { break }
                        return 7
                    }
                }
                while deadlines.pendingCount == 0 { await Task.yield() }
                deadlines.expire(at: .now)
                #expect(deadlines.pendingCount == 1)
                release.continuation.yield()
                let value = try await group.next()
                #expect(value == 7)
            }
        }
    }

    /// Without a sweeper (the catalog's service not running) an operation still has a deadline.
    @Test func withoutSweeperOperationsHaveTheirOwnTimer() async throws {
        let deadlines = CatalogDeadlines(tick: .seconds(3600))
        #expect(!deadlines.isSweeping)
        await expectCatalogError(.unavailable) {
            _ = try await deadlines.withDeadline(.milliseconds(50)) { () async throws -> Int in
                try await Task.sleep(for: .seconds(3600))
                return 0
            }
        }
        #expect(try await deadlines.withDeadline(.seconds(60)) { "done" } == "done")
    }

    /// A cancelled caller cancels its operation.
    @Test func cancelledCallerCancelsTheOperation() async throws {
        let deadlines = CatalogDeadlines(tick: .seconds(3600))
        try await sweeping(deadlines) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    await #expect(throws: CancellationError.self) {
                        try await deadlines.withDeadline(.seconds(3600)) { () async throws -> Int in
                            try await Task.sleep(for: .seconds(3600))
                            return 0
                        }
                    }
                }
                while deadlines.pendingCount == 0 { await Task.yield() }
                group.cancelAll()
                try await group.waitForAll()
            }
            #expect(deadlines.pendingCount == 0)
        }
    }

    /// A page query waiting on a lock another session holds ends in `CatalogError(.unavailable)` at the
    /// catalog's operation timeout, and the catalog answers again once the lock is gone.
    @Test func studiesQueryBlockedByALockIsUnavailable() async throws {
        try await withFreshPostgresDatabase { server, name in
            let catalog = try PostgresCatalog(url: server.url(database: name), logger: catalogTestLogger,
                                              operationTimeout: .seconds(3))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await catalog.run() }
                defer { group.cancelAll() }
                try await catalog.migrate()
                try await catalog.recordInstance(makeInstance(sop: "1", series: "1.s", study: "1.2.1", at: at(100)))
                let configuration = PostgresConnection.Configuration(
                    host: server.host, port: server.port, username: server.user, password: server.password,
                    database: name, tls: .disable)
                let holder = try await PostgresConnection.connect(configuration: configuration, id: 3, logger: catalogTestLogger)
                try await holder.query("BEGIN", logger: catalogTestLogger)
                try await holder.query("LOCK TABLE studies IN ACCESS EXCLUSIVE MODE", logger: catalogTestLogger)
                try await withThrowingTaskGroup(of: Void.self) { blocked in
                    // The lock is released well after the deadline (the cancelled query waits for it to end;
                    // the timeout leaves room for the other calls on a loaded test machine).
                    blocked.addTask {
                        try await Task.sleep(for: .seconds(8))
                        try await holder.query("ROLLBACK", logger: catalogTestLogger)
                    }
                    await expectCatalogError(.unavailable) {
                        _ = try await catalog.studies(filter: StudyFilter(), page: PageRequest())
                    }
                    try await blocked.waitForAll()
                }
                try await holder.close()
                let page = try await catalog.studies(filter: StudyFilter(), page: PageRequest())
                #expect(page.items.map(\.studyInstanceUID) == ["1.2.1"])
            }
        }
    }
}
