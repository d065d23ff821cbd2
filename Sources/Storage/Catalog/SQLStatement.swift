import Foundation

/// One SQL statement whose values travel as bound parameters, written once for both dialects.
///
/// Written as a string literal with interpolations, the way postgres-nio writes a `PostgresQuery`:
///
///     let statement: SQLStatement = "SELECT id FROM listeners WHERE name = \(name) AND port = \(port)"
///
/// Every `\(value)` of a `SQLBindable` type (text, integers, booleans, UUIDs, dates, their optionals,
/// `SQLValue`) becomes a parameter; `\(otherStatement)` embeds a statement with its parameters still
/// bound. Text enters the SQL only from literals or through `\(unsafeRaw:)` / `init(unsafeSQL:)`, which
/// the catalog uses for identifiers and fragments chosen from a fixed set, never for values. The
/// placeholders are numbered when the statement is rendered for a dialect: `$1, $2, …` for PostgreSQL,
/// `?1, ?2, …` for SQLite.
struct SQLStatement: Sendable, Hashable {
    /// A run of SQL text or one bound value, in statement order.
    enum Fragment: Sendable, Hashable {
        case sql(String)
        case parameter(SQLValue)
    }

    private(set) var fragments: [Fragment]
    /// Set on the statements every instance runs: PostgreSQL prepares the statement once per connection
    /// under this name and plans it from then on without parsing it again (see `PreparedStatementName`).
    private(set) var preparedName: PreparedStatementName?

    /// A statement made of `sql` exactly as given. Only for text that holds no value from outside:
    /// a constant, an identifier from a fixed list, a migration file.
    init(unsafeSQL sql: String) {
        self.fragments = sql.isEmpty ? [] : [.sql(sql)]
    }

    /// The bound values, in placeholder order.
    var binds: [SQLValue] {
        fragments.compactMap { fragment in
            if case .parameter(let value) = fragment { return value }
            return nil
        }
    }

    /// The SQL text with the placeholders of `dialect`.
    func sql(for dialect: SQLDialect) -> String {
        var sql = ""
        var parameter = 0
        for fragment in fragments {
            switch fragment {
            case .sql(let text):
                sql += text
            case .parameter:
                parameter += 1
                switch dialect {
                case .postgres: sql += "$\(parameter)"
                case .sqlite: sql += "?\(parameter)"
                }
            }
        }
        return sql
    }

    /// This statement, prepared under `name` where the dialect prepares statements.
    func prepared(as name: PreparedStatementName) -> SQLStatement {
        var statement = self
        statement.preparedName = name
        return statement
    }

    mutating func append(_ other: SQLStatement) {
        fragments += other.fragments
    }

    static func + (lhs: SQLStatement, rhs: SQLStatement) -> SQLStatement {
        var result = lhs
        result.append(rhs)
        return result
    }

    static func += (lhs: inout SQLStatement, rhs: SQLStatement) {
        lhs.append(rhs)
    }

    /// `parts` one after the other with `separator` between them (`a, b, c` for a column or value list).
    static func joined(_ parts: [SQLStatement], separator: String = ", ") -> SQLStatement {
        var result = SQLStatement(unsafeSQL: "")
        for (index, part) in parts.enumerated() {
            if index > 0 { result.fragments.append(.sql(separator)) }
            result.append(part)
        }
        return result
    }
}

/// Literal text is a `StaticString`, so only text written in the source can become SQL this way: a
/// runtime `String` has to go through `init(unsafeSQL:)` or `\(unsafeRaw:)`.
extension SQLStatement: ExpressibleByStringInterpolation {
    init(stringLiteral value: StaticString) {
        self.init(unsafeSQL: value.description)
    }

    init(stringInterpolation: StringInterpolation) {
        self.fragments = stringInterpolation.fragments
    }

    struct StringInterpolation: StringInterpolationProtocol {
        fileprivate var fragments: [Fragment] = []

        init(literalCapacity: Int, interpolationCount: Int) {
            fragments.reserveCapacity(2 * interpolationCount + 1)
        }

        mutating func appendLiteral(_ literal: StaticString) {
            appendSQL(literal.description)
        }

        /// A value: always a bound parameter.
        mutating func appendInterpolation(_ value: some SQLBindable) {
            fragments.append(.parameter(value.sqlValue))
        }

        /// An optional value: a bound parameter, NULL when absent.
        mutating func appendInterpolation<Value: SQLBindable>(_ value: Value?) {
            fragments.append(.parameter(value?.sqlValue ?? .null))
        }

        /// Another statement, its values still bound.
        mutating func appendInterpolation(_ statement: SQLStatement) {
            fragments += statement.fragments
        }

        /// Text spliced into the SQL as it is. Only for identifiers and fragments chosen from a fixed
        /// set in this module; a value from outside goes through `\(value)`.
        mutating func appendInterpolation(unsafeRaw text: String) {
            appendSQL(text)
        }

        private mutating func appendSQL(_ text: String) {
            guard !text.isEmpty else { return }
            fragments.append(.sql(text))
        }
    }
}

extension SQLStatement: CustomStringConvertible {
    /// The SQL with PostgreSQL placeholders and the number of bound values, never the values
    /// themselves (they may be patient data).
    var description: String { "\(sql(for: .postgres)) [\(binds.count) bound]" }
}

/// A Swift value that a statement binds as a parameter.
protocol SQLBindable {
    var sqlValue: SQLValue { get }
}

extension SQLValue: SQLBindable {
    var sqlValue: SQLValue { self }
}

extension String: SQLBindable {
    var sqlValue: SQLValue { .text(self) }
}

extension Int64: SQLBindable {
    var sqlValue: SQLValue { .int(self) }
}

extension Int: SQLBindable {
    var sqlValue: SQLValue { .int(Int64(self)) }
}

extension Bool: SQLBindable {
    var sqlValue: SQLValue { .bool(self) }
}

extension UUID: SQLBindable {
    var sqlValue: SQLValue { .uuid(self) }
}

/// Bound as `timestamptz` (PostgreSQL) or integer microseconds (SQLite); see `CatalogTime`.
extension Date: SQLBindable {
    var sqlValue: SQLValue { .time(CatalogTime.micros(self)) }
}
