import Domain
import Foundation
import Logging
import PostgresNIO
@testable import Storage
import Testing

/// What the PostgreSQL catalog costs the server per call: a write of one statement runs without BEGIN and
/// COMMIT (one round trip), and the statements every instance runs are prepared once per connection.
@Suite(.serialized) struct PostgresRoundTripTests {
    private func withPostgresCatalog(_ body: (PostgresCatalog) async throws -> Void) async throws {
        try await withMigratedPostgresCatalog { _, _, catalog in
            try await body(catalog)
        }
    }

    /// VACUUM refuses to run inside a transaction block (SQLSTATE 25001): it runs only as a statement that is
    /// its own transaction, with no BEGIN before it.
    @Test func aOneStatementWriteIsItsOwnTransaction() async throws {
        try await withPostgresCatalog { catalog in
            _ = try await catalog.database.write("VACUUM studies")
            // The same statement as a transaction body follows a BEGIN, and is refused.
            await #expect(throws: PSQLError.self) {
                try await catalog.database.write { session in try await session.query("VACUUM studies") }
            }
        }
    }

    @Test func aOneStatementWriteKeepsTheCatalogErrors() async throws {
        try await withPostgresCatalog { catalog in
            let id = UUID()
            let insert: SQLStatement = """
                INSERT INTO event_sinks (id, name, kind, enabled, settings, event_types, listener_ids, created_at, updated_at)
                VALUES (\(id), 'sink', 'webhook', true, '{}', '', '', now(), now())
                """
            do {
                try await catalog.write(insert)
            } catch {
                Issue.record("the first insert failed: \(error)")
            }
            await #expect(throws: CatalogError.self) { try await catalog.write(insert) }
        }
    }

    @Test func theCommittedObjectsReadIsPreparedOncePerConnection() async throws {
        try await withPostgresCatalog { catalog in
            _ = try await catalog.recordInstance(makeInstance(sop: "6.1"))
            let (first, second, prepared) = try await catalog.database.read { session in
                let first = try await session.query(SQLCatalogAccess.committedObjects("6.1"))
                let second = try await session.query(SQLCatalogAccess.committedObjects("6.2"))
                let prepared = try await session.query("SELECT name FROM pg_prepared_statements ORDER BY name")
                return (first, second, try prepared.map { try $0.decode("name", as: String.self) })
            }
            #expect(try first.first?.decode("object_uri", as: String.self) == makeInstance(sop: "6.1").objectURI)
            #expect(second.isEmpty)
            #expect(prepared.contains(PreparedStatementName.committedObjects.serverName))
        }
    }

    /// A claim comes back through the prepared statement: its rows decode to the values an unprepared read
    /// gives (timestamps, UUIDs, NULLs, integers).
    @Test func aPreparedClaimReadsTheRowAsAnUnpreparedReadDoes() async throws {
        try await withPostgresCatalog { catalog in
            var record = makeInstance(sop: "6.3", number: nil)
            record.storageState = .spooled
            record.storedAt = nil
            record.spoolID = "spool-1"
            _ = try await catalog.recordInstance(record)
            for round in 0..<7 {
                // Past the fifth execution PostgreSQL may plan the statement generically: the rows stay the same.
                let claimed = try await catalog.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10,
                                                             now: at(Double(1000 * round)), leaseUntil: at(Double(1000 * round + 500)))
                let read = try await catalog.instance(sopInstanceUID: "6.3")
                #expect(claimed.map(\.record) == [read].compactMap { $0 })
                #expect(claimed.first?.record.instanceNumber == nil)
            }
        }
    }

    @Test func aTextOtherThanTheAdmittedOneRunsUnprepared() {
        let texts = PreparedSQLTexts()
        #expect(texts.admit(.forwardSettle, sql: "SELECT 1"))
        #expect(texts.admit(.forwardSettle, sql: "SELECT 1"))
        #expect(!texts.admit(.forwardSettle, sql: "SELECT 2"))
        #expect(texts.text(.forwardSettle) == "SELECT 1")
        #expect(texts.admit(.forwardClaim, sql: "SELECT 2"))
    }
}

/// The catalog's statements as a test builds them (the static members of the `SQLCatalog` extension need a
/// conforming type).
enum SQLCatalogAccess {
    static func committedObjects(_ uid: String) -> SQLStatement { PostgresCatalog.committedObjectsStatement(uid) }
}
