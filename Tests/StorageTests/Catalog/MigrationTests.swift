import Domain
import Foundation
import PostgresNIO
@testable import Storage
import Testing
import TestSupport

@Suite("Migrations")
struct MigrationTests {
    /// The binary's copy of the SQL must be exactly Migrations/: run scripts/generate/migrations after adding a file.
    @Test(arguments: ["postgres", "sqlite"])
    func embeddedSQLEqualsTheFiles(dialect: String) throws {
        let folder = repositoryRoot.appendingPathComponent("Migrations/\(dialect)")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".sql") }.sorted()
        let fromFiles = try files.map { file -> Migration in
            let version = try #require(Int(file.prefix(4)), "\(file) must start with a 4-digit version")
            let name = String(file.dropFirst(5).dropLast(4))
            let sql = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
            return Migration(version: version, name: name, sql: sql)
        }
        let embedded = dialect == "postgres" ? EmbeddedMigrations.postgres : EmbeddedMigrations.sqlite
        #expect(!fromFiles.isEmpty)
        #expect(embedded.map(\.version) == fromFiles.map(\.version), "run scripts/generate/migrations")
        for (e, f) in zip(embedded, fromFiles) {
            #expect(e.name == f.name, "run scripts/generate/migrations")
            #expect(e.sql == f.sql, "Migrations/\(dialect)/\(f.version) differs from Sources/Storage/Generated/EmbeddedMigrations.swift: run scripts/generate/migrations")
        }
        #expect(Set(EmbeddedMigrations.postgres.map(\.version)) == Set(EmbeddedMigrations.sqlite.map(\.version)),
                "both dialects must have the same versions")
    }

    @Test func checksumIsSHA256OfTheFile() {
        // sha256("abc"), FIPS 180-2 example.
        #expect(Migration(version: 1, name: "x", sql: "abc").checksum == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func statementsSplitOutsideQuotesAndComments() {
        let sql = """
            -- a comment; with a semicolon
            CREATE TABLE a (x text DEFAULT 'semi;colon', "odd;name" int);
            /* block; comment */ INSERT INTO a VALUES ('it''s; fine');

            SELECT 1
            """
        let statements = splitSQLStatements(sql)
        #expect(statements.count == 3)
        #expect(statements[0] == #"CREATE TABLE a (x text DEFAULT 'semi;colon', "odd;name" int)"#)
        #expect(statements[1].hasSuffix("INSERT INTO a VALUES ('it''s; fine')"))
        #expect(statements[2] == "SELECT 1")
    }

    /// Calls `body` with a function that migrates one and the same fresh database with a given list.
    func withMigrator(_ kind: CatalogKind, _ body: (@escaping @Sendable ([Migration]) async throws -> Void) async throws -> Void) async throws {
        switch kind {
        case .postgres:
            try await withFreshPostgresDatabase { server, name in
                try await withRunningPostgresCatalog(url: server.url(database: name)) { catalog in
                    try await body { try await catalog.migrate($0) }
                }
            }
        case .sqlite:
            try await withTemporaryDirectory { dir in
                let catalog = try SQLiteCatalog(path: dir.appendingPathComponent("m.sqlite").path, logger: catalogTestLogger)
                do {
                    try await body { try await catalog.migrate($0) }
                } catch {
                    await catalog.close()
                    throw error
                }
                await catalog.close()
            }
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func migratorAppliesOnceAndRefusesChangedOrUnknownFiles(kind: CatalogKind) async throws {
        try await withMigrator(kind) { migrate in
            let m1 = Migration(version: 1, name: "one", sql: "CREATE TABLE t1 (a bigint);\nCREATE INDEX t1_a ON t1 (a);\n")
            let m2 = Migration(version: 2, name: "two", sql: "CREATE TABLE t2 (a bigint);")
            try await migrate([m1])
            try await migrate([m1])  // nothing to do: re-running CREATE TABLE would fail
            try await migrate([m2, m1])  // applies 2 only, whatever the list order
            try await migrate([m1, m2])

            var edited = m1
            edited.sql += "-- an innocent-looking edit\n"
            await expectCatalogError(.schemaMismatch) { try await migrate([edited, m2]) }
            await expectCatalogError(.schemaMismatch) { try await migrate([m1]) }  // database is ahead (knows 2)

            // A failing file leaves nothing behind: neither its table nor its schema_migrations row.
            let broken = Migration(version: 3, name: "three", sql: "CREATE TABLE t3 (a bigint);\nSELECT * FROM no_such_table;")
            await expectCatalogError(.unavailable) { try await migrate([m1, m2, broken]) }
            try await migrate([m1, m2, Migration(version: 3, name: "three", sql: "CREATE TABLE t3 (a bigint);")])
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func embeddedMigrationsApplyAndReapply(kind: CatalogKind) async throws {
        try await withMigrator(kind) { migrate in
            let all = kind == .postgres ? EmbeddedMigrations.postgres : EmbeddedMigrations.sqlite
            try await migrate(all)
            try await migrate(all)
        }
    }

    /// Several nodes start at once against an empty database: the advisory lock lets one migrate while
    /// the others wait, then find nothing to do. Without it they would race on CREATE TABLE.
    @Test func concurrentPostgresMigratorsSerialise() async throws {
        try await withFreshPostgresDatabase { server, name in
            let url = server.url(database: name)
            let nodes = 4
            let catalogs = try (0..<nodes).map { _ in try PostgresCatalog(url: url, logger: catalogTestLogger) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for catalog in catalogs { group.addTask { try await catalog.run() } }
                try await withThrowingTaskGroup(of: Void.self) { migrators in
                    for catalog in catalogs { migrators.addTask { try await catalog.migrate() } }
                    try await migrators.waitForAll()
                }
                group.cancelAll()
            }
            let rows = try await server.query(database: name, "SELECT version, checksum FROM schema_migrations ORDER BY version")
            let applied = try rows.map { try $0.decode((Int64, String).self) }
            #expect(applied.map(\.0) == EmbeddedMigrations.postgres.map { Int64($0.version) })
            #expect(applied.map(\.1) == EmbeddedMigrations.postgres.map(\.checksum))
        }
    }
}
