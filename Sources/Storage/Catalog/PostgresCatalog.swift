public import Domain
import Foundation
public import Logging
import NIOCore
import PostgresNIO
public import ServiceLifecycle

/// The production catalog on PostgreSQL, over postgres-nio's `PostgresClient` (a connection pool).
/// The SQL lives in `SQLCatalog`; this type provides the pool, transactions and the lifecycle.
///
/// A `Service`: `run()` runs the pool and must run in the ServiceGroup (first, so it stops last) before
/// any query can complete. Every value reaches the server as a bound parameter (`PostgresBindings`);
/// the SQL text holds only constant fragments chosen by this module.
public final class PostgresCatalog: Catalog, SQLCatalog, Service {
    let client: PostgresClient
    /// A pool of its own for the instance locks (`withInstanceLock`): a lock holds its connection while
    /// the commit it guards needs another one, so both from one pool could starve each other.
    let lockClient: PostgresClient
    let database: PostgresCatalogDatabase
    let logger: Logger
    let eventSubscriptions: EventSubscriptionCache

    /// `postgres://user:password@host:port/database?sslmode=disable|prefer|require|verify-full[&sslrootcert=/path.pem]`
    /// (also `postgresql://`). Without `sslmode`, TLS is tried and not required (libpq's `prefer`).
    /// `operationTimeout` bounds every catalog call, waiting for a connection included (`ping()` uses
    /// at most 5 seconds); past it the call throws `CatalogError(.unavailable)`. `eventSource` is the
    /// CloudEvents `source` of the events written on the ingest path.
    public init(url: String, logger: Logger, operationTimeout: Duration = .seconds(30),
                eventSource: String = "urn:dicom-ingest") throws {
        let configuration = try PostgresURL.configuration(url)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.lockClient = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.database = PostgresCatalogDatabase(client: client, logger: logger, operationTimeout: operationTimeout,
                                                deadlines: CatalogDeadlines())
        self.logger = logger
        self.eventSubscriptions = EventSubscriptionCache(source: eventSource)
    }

    public func run() async throws {
        let lockClient = self.lockClient
        let deadlines = database.deadlines
        await withDiscardingTaskGroup { group in
            group.addTask { await lockClient.run() }
            group.addTask { await deadlines.run() }
            await client.run()
            group.cancelAll()
        }
    }

    /// Applies the embedded migrations that this database lacks, holding a PostgreSQL advisory lock so
    /// nodes starting together apply each file once. Throws `CatalogError(.schemaMismatch)` when an applied
    /// file changed or the database is ahead of this binary. Needs `run()` to be running.
    public func migrate() async throws {
        try await runMigrations(EmbeddedMigrations.postgres)
    }

    /// `migrate()` with an explicit list (tests use it to simulate edited or unknown files).
    public func migrate(_ migrations: [Migration]) async throws {
        try await runMigrations(migrations)
    }

    /// A round trip, bounded to 5 seconds so that `/readyz` answers while the database is unreachable.
    public func ping() async throws {
        try await database.withDeadline(.seconds(5)) { [self] in try await roundTrip() }
    }
}

/// A `timestamptz` bound from exact microseconds (postgres-nio's `Date` encoding truncates a double).
///
/// A value outside PostgreSQL's range (4713 BC to 294276 AD) is sent as `-infinity` or `infinity`, which
/// sort before and after every stored time as the value would: a keyset cursor may carry any 64-bit
/// key (`CatalogCursor`), and the server refuses out-of-range finite timestamps.
struct PostgresTimestamp: PostgresNonThrowingEncodable {
    var unixMicros: Int64

    static var psqlType: PostgresDataType { .timestamptz }
    static var psqlFormat: PostgresFormat { .binary }

    /// PostgreSQL's MIN_TIMESTAMP and END_TIMESTAMP, in microseconds since 2000-01-01.
    static let postgresRange: Range<Int64> = -211_813_488_000_000_000..<9_223_371_331_200_000_000

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        let (micros, overflow) = unixMicros.subtractingReportingOverflow(CatalogTime.postgresToUnixMicros)
        if overflow || micros < Self.postgresRange.lowerBound {
            byteBuffer.writeInteger(Int64.min)  // -infinity
        } else if micros >= Self.postgresRange.upperBound {
            byteBuffer.writeInteger(Int64.max)  // infinity
        } else {
            byteBuffer.writeInteger(micros)
        }
    }
}

struct PostgresSession: SQLSession {
    let connection: PostgresConnection
    let logger: Logger

    /// `statement` with its values as PostgreSQL bindings.
    static func postgresQuery(_ statement: SQLStatement) -> PostgresQuery {
        let binds = statement.binds
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
        return PostgresQuery(unsafeSQL: statement.sql(for: .postgres), binds: bindings)
    }

    /// The rows of `statement` as postgres-nio gives them, for a caller that decodes them by position
    /// (the list queries, whose pages are hundreds of cells). Collected on the connection's event loop
    /// and handed over at once: a page is bounded by its limit, and the row-by-row `AsyncSequence`
    /// (a producer state machine step and a hand-over per row) cost as much as reading the rows.
    func rows(_ statement: SQLStatement) async throws -> [PostgresRow] {
        let result: EventLoopFuture<PostgresQueryResult> = connection.query(Self.postgresQuery(statement), logger: logger)
        return try await result.get().rows
    }

