import Domain
import Foundation
import Logging
import Synchronization
@testable import Storage
import Testing

/// The round trips of the per-instance catalog calls on PostgreSQL, counted at the session: the SQL of
/// `SQLCatalog` over the catalog's own PostgreSQL connections, with every statement and transaction noted.
@Suite(.serialized) struct PostgresStatementCountTests {
    /// What reached the database, in order: `begin` and `commit` stand for the BEGIN and COMMIT of a
    /// transaction body; every other entry is one statement (its prepared name, or "sql").
    final class Log: Sendable {
        private let entries = Mutex<[String]>([])
        func note(_ entry: String) { entries.withLock { $0.append(entry) } }
        func take() -> [String] { entries.withLock { entries in defer { entries = [] }; return entries } }
    }

    struct CountingSession: SQLSession {
        let inner: any SQLSession
        let log: Log
        func query(_ statement: SQLStatement) async throws -> [SQLRow] {
            log.note(statement.preparedName?.rawValue ?? "sql")
            return try await inner.query(statement)
        }
    }

    struct CountingDatabase: CatalogDatabase {
        let inner: PostgresCatalogDatabase
        let log: Log
        var dialect: SQLDialect { .postgres }
        func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
            let log = self.log
            return try await inner.write { session in
                log.note("begin")
                let value = try await body(CountingSession(inner: session, log: log))
                log.note("commit")
                return value
            }
        }
        func write(_ statement: SQLStatement) async throws -> [SQLRow] {
            log.note(statement.preparedName?.rawValue ?? "sql")
            return try await inner.write(statement)
        }
        func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
            let log = self.log
            return try await inner.read { session in try await body(CountingSession(inner: session, log: log)) }
        }
        func migrate(_ migrations: [Migration]) async throws -> [Migration] { try await inner.migrate(migrations) }
    }

    /// The shared SQL over counted connections (the instance lock is PostgresCatalog's and not counted here).
    final class CountingCatalog: SQLCatalog {
        let database: CountingDatabase
        let logger = catalogTestLogger
        let eventSubscriptions = EventSubscriptionCache(source: "urn:test")
        init(_ catalog: PostgresCatalog, log: Log) { database = CountingDatabase(inner: catalog.database, log: log) }
        func ping() async throws {}
        func withInstanceLock<T: Sendable>(sopInstanceUID: String, _ body: @Sendable () async -> T) async throws -> T { await body() }
    }

    private func withCountingCatalog(_ body: (CountingCatalog, Log) async throws -> Void) async throws {
        try await withMigratedPostgresCatalog { _, _, catalog in
            let log = Log()
            let counting = CountingCatalog(catalog, log: log)
            try await counting.refreshEventSubscriptions()
            _ = log.take()
            try await body(counting, log)
        }
    }

    /// A first receive: one prepared call of `dicom_ingest_record_instance` (instance, association
    /// counter, series and study, study recount, outbox marker), with no transaction block around it.
    @Test func aFirstReceiveIsOnePreparedCall() async throws {
        try await withCountingCatalog { catalog, log in
            _ = try await catalog.recordInstance(makeInstance(sop: "8.1"))
            #expect(log.take() == ["record_instance"])
            let study = try #require(try await catalog.study(uid: "1.2.3"))
            #expect(study.instanceCount == 1 && study.seriesCount == 1 && study.totalBytes == 1000)
            _ = log.take()
            // A second instance of the same series and study: the same call.
            _ = try await catalog.recordInstance(makeInstance(sop: "8.2"))
            #expect(log.take() == ["record_instance"])
            let after = try #require(try await catalog.study(uid: "1.2.3"))
            #expect(after.instanceCount == 2 && after.seriesCount == 1 && after.totalBytes == 2000)
        }
    }

    /// A repeat is the same one call: the function takes its repeat path and moves the aggregates itself.
    @Test func aRepeatIsTheSameCall() async throws {
        try await withCountingCatalog { catalog, log in
            _ = try await catalog.recordInstance(makeInstance(sop: "8.3"))
            _ = log.take()
            let again = try await catalog.recordInstance(makeInstance(sop: "8.3", size: 1500))
            #expect(again.receiveCount == 2)
            #expect(log.take() == ["record_instance"])
            let study = try #require(try await catalog.study(uid: "1.2.3"))
            #expect(study.instanceCount == 1 && study.totalBytes == 1500)
        }
    }

    /// The association rows: each write one statement, no transaction block (no sink wants its end event).
    @Test func associationRowsAreOneStatementEach() async throws {
        try await withCountingCatalog { catalog, log in
            let association = AssociationRecord(listenerID: UUID(), callingAETitle: "A", calledAETitle: "B", peerAddress: "p")
            try await catalog.startAssociation(association)
            try await catalog.recordFailure(associationID: association.id)
            try await catalog.addRejectedAttempts(associationID: association.id, count: 2)
            try await catalog.endAssociation(id: association.id, outcome: .released, endedAt: at(5))
            #expect(log.take() == ["sql", "sql", "sql", "sql"])
            let row = try #require(try await catalog.associations(listenerID: nil, page: PageRequest()).items.first)
            #expect(row.instancesFailed == 1 && row.attempts == association.attempts + 2 && row.outcome == .released)
            await #expect(throws: CatalogError.self) { try await catalog.recordFailure(associationID: UUID()) }
            await #expect(throws: CatalogError.self) {
                try await catalog.endAssociation(id: UUID(), outcome: .released, endedAt: at(6))
            }
        }
    }

    /// The forward's claim and settle: one statement each, no transaction block around either.
    @Test func aForwardIsAClaimAndASettle() async throws {
        try await withCountingCatalog { catalog, log in
            var record = makeInstance(sop: "8.4")
            record.storageState = .spooled
            record.storedAt = nil
            record.spoolID = "spool-1"
            _ = try await catalog.recordInstance(record)
            _ = log.take()
            let claimed = try await catalog.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 32, now: at(10), leaseUntil: at(310))
            #expect(claimed.count == 1)
            #expect(try await catalog.settleForwarded(sopInstanceUID: "8.4", owner: "node-1", sha256: record.sha256,
                                                      objectURI: record.objectURI, storedBytes: 400, storedAt: at(20)))
            #expect(log.take() == ["forward_claim", "forward_settle"])
        }
    }
}
