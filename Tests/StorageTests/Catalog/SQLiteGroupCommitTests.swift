import Foundation
@testable import Storage
import Testing

/// Group commit of the SQLite catalog's writes: writes that queue behind a running transaction share the
/// next one, each in its own SAVEPOINT; a failing write is undone alone and gets its own error.
@Suite("SQLite group commit")
struct SQLiteGroupCommitTests {
    struct Refused: Error, Equatable {
        let index: Int
    }

    private func withDatabase(_ body: (SQLiteCatalogDatabase) async throws -> Void) async throws {
        try await withSQLiteCatalogDatabase { database in
            _ = try await database.write { session in
                try await session.query("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL)")
            }
            try await body(database)
        }
    }

    @Test func concurrentWritesShareTransactionsAndFailuresStayAlone() async throws {
        try await withDatabase { database in
            // The first write holds the transaction open until the others have queued behind it.
            let gate = AsyncStream<Void>.makeStream()
            let count = 40
            let results = try await withThrowingTaskGroup(of: (Int, Result<Int, Refused>).self) { group in
                group.addTask {
                    let value = try await database.write { session in
                        try await session.query("INSERT INTO t (k, v) VALUES (\(Int64(-1)), \("first"))")
                        for await _ in gate.stream { break }
                        return -1
                    }
                    return (-1, .success(value))
                }
                for i in 0..<count {
                    group.addTask {
                        do {
                            let value = try await database.write { session in
                                try await session.query("INSERT INTO t (k, v) VALUES (\(i), \("v\(i)"))")
                                if i % 7 == 3 { throw Refused(index: i) }
                                // Optional results come back unchanged through the queue.
                                let none: Int? = nil
                                return none ?? i
                            }
                            return (i, .success(value))
                        } catch let refused as Refused {
                            return (i, .failure(refused))
                        }
                    }
                }
                try await Task.sleep(for: .milliseconds(300))
                gate.continuation.yield()
                gate.continuation.finish()
                var all: [Int: Result<Int, Refused>] = [:]
                for try await (i, result) in group { all[i] = result }
                return all
            }
            #expect(results.count == count + 1)
            for i in 0..<count {
                if i % 7 == 3 {
                    #expect(results[i] == .failure(Refused(index: i)), "write \(i) gets its own error")
                } else {
                    #expect(results[i] == .success(i))
                }
            }
            let rows = try await database.read { session in
                try await session.query("SELECT k FROM t ORDER BY k").map { try $0.decode("k", as: Int64.self) }
            }
            let expected = [-1] + (0..<count).filter { $0 % 7 != 3 }.map(Int64.init)
            #expect(rows == expected, "every write committed except the refused ones")
        }
    }

    @Test func optionalResultsSurviveTheQueue() async throws {
        try await withDatabase { database in
            let none: String? = try await database.write { _ in nil }
            #expect(none == nil)
            let some: String? = try await database.write { _ in "x" }
            #expect(some == "x")
        }
    }
}
