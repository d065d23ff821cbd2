import Domain
import Foundation
@testable import Storage
import Testing

/// The SQLite catalog's prepared statements: compiled once per connection and text, at most a bounded
/// number kept, reset after every use whether it failed or not, finalized when the connection closes.
@Suite("SQLite statement cache")
struct SQLiteStatementCacheTests {
    /// A fresh database file in a temporary folder for `body`.
    private func withDatabasePath(_ body: (String) async throws -> Void) async throws {
        try await withTemporaryDirectory { dir in
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try await body(dir.appendingPathComponent("cache.sqlite").path)
        }
    }

    private func withHandle(capacity: Int = SQLiteHandle.defaultStatementCapacity, _ body: (SQLiteHandle) async throws -> Void) async throws {
        try await withDatabasePath { path in
            let handle = try await SQLiteHandle.open(path: path, statementCapacity: capacity)
            do {
                try await body(handle)
            } catch {
                try await handle.close()
                throw error
            }
            try await handle.close()
        }
    }

    @Test func statementRunTwiceIsCompiledOnceWithFreshBindings() async throws {
        try await withHandle { handle in
            let first = try await handle.query("SELECT ?1 + 1 AS n, ?2 AS t", [.int(41), .text("a")])
            let second = try await handle.query("SELECT ?1 + 1 AS n, ?2 AS t", [.int(1), .null])
            #expect(try first.map { try $0.decode("n", as: Int64.self) } == [42])
            #expect(try first.map { try $0.decode("t", as: String.self) } == ["a"])
            #expect(try second.map { try $0.decode("n", as: Int64.self) } == [2])
            #expect(try second.map { try $0.decode("t", as: String?.self) } == [nil])
            #expect(handle.statementStatistics == .init(compiles: 1, hits: 1, cached: 1))
        }
    }

    /// The values of the last run are overwritten, never read: a parameter given no value is NULL.
    @Test func parametersWithoutValuesAreNull() async throws {
        try await withHandle { handle in
            _ = try await handle.query("SELECT ?1 AS a, ?2 AS b", [.int(1), .int(2)])
            let rows = try await handle.query("SELECT ?1 AS a, ?2 AS b", [.int(3)])
            #expect(try rows.map { try $0.decode("a", as: Int64.self) } == [3])
            #expect(try rows.map { try $0.decode("b", as: Int64?.self) } == [nil])
        }
    }

    /// A plan that looked at a bound value (here the equality on `a` outside what the index delivers in
    /// order) is not compiled anew when the next run binds other values.
    @Test func plansThatLookAtBoundValuesAreNotRecompiled() async throws {
        try await withHandle { handle in
            _ = try await handle.query("CREATE TABLE s (a TEXT, b TEXT)", [])
            _ = try await handle.query("CREATE INDEX s_ab ON s (a, b)", [])
            for (a, b) in [("x", "CT"), ("x", "MR"), ("y", "US")] {
                _ = try await handle.query("INSERT INTO s (a, b) VALUES (?1, ?2)", [.text(a), .text(b)])
            }
            let before = handle.statementStatistics
            var seen: [[String]] = []
            for a in ["x", "y", "z", "x"] {
                let rows = try await handle.query("SELECT DISTINCT b FROM s WHERE a = ?1 AND b IS NOT NULL ORDER BY b", [.text(a)])
                seen.append(try rows.map { try $0.decode("b", as: String.self) })
            }
            #expect(seen == [["CT", "MR"], ["US"], [], ["CT", "MR"]])
            let after = handle.statementStatistics
            #expect(after.compiles == before.compiles + 1)
            #expect(after.recompiles == before.recompiles)
        }
    }

    /// The catalog's own statements, BEGIN and COMMIT included, are compiled on the first write of a kind
    /// only: a second write of the same kind compiles nothing.
    @Test func catalogWritesReuseTheirStatements() async throws {
        try await withTemporaryDirectory { dir in
            let catalog = try SQLiteCatalog(path: dir.appendingPathComponent("catalog.sqlite").path, logger: catalogTestLogger)
            do {
                try await catalog.migrate()
                try await catalog.createListener(ListenerConfig(name: "first", port: 11112))
                let before = try await catalog.database.writer.with { $0.statementStatistics }
                try await catalog.createListener(ListenerConfig(name: "second", port: 11113))
                let after = try await catalog.database.writer.with { $0.statementStatistics }
                #expect(after.compiles == before.compiles)
                #expect(after.hits > before.hits)
                #expect(try await catalog.listListeners().map(\.name) == ["first", "second"])

                // Instances of one study: after the first two, the next ones neither compile nor recompile.
                for i in 0..<2 { _ = try await catalog.recordInstance(makeInstance(sop: "1.2.9.\(i)", series: "1.2.8.\(i)")) }
                let study = try await catalog.database.writer.with { $0.statementStatistics }
                for i in 2..<5 { _ = try await catalog.recordInstance(makeInstance(sop: "1.2.9.\(i)", series: "1.2.8.\(i % 2)")) }
                let later = try await catalog.database.writer.with { $0.statementStatistics }
                #expect(later.compiles == study.compiles)
                #expect(later.recompiles == study.recompiles)
            } catch {
                await catalog.close()
                throw error
            }
            await catalog.close()
        }
    }

