import Domain
import Foundation
import Logging
import PostgresNIO
@testable import Storage
import Testing
import TestSupport

/// The two catalogs the same contract suite runs against.
enum CatalogKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case postgres
    case sqlite

    var testDescription: String { rawValue }
}

let catalogTestLogger: Logger = {
    var logger = Logger(label: "catalog-tests")
    logger.logLevel = .warning
    return logger
}()

/// A base instant on whole seconds, so dates survive the catalog's microsecond resolution unchanged.
let catalogT0 = Date(timeIntervalSince1970: 1_750_000_000)

func at(_ seconds: Double) -> Date { catalogT0.addingTimeInterval(seconds) }

/// `TEST_POSTGRES_URL` split into what `PostgresConnection` needs.
struct PostgresTestServer {
    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String

    static func fromEnvironment() throws -> PostgresTestServer {
        guard let text = ProcessInfo.processInfo.environment["TEST_POSTGRES_URL"], !text.isEmpty else {
            throw TestSetupError("""
                TEST_POSTGRES_URL is not set: the catalog tests need a real PostgreSQL. Run scripts/test, or \
                start one and export TEST_POSTGRES_URL=postgres://user:password@127.0.0.1:PORT/database
                """)
        }
        guard let c = URLComponents(string: text), let host = c.host else {
            throw TestSetupError("TEST_POSTGRES_URL does not parse as postgres://user:password@host:port/database")
        }
        return PostgresTestServer(host: host, port: c.port ?? 5432, user: c.user ?? "postgres", password: c.password,
                                  database: String(c.path.dropFirst()))
    }

    func url(database: String) -> String {
        var c = URLComponents()
        c.scheme = "postgres"
        c.host = host
        c.port = port
        c.user = user
        c.password = password
        c.path = "/" + database
        c.queryItems = [URLQueryItem(name: "sslmode", value: "disable")]
        return c.string!
    }

    /// Runs `statements` on one admin connection to the database of TEST_POSTGRES_URL.
    func admin(_ statements: [String]) async throws {
        let configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: .disable)
        let connection: PostgresConnection
        do {
            connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: catalogTestLogger)
        } catch {
            throw TestSetupError("""
                cannot reach PostgreSQL at TEST_POSTGRES_URL (\(host):\(port)): \(String(reflecting: error)). \
                Start it (scripts/test does) and retry.
                """)
        }
        do {
            for statement in statements {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: catalogTestLogger)
            }
        } catch {
            try await connection.close()
            throw error
        }
        try await connection.close()
    }

    func query(database: String, _ sql: PostgresQuery) async throws -> [PostgresRow] {
        let configuration = PostgresConnection.Configuration(
            host: host, port: port, username: user, password: password, database: database, tls: .disable)
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 2, logger: catalogTestLogger)
        do {
            var rows: [PostgresRow] = []
            for try await row in try await connection.query(sql, logger: catalogTestLogger) { rows.append(row) }
            try await connection.close()
            return rows
        } catch {
            try await connection.close()
            throw error
        }
    }
}

/// Creates a database with a random name for one test and drops it afterwards.
func withFreshPostgresDatabase(_ body: (PostgresTestServer, String) async throws -> Void) async throws {
    let server = try PostgresTestServer.fromEnvironment()
    // Only [a-z0-9_] from our own random bytes: safe as an identifier.
    let name = "dicom_ingest_t_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    try await server.admin(["CREATE DATABASE \(name)"])
    do {
        try await body(server, name)
    } catch {
        try await server.admin(["DROP DATABASE IF EXISTS \(name) WITH (FORCE)"])
        throw error
    }
    try await server.admin(["DROP DATABASE IF EXISTS \(name) WITH (FORCE)"])
}

/// Runs a PostgresCatalog (its pool running in a child task, as in the ServiceGroup) for `body`.
func withRunningPostgresCatalog(url: String, _ body: (PostgresCatalog) async throws -> Void) async throws {
    let catalog = try PostgresCatalog(url: url, logger: catalogTestLogger)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await catalog.run() }
        do {
            try await body(catalog)
        } catch {
            group.cancelAll()
            throw error
        }
        group.cancelAll()
    }
}

/// A migrated PostgresCatalog on a fresh database for `body`, which also gets the server and the
/// database's name (to inspect or alter it behind the catalog's back).
func withMigratedPostgresCatalog(_ body: (PostgresTestServer, String, PostgresCatalog) async throws -> Void) async throws {
    try await withFreshPostgresDatabase { server, name in
        try await withRunningPostgresCatalog(url: server.url(database: name)) { catalog in
            try await catalog.migrate()
            try await body(server, name, catalog)
        }
    }
}

