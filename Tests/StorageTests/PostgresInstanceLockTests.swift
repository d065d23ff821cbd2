import Domain
import Foundation
import Logging
import PostgresNIO
@testable import Storage
import Testing

/// Receives of one SOP Instance UID on different nodes serialise through the catalog
/// (`PostgresCatalog.withInstanceLock`), against the real server of TEST_POSTGRES_URL.
@Suite(.serialized) struct PostgresInstanceLockTests {
    actor Journal {
        var entries: [String] = []
        func add(_ entry: String) { entries.append(entry) }
    }

    /// Advisory locks of `database` that a session waits for (granted = false) or holds.
    func advisoryLocks(_ server: PostgresTestServer, _ database: String, granted: Bool) async throws -> Int {
        let rows = try await server.query(database: server.database, """
            SELECT count(*)::int8 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
            WHERE l.locktype = 'advisory' AND d.datname = \(database) AND l.granted = \(granted)
            """)
        guard let row = rows.first else { return 0 }
        return Int(try row.decode(Int64.self))
    }

    @Test func aSecondNodeWaitsUntilTheFirstHasCommitted() async throws {
        try await withTwoPostgresNodes { server, name, a, b in
            let journal = Journal()
            let (held, heldSink) = AsyncStream.makeStream(of: Void.self)
            let (gate, gateSink) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await a.withInstanceLock(sopInstanceUID: "1.2.3.4.5") {
                        await journal.add("a starts")
                        heldSink.yield()
                        for await _ in gate {}
                        await journal.add("a ends")
                    }
                }
                _ = try await next(held, "node a holding the lock")
                group.addTask {
                    try await b.withInstanceLock(sopInstanceUID: "1.2.3.4.5") { await journal.add("b runs") }
                }
                // PostgreSQL itself shows node b waiting for the lock node a holds.
                try await waitUntil("node b waiting") { try await advisoryLocks(server, name, granted: false) == 1 }
                #expect(await journal.entries == ["a starts"])
                gateSink.finish()
                try await group.waitForAll()
            }
            #expect(await journal.entries == ["a starts", "a ends", "b runs"])
            // The unlock is sent as the step ends; its answer is not waited for.
            try await waitUntil("every lock released") { try await advisoryLocks(server, name, granted: true) == 0 }
        }
    }

    /// The lock and the read under it are one call (`dicom_ingest_lock_instance`): a read that waited for
    /// the lock sees the row the holder committed meanwhile, not the catalog as it was when the call began.
    @Test func theReadUnderTheLockSeesWhatTheHolderCommitted() async throws {
        try await withTwoPostgresNodes { server, name, a, b in
            let instance = makeInstance(sop: "1.2.3.4.7")
            let (held, heldSink) = AsyncStream.makeStream(of: Void.self)
            let (gate, gateSink) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    let before = try await a.withInstanceLockReadingObjects(sopInstanceUID: instance.sopInstanceUID) { current in
                        heldSink.yield()
                        for await _ in gate {}
                        return current
                    }
                    #expect(before == nil)
                }
                _ = try await next(held, "node a holding the lock")
                group.addTask {
                    let seen = try await b.withInstanceLockReadingObjects(sopInstanceUID: instance.sopInstanceUID) { $0 }
                    #expect(seen == CommittedInstanceObjects(instance))
                }
                try await waitUntil("node b waiting") { try await advisoryLocks(server, name, granted: false) == 1 }
                // Node a commits while node b waits, then lets go.
                try await a.recordInstance(instance)
                gateSink.finish()
                try await group.waitForAll()
            }
            // The unlock is sent as the step ends; its answer is not waited for.
            try await waitUntil("every lock released") { try await advisoryLocks(server, name, granted: true) == 0 }
        }
    }

    @Test func otherInstancesDoNotWait() async throws {
        try await withTwoPostgresNodes { _, _, a, b in
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
                // Completes while node a still holds its lock (a wait here would hang until the bound).
                let value = try await b.withInstanceLock(sopInstanceUID: "1.2.3.4.6") { 42 }
                #expect(value == 42)
                gateSink.finish()
                try await group.waitForAll()
            }
        }
    }

    @Test func aLockGoesWithItsNodesSession() async throws {
        try await withTwoPostgresNodes { server, name, a, b in
            let (held, heldSink) = AsyncStream.makeStream(of: Void.self)
            let (gate, gateSink) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // The body's result stands even though the lock's connection is gone by the end.
                    let value = try await a.withInstanceLock(sopInstanceUID: "1.2.3.4.5") {
                        heldSink.yield()
                        for await _ in gate {}
                        return "committed"
                    }
                    #expect(value == "committed")
                }
                _ = try await next(held, "node a holding the lock")
                // Node a's session dies (a killed process, a lost connection): the server drops its locks.
                let terminated = try await server.query(database: server.database, """
                    SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                    WHERE l.locktype = 'advisory' AND d.datname = \(name) AND l.granted
                    """)
                #expect(terminated.count == 1)
                let value = try await b.withInstanceLock(sopInstanceUID: "1.2.3.4.5") { "b" }
                #expect(value == "b")
                gateSink.finish()
                try await group.waitForAll()
            }
        }
    }
}
