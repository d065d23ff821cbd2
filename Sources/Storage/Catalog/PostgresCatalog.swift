public import Domain
public import Foundation
public import Logging
import NIOCore
import NIOSSL
import PostgresNIO
public import ServiceLifecycle

/// The production catalog on PostgreSQL, over postgres-nio's `PostgresClient` (a connection pool).
///
/// A `Service`: `run()` runs the pool and must run in the ServiceGroup (first, so it stops last) before
/// any query can complete. Every value reaches the server as a bound parameter (`PostgresBindings`);
/// the SQL text holds only constant fragments chosen by this module.
public final class PostgresCatalog: Catalog, Service {
    private let client: PostgresClient
    private let database: PostgresCatalogDatabase
    let core: CatalogCore
    private let logger: Logger
    /// Bounds `migrate()`, waiting for another node's migration included.
    private let migrationTimeout: Duration = .seconds(300)

    /// `postgres://user:password@host:port/database?sslmode=disable|prefer|require|verify-full[&sslrootcert=/path.pem]`
    /// (also `postgresql://`). Without `sslmode`, TLS is tried and not required (libpq's `prefer`).
    /// `operationTimeout` bounds every catalog call, waiting for a connection included (`ping()` uses
    /// at most 5 seconds); past it the call throws `CatalogError(.unavailable)`.
    public init(url: String, logger: Logger, operationTimeout: Duration = .seconds(30)) throws {
        let configuration = try PostgresURL.configuration(url)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.database = PostgresCatalogDatabase(client: client, logger: logger, operationTimeout: operationTimeout)
        self.core = CatalogCore(database: database, logger: logger)
        self.logger = logger
    }

    public func run() async throws {
        await client.run()
    }

    /// Applies the embedded migrations that this database lacks, holding a PostgreSQL advisory lock so
    /// nodes starting together apply each file once. Throws `CatalogError(.schemaMismatch)` when an applied
    /// file changed or the database is ahead of this binary. Needs `run()` to be running.
    public func migrate() async throws {
        try await migrate(EmbeddedMigrations.postgres)
    }

    /// `migrate()` with an explicit list (tests use it to simulate edited or unknown files).
    public func migrate(_ migrations: [Migration]) async throws {
        do {
            let database = self.database
            let applied = try await database.withDeadline(migrationTimeout) { try await database.migrate(migrations) }
            if !applied.isEmpty {
                logger.info("applied catalog migrations", metadata: ["versions": "\(applied.map(\.version))"])
            }
        } catch let error as CatalogError {
            throw error
        } catch {
            logger.error("catalog migration failed", metadata: ["error": "\(String(reflecting: error))"])
            throw CatalogError(.unavailable, detail: "catalog migration failed: \(CatalogCore.safeSummary(error))")
        }
    }

    public func ping() async throws {
        let core = self.core
        try await database.withDeadline(.seconds(5)) { try await core.ping() }
    }

    public func listListeners() async throws -> [ListenerConfig] { try await core.listListeners() }
    public func listener(id: UUID) async throws -> ListenerConfig? { try await core.listener(id: id) }
    public func createListener(_ listener: ListenerConfig) async throws { try await core.createListener(listener) }
    public func updateListener(_ listener: ListenerConfig) async throws { try await core.updateListener(listener) }
    public func deleteListener(id: UUID) async throws { try await core.deleteListener(id: id) }
    public func setListenerState(id: UUID, state: ListenerState, error: String?) async throws {
        try await core.setListenerState(id: id, state: state, error: error)
    }

    public func startAssociation(_ association: AssociationRecord) async throws { try await core.startAssociation(association) }
    public func endAssociation(id: UUID, outcome: AssociationOutcome, endedAt: Date) async throws {
        try await core.endAssociation(id: id, outcome: outcome, endedAt: endedAt)
    }
    @discardableResult
    public func recordInstance(_ instance: InstanceRecord) async throws -> InstanceRecord { try await core.recordInstance(instance) }
    public func recordFailure(associationId: UUID) async throws { try await core.recordFailure(associationId: associationId) }
    public func addRejectedAttempts(associationId: UUID, count: Int) async throws {
        try await core.addRejectedAttempts(associationId: associationId, count: count)
    }