    @discardableResult
    func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        var result: [SQLRow] = []
        var columns: SQLColumns?
        if let name = statement.preparedName, let rows = try await preparedRows(statement, as: name) {
            for row in rows {
                result.append(try Self.row(row, columns: &columns))
            }
            return result
        }
        let rows = try await connection.query(Self.postgresQuery(statement), logger: logger)
        for try await row in rows {
            result.append(try Self.row(row, columns: &columns))
        }
        return result
    }

    /// `row` with its values decoded; `columns`, the names shared by every row of a result, is read from
    /// the first row and kept.
    private static func row(_ row: PostgresRow, columns: inout SQLColumns?) throws -> SQLRow {
        var names: [String] = []
        var values: [SQLValue] = []
        values.reserveCapacity(row.count)
        for cell in row {
            if columns == nil { names.append(cell.columnName) }
            values.append(try value(cell))
        }
        let rowColumns = columns ?? SQLColumns(names)
        columns = rowColumns
        return SQLRow(columns: rowColumns, values: values)
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
                throw SQLDecodingError(column: cell.columnName, reason: "is not a binary timestamp")
            }
            return .time(micros + CatalogTime.postgresToUnixMicros)
        case .void: return .null
        default: throw SQLDecodingError(column: cell.columnName, reason: "has a type the catalog does not read (\(cell.dataType))")
        }
    }
}

struct PostgresCatalogDatabase: CatalogDatabase {
    let client: PostgresClient
    let logger: Logger
    let operationTimeout: Duration
    /// The clock of every `withDeadline`; `PostgresCatalog.run()` runs it.
    let deadlines: CatalogDeadlines

    var dialect: SQLDialect { .postgres }

    /// Key of the advisory lock that serialises migrators across nodes ("dicomigr" in ASCII).
    static let migrationLockKey: Int64 = 0x6469_636F_6D69_6772
    /// Bounds `migrate`, waiting for another node's migration included.
    static let migrationTimeout: Duration = .seconds(300)

    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        try await withDeadline(operationTimeout) { try await retrying { try await transaction(body) } }
    }

    /// One statement needs no BEGIN and COMMIT around it: outside a transaction block PostgreSQL runs it as
    /// a transaction of its own (all of it or nothing, committed before the answer arrives), so it costs
    /// one round trip instead of three.
    func write(_ statement: SQLStatement) async throws -> [SQLRow] {
        try await withDeadline(operationTimeout) {
            try await retrying {
                try await withLoopConnection { connection in
                    try await PostgresSession(connection: connection, logger: logger).query(statement)
                }
            }
        }
    }

    /// Runs `operation` (one transaction), running it again after a deadlock or serialization failure, and
    /// turns the refusals a retry cannot change into `SQLUniqueViolation` and `SQLPermanentError`.
    private func retrying<T: Sendable>(_ operation: @Sendable () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            do {
                return try await operation()
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

    private func transaction<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        try await withLoopConnection { connection in try await transaction(on: connection, body) }
    }

    /// BEGIN, `body`, COMMIT on `connection`; ROLLBACK (or closing the connection) when any of it fails.
    private func transaction<T: Sendable>(on connection: PostgresConnection,
                                          _ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        let session = PostgresSession(connection: connection, logger: logger)
        try await session.query("BEGIN")
        do {
            let value = try await body(session)
            try await session.query("COMMIT")
            return value
        } catch {
            // After a failed COMMIT the server has already ended the transaction and this
            // ROLLBACK only warns. If even ROLLBACK fails, the connection's state is unknown:
            // close it so the pool never hands out a connection inside a transaction.
            do {
                try await session.query("ROLLBACK")
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

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        try await withDeadline(operationTimeout) {
            try await withLoopConnection { connection in
                try await body(PostgresSession(connection: connection, logger: logger))
            }
        }
    }

    /// `read` for one statement whose rows the caller decodes by position (see `PostgresSession.rows`).
    func readRows(_ statement: SQLStatement) async throws -> [PostgresRow] {
        try await withDeadline(operationTimeout) {
            try await withLoopConnection { connection in
                try await PostgresSession(connection: connection, logger: logger).rows(statement)
            }
        }
    }

    /// Bounds an operation: while PostgreSQL is unreachable the pool keeps retrying connections and a
    /// lease would wait for minutes. On expiry the operation is cancelled (a half-done transaction is
    /// rolled back or its connection closed) and `CatalogError(.unavailable)` is thrown.
    func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await deadlines.withDeadline(timeout, operation)
    }

    /// Applies migrations under `pg_advisory_lock`, on one connection (advisory locks belong to a session),
    /// within `migrationTimeout`.
    func migrate(_ migrations: [Migration]) async throws -> [Migration] {
        try await withDeadline(Self.migrationTimeout) { try await migrateLocked(migrations) }
    }

    private func migrateLocked(_ migrations: [Migration]) async throws -> [Migration] {
        try await client.withConnection { connection in
            let session = PostgresSession(connection: connection, logger: logger)
            do {
                try await session.query("SELECT pg_advisory_lock(\(Self.migrationLockKey))")
                let applied = try await applyMigrations(migrations, using: session)
                try await session.query("SELECT pg_advisory_unlock(\(Self.migrationLockKey))")
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
