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

    static func text(_ value: String?) -> SQLValue { value.map(SQLValue.text) ?? .null }
    static func int(_ value: Int?) -> SQLValue { value.map { .int(Int64($0)) } ?? .null }
    static func int(_ value: Int) -> SQLValue { .int(Int64(value)) }
    static func date(_ value: Date) -> SQLValue { .time(CatalogTime.micros(value)) }
    static func date(_ value: Date?) -> SQLValue { value.map { .time(CatalogTime.micros($0)) } ?? .null }
}

/// One result row, decoded by position.
struct SQLRow: Sendable {
    var values: [SQLValue]

    subscript(_ index: Int) -> SQLValue { values[index] }

    func string(_ index: Int) throws -> String {
        guard let value = optionalString(index) else { throw SQLDecodingError(column: index) }
        return value
    }

    func optionalString(_ index: Int) -> String? {
        if case .text(let value) = values[index] { return value }
        return nil
    }

    func int64(_ index: Int) throws -> Int64 {
        guard let value = optionalInt64(index) else { throw SQLDecodingError(column: index) }
        return value
    }

    func optionalInt64(_ index: Int) -> Int64? {
        switch values[index] {
        case .int(let value): return value
        case .bool(let value): return value ? 1 : 0
        default: return nil
        }
    }

    func int(_ index: Int) throws -> Int { Int(try int64(index)) }
    func optionalInt(_ index: Int) -> Int? { optionalInt64(index).map { Int($0) } }

    func bool(_ index: Int) throws -> Bool {
        switch values[index] {
        case .bool(let value): return value
        case .int(let value): return value != 0
        default: throw SQLDecodingError(column: index)
        }
    }

    func uuid(_ index: Int) throws -> UUID {
        switch values[index] {
        case .uuid(let value): return value
        case .text(let text):
            guard let value = UUID(uuidString: text) else { throw SQLDecodingError(column: index) }
            return value
        default: throw SQLDecodingError(column: index)
        }
    }

    func date(_ index: Int) throws -> Date {
        guard let value = optionalDate(index) else { throw SQLDecodingError(column: index) }
        return value
    }

    func optionalDate(_ index: Int) -> Date? {
        switch values[index] {
        case .time(let micros), .int(let micros): return CatalogTime.date(micros)
        default: return nil
        }
    }

    func micros(_ index: Int) throws -> Int64 {
        switch values[index] {
        case .time(let micros), .int(let micros): return micros
        default: throw SQLDecodingError(column: index)
        }
    }
}

struct SQLDecodingError: Error, CustomStringConvertible {
    var column: Int
    var description: String { "unexpected value type in result column \(column)" }
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

/// One connection (inside or outside a transaction). Statements use `?` placeholders.
protocol SQLSession {
    @discardableResult
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [SQLRow]
}

enum SQLDialect: Sendable {
    case postgres
    case sqlite
}

/// What the shared catalog logic needs of a database.
protocol CatalogDatabase: Sendable {
    var dialect: SQLDialect { get }
    /// Runs `body` in one write transaction, retrying it when the database asks for a retry
    /// (deadlock, serialization failure). `body` may therefore run more than once.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T
    /// Runs `body` on one connection outside any explicit transaction.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T
}

/// Appends SQL fragments and their bound values together, so a `?` never drifts from its value.
struct SQLBuilder {
    var sql: String = ""
    var binds: [SQLValue] = []

    init(_ sql: String = "", _ binds: SQLValue...) {
        self.sql = sql
        self.binds = binds
    }

    mutating func append(_ fragment: String, _ values: SQLValue...) {
        sql += fragment
        binds += values
    }
}

/// Splits `sql` at `;` outside string literals, quoted identifiers and comments. Both drivers run one
/// statement per call, so a migration file is applied statement by statement.
func splitSQLStatements(_ sql: String) -> [String] {
    var statements: [String] = []
    var current = ""
    var chars = Array(sql)
    chars.append("\n")
    var i = 0
    while i < chars.count - 1 {
        let c = chars[i]
        if c == "-" && chars[i + 1] == "-" {
            while i < chars.count && chars[i] != "\n" { i += 1 }
            current.append("\n")
            i += 1
            continue
        }
        if c == "/" && chars[i + 1] == "*" {
            i += 2
            while i < chars.count - 1 && !(chars[i] == "*" && chars[i + 1] == "/") { i += 1 }
            i += 2
            current.append(" ")
            continue
        }
        if c == "'" || c == "\"" {
            current.append(c)
            i += 1
            while i < chars.count - 1 {
                current.append(chars[i])
                if chars[i] == c {
                    if chars[i + 1] == c {  // doubled quote inside the literal
                        current.append(chars[i + 1])
                        i += 2
                        continue
                    }
                    break
                }
                i += 1
            }
            i += 1
            continue
        }
        if c == ";" {
            let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
            if !trimmed.isEmpty { statements.append(trimmed) }
            current = ""
            i += 1
            continue
        }
        current.append(c)
        i += 1
    }
    let trimmed = current.trimmingCharacters(in: .whitespacesAndNewlines)
    if !trimmed.isEmpty { statements.append(trimmed) }
    return statements
}

/// Replaces each `?` outside string literals with `$1`, `$2`, ... for PostgreSQL.
func numberedPlaceholders(_ sql: String) -> String {
    var out = ""
    out.reserveCapacity(sql.utf8.count + 16)
    var inQuote = false
    var n = 0
    for c in sql {
        if c == "'" { inQuote.toggle() }
        if c == "?" && !inQuote {
            n += 1
            out += "$\(n)"
        } else {
            out.append(c)
        }
    }
    return out
}