    /// Newest first by `firstReceivedAt` (then study UID): a study's first receive time never changes,
    /// so pages stay exact while studies keep receiving instances.
    public func studies(filter: StudyFilter, page: PageRequest) async throws -> Page<StudySummary> {
        try await core.studies(filter: filter, page: page)
    }
    public func study(uid: String) async throws -> StudySummary? { try await core.study(uid: uid) }
    public func series(studyInstanceUID: String) async throws -> [SeriesSummary] { try await core.series(studyInstanceUID: studyInstanceUID) }
    public func instances(seriesInstanceUID: String, page: PageRequest) async throws -> Page<InstanceRecord> {
        try await core.instances(seriesInstanceUID: seriesInstanceUID, page: page)
    }
    public func instance(sopInstanceUID: String) async throws -> InstanceRecord? { try await core.instance(sopInstanceUID: sopInstanceUID) }
    public func associations(listenerId: UUID?, page: PageRequest) async throws -> Page<AssociationRecord> {
        try await core.associations(listenerId: listenerId, page: page)
    }
    public func stats() async throws -> CatalogStats { try await core.stats() }
}

/// Parses a libpq-style URL into a `PostgresClient.Configuration`.
enum PostgresURL {
    static func configuration(_ text: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: text),
              components.scheme == "postgres" || components.scheme == "postgresql",
              let host = components.host, !host.isEmpty
        else {
            throw CatalogError(.unavailable, detail: "catalog URL must look like postgres://user:password@host:port/database")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if let rootCertificate = query["sslrootcert"], !rootCertificate.isEmpty {
            tlsConfiguration.trustRoots = .file(rootCertificate)
        }
        let tls: PostgresClient.Configuration.TLS
        switch query["sslmode"] ?? "prefer" {
        case "disable":
            tls = .disable
        case "allow", "prefer":
            tlsConfiguration.certificateVerification = .none
            tls = .prefer(tlsConfiguration)
        case "require":
            // libpq's `require`: encrypted, certificate not checked.
            tlsConfiguration.certificateVerification = .none
            tls = .require(tlsConfiguration)
        case "verify-ca":
            tlsConfiguration.certificateVerification = .noHostnameVerification
            tls = .require(tlsConfiguration)
        case "verify-full":
            tlsConfiguration.certificateVerification = .fullVerification
            tls = .require(tlsConfiguration)
        default:
            throw CatalogError(.unavailable, detail: "unsupported sslmode (use disable, prefer, require, verify-ca or verify-full)")
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432,
            username: components.user ?? "postgres", password: components.password,
            database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.maximumConnections = 20
        return configuration
    }
}

/// A `timestamptz` bound from exact microseconds (postgres-nio's `Date` encoding truncates a double).
struct PostgresTimestamp: PostgresNonThrowingEncodable {
    var unixMicros: Int64

    static var psqlType: PostgresDataType { .timestamptz }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeInteger(unixMicros - CatalogTime.postgresToUnixMicros)
    }
}

struct PostgresSession: SQLSession {
    let connection: PostgresConnection
    let logger: Logger

    @discardableResult
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow] {
        var bindings = PostgresBindings(capacity: binds.count)
        for value in binds {
            switch value {
            case .null: bindings.appendNull()
            case .text(let v): bindings.append(v)
            case .int(let v): bindings.append(v)
            case .bool(let v): bindings.append(v)
            case .uuid(let v): bindings.append(v)
            case .time(let v): bindings.append(PostgresTimestamp(unixMicros: v))
            }
        }
        let rows = try await connection.query(PostgresQuery(unsafeSQL: numberedPlaceholders(sql), binds: bindings), logger: logger)
        var result: [SQLRow] = []
        for try await row in rows {
            var values: [SQLValue] = []
            values.reserveCapacity(row.count)
            for cell in row {
                values.append(try Self.value(cell))
            }
            result.append(SQLRow(values: values))
        }
        return result
    }

    static func value(_ cell: PostgresCell) throws -> SQLValue {
        guard var bytes = cell.bytes else { return .null }
        // Fast paths for what list pages are made of (text, binary integers), without PostgresNIO's
        // generic decoding; anything else goes through `decode`.
        switch cell.dataType {
        case .text, .varchar, .bpchar, .name:
            // UTF-8 in both the text and the binary format.
            return .text(bytes.readString(length: bytes.readableBytes) ?? "")
        case .int8 where cell.format == .binary && bytes.readableBytes == 8:
            return .int(bytes.readInteger(as: Int64.self)!)
        case .int4 where cell.format == .binary && bytes.readableBytes == 4:
            return .int(Int64(bytes.readInteger(as: Int32.self)!))
        case .int8, .int4, .int2: return .int(try cell.decode(Int64.self))
        case .bool: return .bool(try cell.decode(Bool.self))
        case .uuid: return .uuid(try cell.decode(UUID.self))
        case .timestamptz, .timestamp:
            guard cell.format == .binary, bytes.readableBytes == 8, let micros = bytes.readInteger(as: Int64.self) else {
                throw SQLDecodingError(column: cell.columnIndex)
            }
            return .time(micros + CatalogTime.postgresToUnixMicros)
        case .void: return .null
        default: throw SQLDecodingError(column: cell.columnIndex)
        }
    }
}

