import Foundation

/// A value bound to a statement or read from a row, in terms both SQL dialects understand.
/// Values are always bound as parameters, never spliced into SQL text.
enum SQLValue: Sendable, Hashable {
    case null
    case text(String)
    case int(Int64)
    case bool(Bool)
    case uuid(UUID)
    /// Microseconds since 1970-01-01 UTC (`timestamptz` in PostgreSQL, integer in SQLite).
    case time(Int64)
}

/// The column names of a result, shared by all of its rows.
struct SQLColumns: Sendable {
    private let index: [String: Int]

    /// The first of two columns with the same name wins; the catalog's statements name each column once.
    init(_ names: [String]) {
        index = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
    }

    func position(of name: String) -> Int? { index[name] }
}

/// One result row, read by column name (`SELECT … AS name` where an expression has no column name).
struct SQLRow: Sendable {
    let columns: SQLColumns
    let values: [SQLValue]

    /// The raw value of `column`; a column the statement does not return is an error.
    func value(_ column: String) throws -> SQLValue {
        guard let position = columns.position(of: column), position < values.count else {
            throw SQLDecodingError(column: column, reason: "is not in the result")
        }
        return values[position]
    }

    /// `column` as `T`; NULL decodes only into an optional.
    func decode<T: SQLDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let value = T(sqlValue: try value(column)) else {
            throw SQLDecodingError(column: column, reason: "holds a value of another type")
        }
        return value
    }

    /// `column`, a JSON document stored as text, decoded as `T`.
    func json<T: Decodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(try decode(column, as: String.self).utf8))
    }

    /// A timestamp column as microseconds since 1970, exactly as stored (keyset cursors compare these).
    func micros(_ column: String) throws -> Int64 {
        switch try value(column) {
        case .time(let micros), .int(let micros): return micros
        default: throw SQLDecodingError(column: column, reason: "is not a timestamp")
        }
    }
}

/// A Swift value a row column decodes into. `nil` means the column holds another type (or NULL).
protocol SQLDecodable {
    init?(sqlValue: SQLValue)
}

extension String: SQLDecodable {
    init?(sqlValue: SQLValue) {
        guard case .text(let value) = sqlValue else { return nil }
        self = value
    }
}

extension Int64: SQLDecodable {
    init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .int(let value): self = value
        case .bool(let value): self = value ? 1 : 0
        default: return nil
        }
    }
}

extension Int: SQLDecodable {
    init?(sqlValue: SQLValue) {
        guard let wide = Int64(sqlValue: sqlValue), let value = Int(exactly: wide) else { return nil }
        self = value
    }
}

/// A boolean is a `boolean` in PostgreSQL and 0 or 1 in SQLite.
extension Bool: SQLDecodable {
    init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .bool(let value): self = value
        case .int(let value): self = value != 0
        default: return nil
        }
    }
}

/// A UUID is a `uuid` in PostgreSQL and text in SQLite.
extension UUID: SQLDecodable {
    init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .uuid(let value): self = value
        case .text(let text):
            guard let value = UUID(uuidString: text) else { return nil }
            self = value
        default: return nil
        }
    }
}

/// A timestamp is a `timestamptz` in PostgreSQL and integer microseconds in SQLite.
extension Date: SQLDecodable {
    init?(sqlValue: SQLValue) {
        switch sqlValue {
        case .time(let micros), .int(let micros): self = CatalogTime.date(micros)
        default: return nil
        }
    }
}

/// NULL decodes into `nil`; anything else must decode into `Wrapped`.
extension Optional: SQLDecodable where Wrapped: SQLDecodable {
    init?(sqlValue: SQLValue) {
        if case .null = sqlValue {
            self = .none
            return
        }
        guard let value = Wrapped(sqlValue: sqlValue) else { return nil }
        self = .some(value)
    }
}

/// A result column that is missing or holds an unexpected type. Names the column, never its value.
struct SQLDecodingError: Error, CustomStringConvertible {
    var column: String
    var reason: String
    var description: String { "result column \(column) \(reason)" }
}

/// A unique or primary key constraint refused a write. `constraint` is the constraint name
/// (PostgreSQL) or `table.column` (SQLite): never row data.
struct SQLUniqueViolation: Error {
    var constraint: String
}

/// The database refused a statement for a reason a retry cannot change: a data exception (PostgreSQL
/// class 22, e.g. NUL in text), an integrity violation other than a unique key (class 23), a program
/// limit (class 54, e.g. an index entry too large), or SQLite's TOOBIG/MISMATCH/CONSTRAINT. `kind` is the
/// SQLSTATE or SQLite reason: never row data.
struct SQLPermanentError: Error {
    var kind: String
}

/// One connection (inside or outside a transaction), which renders each statement in its dialect.
protocol SQLSession {
    @discardableResult
    func query(_ statement: SQLStatement) async throws -> [SQLRow]
}

enum SQLDialect: Sendable {
    case postgres
    case sqlite
}

/// What the SQL catalog needs of a database: sessions, transactions and the dialect to write for.
protocol CatalogDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// Runs `body` in one write transaction, retrying it when the database asks for a retry
    /// (deadlock, serialization failure). `body` may therefore run more than once.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T
    /// Runs one statement as a write transaction of its own, with the retries of `write`, and returns its rows.
    func write(_ statement: SQLStatement) async throws -> [SQLRow]
    /// Runs `body` on one connection outside any explicit transaction.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T
    /// Applies the migrations this database lacks, one migrator at a time; returns those applied.
    func migrate(_ migrations: [Migration]) async throws -> [Migration]
}

extension CatalogDatabase {
    /// A transaction of one statement is `write` with that statement as its body (SQLite: one job of
    /// the group commit, which shares its COMMIT with the writes queued beside it).
    func write(_ statement: SQLStatement) async throws -> [SQLRow] {
        try await write { session in try await session.query(statement) }
    }
}