    /// More distinct texts than the cache holds: it keeps `capacity` of them, the most recently used, and
    /// every result stays right.
    @Test func cacheIsBoundedAndEvictsTheLeastRecentlyUsed() async throws {
        let capacity = 8
        try await withHandle(capacity: capacity) { handle in
            for k in 0..<20 {
                let rows = try await handle.query("SELECT ?1 * \(k) AS v", [.int(3)])
                #expect(try rows.map { try $0.decode("v", as: Int64.self) } == [3 * Int64(k)])
                #expect(handle.statementStatistics.cached == min(k + 1, capacity))
            }
            #expect(handle.statementStatistics == .init(compiles: 20, hits: 0, cached: capacity))

            // The most recent one is still compiled; the first one left and is compiled again.
            #expect(try await handle.query("SELECT ?1 * 19 AS v", [.int(2)]).map { try $0.decode("v", as: Int64.self) } == [38])
            #expect(handle.statementStatistics == .init(compiles: 20, hits: 1, cached: capacity))
            #expect(try await handle.query("SELECT ?1 * 0 AS v", [.int(2)]).map { try $0.decode("v", as: Int64.self) } == [0])
            #expect(handle.statementStatistics == .init(compiles: 21, hits: 1, cached: capacity))
        }
    }

    /// A step that fails leaves the statement reset: the same text runs again, without compiling, and
    /// answers the new values.
    @Test func failedStepDoesNotPoisonTheStatement() async throws {
        try await withHandle { handle in
            await #expect(throws: SQLiteResultError.self) {
                try await handle.query("SELECT abs(?1) AS a", [.int(Int64.min)])  // integer overflow
            }
            let rows = try await handle.query("SELECT abs(?1) AS a", [.int(-5)])
            #expect(try rows.map { try $0.decode("a", as: Int64.self) } == [5])
            #expect(handle.statementStatistics == .init(compiles: 1, hits: 1, cached: 1))
        }
    }

    @Test func constraintErrorsMapAsBeforeAndLeaveTheStatementUsable() async throws {
        try await withSQLiteCatalogDatabase { database in
            let create: SQLStatement = "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)"
            _ = try await database.write(create)
            func insert(_ k: Int64, _ v: String?) async throws {
                let statement: SQLStatement = "INSERT INTO t (k, v) VALUES (\(k), \(v))"
                _ = try await database.write(statement)
            }
            try await insert(1, "a")

            let unique = await #expect(throws: SQLUniqueViolation.self) { try await insert(2, "a") }
            #expect(unique?.constraint.contains("t.v") == true)
            let primaryKey = await #expect(throws: SQLUniqueViolation.self) { try await insert(1, "b") }
            #expect(primaryKey?.constraint.contains("t.k") == true)
            let notNull = await #expect(throws: SQLPermanentError.self) { try await insert(3, nil) }
            #expect(notNull?.kind == "sqlite constraintNotNullFailed")

            // The same INSERT text, after three refusals, with values that fit.
            try await insert(2, "b")
            let rows = try await database.read { session in try await session.query("SELECT k, v FROM t ORDER BY k") }
            #expect(try rows.map { try $0.decode("v", as: String.self) } == ["a", "b"])
            let insertCompiles = try await database.writer.with { $0.statementStatistics }
            // CREATE TABLE, BEGIN IMMEDIATE, INSERT, COMMIT, ROLLBACK (after the refusals): five texts.
            #expect(insertCompiles.compiles == 5)
        }
    }

    /// Through the catalog: a second listener of the same name is a conflict on `name`, and the next
    /// listener is created with the same statement.
    @Test func catalogUniqueViolationIsAConflict() async throws {
        try await withCatalog(.sqlite) { catalog in
            try await catalog.createListener(ListenerConfig(name: "ct-room", port: 11112))
            await expectCatalogError(.conflict, field: "name") {
                try await catalog.createListener(ListenerConfig(name: "ct-room", port: 2000))
            }
            try await catalog.createListener(ListenerConfig(name: "mr-room", port: 2000))
            #expect(try await catalog.listListeners().map(\.name) == ["ct-room", "mr-room"])
        }
    }

    /// `sqlite3_close` (not `close_v2`) refuses with SQLITE_BUSY while any statement is unfinalized, so a
    /// close that succeeds with statements in the cache proves they were finalized.
    @Test func closeFinalizesTheCachedStatements() async throws {
        try await withDatabasePath { path in
            let handle = try await SQLiteHandle.open(path: path)
            _ = try await handle.query("CREATE TABLE t (k INTEGER)", [])
            _ = try await handle.query("INSERT INTO t (k) VALUES (?1)", [.int(1)])
            _ = try await handle.query("SELECT k FROM t", [])
            #expect(handle.statementStatistics.cached == 3)
            try await handle.close()
            #expect(handle.statementStatistics.cached == 0)
            let closed = await #expect(throws: SQLiteResultError.self) { try await handle.query("SELECT k FROM t", []) }
            #expect(closed?.message == "the connection is closed")
            try await handle.close()  // a second close does nothing
        }
    }
}