struct PostgresCatalogDatabase: CatalogDatabase {
    let client: PostgresClient
    let logger: Logger
    let operationTimeout: Duration

    var dialect: SQLDialect { .postgres }

    /// Key of the advisory lock that serialises migrators across nodes ("dicomigr" in ASCII).
    static let migrationLockKey: Int64 = 0x6469_636F_6D69_6772

    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        try await withDeadline(operationTimeout) { try await writeRetrying(body) }
    }

    private func writeRetrying<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await client.withConnection { connection in
                    let session = PostgresSession(connection: connection, logger: logger)
                    try await session.query("BEGIN", [])
                    do {
                        let value = try await body(session)
                        try await session.query("COMMIT", [])
                        return value
                    } catch {
                        // After a failed COMMIT the server has already ended the transaction and this
                        // ROLLBACK only warns. If even ROLLBACK fails, the connection's state is unknown:
                        // close it so the pool never hands out a connection inside a transaction.
                        do {
                            try await session.query("ROLLBACK", [])
                        } catch {
                            do {
                                try await connection.close()
                            } catch {
                                logger.debug("closing a broken catalog connection failed")
                            }
                        }
                        throw error
                    }
                }
            } catch let error as PSQLError {
                let state = error.serverInfo?[.sqlState]
                if state == "23505" {
                    throw SQLUniqueViolation(constraint: error.serverInfo?[.constraintName] ?? "")
                }
                if let state, state.hasPrefix("22") || state.hasPrefix("23") || state.hasPrefix("54") {
                    throw SQLPermanentError(kind: "sqlState=\(state)")
                }
                // Deadlock or serialization failure: the whole transaction is safe to run again.
                if (state == "40P01" || state == "40001") && attempt < 5 {
                    logger.debug("catalog transaction retried", metadata: ["sqlState": "\(state ?? "")"])
                    continue
                }
                throw error
            }
        }
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        try await withDeadline(operationTimeout) {
            try await client.withConnection { connection in
                try await body(PostgresSession(connection: connection, logger: logger))
            }
        }
    }

    private enum Outcome<T: Sendable>: Sendable {
        case done(T)
        case timedOut
    }

    /// Bounds an operation: while PostgreSQL is unreachable the pool keeps retrying connections and a
    /// lease would wait for minutes. On expiry the operation is cancelled (a half-done transaction is
    /// rolled back or its connection closed) and `CatalogError(.unavailable)` is thrown.
    func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: Outcome<T>.self) { group in
            group.addTask { .done(try await operation()) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return .timedOut
            }
            defer { group.cancelAll() }
            switch try await group.next() {
            case .done(let value):
                return value
            case .timedOut, nil:
                throw CatalogError(.unavailable, detail: "the catalog database did not answer in time")
            }
        }
    }

    /// Applies migrations under `pg_advisory_lock`, on one connection (advisory locks belong to a session).
    func migrate(_ migrations: [Migration]) async throws -> [Migration] {
        try await client.withConnection { connection in
            let session = PostgresSession(connection: connection, logger: logger)
            do {
                try await session.query("SELECT pg_advisory_lock(?)", [.int(Self.migrationLockKey)])
                let applied = try await applyMigrations(migrations, using: session)
                try await session.query("SELECT pg_advisory_unlock(?)", [.int(Self.migrationLockKey)])
                return applied
            } catch {
                // Closing ends the session: the advisory lock (even one granted after a cancelled wait)
                // and any half-applied file's transaction go with it, and the pool never reuses it.
                do {
                    try await connection.close()
                } catch {
                    logger.debug("closing the migration connection failed")
                }
                throw error
            }
        }
    }
}