/// A temporary directory for `body`, removed afterwards.
func withTemporaryDirectory(_ body: (URL) async throws -> Void) async throws {
    let directory = try TemporaryDirectory("catalog-test")
    try await body(directory.url)
}

/// A bare SQLite catalog database (no migrations) in a temporary folder for `body`, closed afterwards.
func withSQLiteCatalogDatabase(_ body: (SQLiteCatalogDatabase) async throws -> Void) async throws {
    try await withTemporaryDirectory { dir in
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let database = SQLiteCatalogDatabase(path: dir.appendingPathComponent("catalog.sqlite").path, logger: catalogTestLogger)
        do {
            try await body(database)
        } catch {
            await database.close()
            throw error
        }
        await database.close()
    }
}

/// A migrated, empty catalog of `kind` for the duration of `body`.
func withCatalog(_ kind: CatalogKind, _ body: (any Catalog) async throws -> Void) async throws {
    switch kind {
    case .postgres:
        try await withMigratedPostgresCatalog { _, _, catalog in
            try await body(catalog)
        }
    case .sqlite:
        try await withTemporaryDirectory { dir in
            // A missing parent folder: the catalog creates it.
            let catalog = try SQLiteCatalog(path: dir.appendingPathComponent("nested/catalog.sqlite").path, logger: catalogTestLogger)
            do {
                try await catalog.migrate()
                try await body(catalog)
            } catch {
                await catalog.close()
                throw error
            }
            await catalog.close()
        }
    }
}

/// The listener of `makeInstance` unless a test names another: repeats of a UID come from one listener,
/// as the per-listener duplicate policy requires.
let catalogTestListener = UUID()

/// An instance with every attribute set; tests override what they look at.
func makeInstance(
    sop: String, series: String = "1.2.3.4", study: String = "1.2.3", number: Int? = 1, size: Int64 = 1000,
    at receivedAt: Date = catalogT0, listener: UUID = catalogTestListener, association: UUID = UUID(), calling: String = "MODALITY",
    patientID: String? = "PID1", patientName: String? = "Doe^John", studyDate: String? = "20240115",
    accession: String? = "ACC1", modality: String? = "CT", seriesNumber: Int? = 1
) -> InstanceRecord {
    InstanceRecord(
        sopInstanceUID: sop, sopClassUID: "1.2.840.10008.5.1.4.1.1.2", seriesInstanceUID: series, studyInstanceUID: study,
        instanceNumber: number, transferSyntaxUID: "1.2.840.10008.1.2.1", sizeBytes: size, storedBytes: size / 2,
        objectURI: "file:///data/DICOM/\(sop).dcm", metadataURI: "file:///data/METADATA/\(sop).json",
        sha256: String(repeating: "a", count: 64), listenerID: listener, associationID: association,
        callingAETitle: calling, calledAETitle: "STORESCP", peerAddress: "127.0.0.1:40000", receivedAt: receivedAt,
        patientID: patientID, patientName: patientName, patientBirthDate: "19700101", patientSex: "M",
        studyDate: studyDate, studyTime: "101010", studyDescription: "Chest", accessionNumber: accession,
        seriesNumber: seriesNumber, seriesDescription: "Axial", modality: modality, numberOfFrames: 1)
}

func expectCatalogError(_ code: CatalogError.Code, field: String? = nil, sourceLocation: SourceLocation = #_sourceLocation,
                        _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected CatalogError(\(code)) but nothing was thrown", sourceLocation: sourceLocation)
    } catch let error as CatalogError {
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        if let field { #expect(error.field == field, "\(error)", sourceLocation: sourceLocation) }
    } catch {
        Issue.record("expected CatalogError(\(code)), got \(String(reflecting: error))", sourceLocation: sourceLocation)
    }
}

/// Follows `nextCursor` to the end (bounded), collecting every item.
func collectPages<Item>(limit: Int, maxPages: Int = 10_000,
                        _ fetch: (PageRequest) async throws -> Page<Item>) async throws -> [Item] {
    var items: [Item] = []
    var cursor: String?
    for _ in 0..<maxPages {
        let page = try await fetch(PageRequest(limit: limit, cursor: cursor))
        #expect(page.items.count <= limit)
        items += page.items
        guard let next = page.nextCursor else { return items }
        cursor = next
    }
    Issue.record("pagination did not end within \(maxPages) pages")
    return items
}
