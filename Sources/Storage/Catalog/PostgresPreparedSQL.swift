import PostgresNIO
import Synchronization

/// The statements that run for every instance on the C-STORE and forward paths. Each is prepared once per
/// connection (a named statement of the extended query protocol) and then only bound and executed: the
/// server no longer parses, analyses and plans its text on every call (the plan is cached once PostgreSQL
/// finds a generic plan as good as the custom ones, as it does for these key lookups and upserts).
enum PreparedStatementName: String, Sendable, Hashable {
    case instanceLock = "instance_lock"
    case instanceLockReading = "instance_lock_reading"
    case committedObjects = "committed_objects"
    case recordInstance = "record_instance"
    case forwardClaim = "forward_claim"
    case forwardSettle = "forward_settle"

    /// The name on the server, in a namespace of its own.
    var serverName: String { "dicom_ingest_\(rawValue)" }
}

/// The text each prepared statement was first run with. postgres-nio names a prepared statement by its
/// type and reads its SQL from the type (a static property), while the catalog builds its SQL at run time
/// (from fixed fragments, the same text on every call): the first text run under a name is kept here, and
/// a statement whose text differs from it runs unprepared instead of under a name that means other SQL.
final class PreparedSQLTexts: Sendable {
    static let shared = PreparedSQLTexts()

    private let texts = Mutex<[PreparedStatementName: String]>([:])

    /// True when `sql` is the text of `name` (recorded now if `name` had none).
    func admit(_ name: PreparedStatementName, sql: String) -> Bool {
        texts.withLock { texts in
            if let known = texts[name] { return known == sql }
            texts[name] = sql
            return true
        }
    }

    func text(_ name: PreparedStatementName) -> String {
        texts.withLock { $0[name] ?? "" }
    }
}

/// A type per prepared statement, as postgres-nio's `PostgresPreparedStatement` wants one.
protocol PreparedStatementKey: Sendable {
    static var statement: PreparedStatementName { get }
}

/// One execution of the statement `Key` names. The parameter types are left to the server (none are
/// declared at Parse): it infers each from its column or operator, which is the type this module binds at
/// that position on every call (bigint, text, boolean, uuid, timestamptz), NULL included.
struct PostgresPreparedSQL<Key: PreparedStatementKey>: PostgresPreparedStatement {
    typealias Row = PostgresRow
    static var name: String { Key.statement.serverName }
    static var sql: String { PreparedSQLTexts.shared.text(Key.statement) }
    let bindings: PostgresBindings

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

enum InstanceLockKey: PreparedStatementKey { static var statement: PreparedStatementName { .instanceLock } }
enum CommittedObjectsKey: PreparedStatementKey { static var statement: PreparedStatementName { .committedObjects } }
enum InstanceLockReadingKey: PreparedStatementKey { static var statement: PreparedStatementName { .instanceLockReading } }
enum RecordInstanceKey: PreparedStatementKey { static var statement: PreparedStatementName { .recordInstance } }
enum ForwardClaimKey: PreparedStatementKey { static var statement: PreparedStatementName { .forwardClaim } }
enum ForwardSettleKey: PreparedStatementKey { static var statement: PreparedStatementName { .forwardSettle } }

extension PostgresSession {
    /// The rows of `statement` run as the prepared statement `name` on this connection (prepared first
    /// if this connection has not yet), or nil when its text is not the one `name` was admitted with.
    func preparedRows(_ statement: SQLStatement, as name: PreparedStatementName) async throws -> [PostgresRow]? {
        let query = Self.postgresQuery(statement)
        guard PreparedSQLTexts.shared.admit(name, sql: query.sql) else { return nil }
        switch name {
        case .instanceLock: return try await execute(PostgresPreparedSQL<InstanceLockKey>(bindings: query.binds))
        case .committedObjects: return try await execute(PostgresPreparedSQL<CommittedObjectsKey>(bindings: query.binds))
        case .instanceLockReading: return try await execute(PostgresPreparedSQL<InstanceLockReadingKey>(bindings: query.binds))
        case .recordInstance: return try await execute(PostgresPreparedSQL<RecordInstanceKey>(bindings: query.binds))
        case .forwardClaim: return try await execute(PostgresPreparedSQL<ForwardClaimKey>(bindings: query.binds))
        case .forwardSettle: return try await execute(PostgresPreparedSQL<ForwardSettleKey>(bindings: query.binds))
        }
    }

    private func execute<Key>(_ statement: PostgresPreparedSQL<Key>) async throws -> [PostgresRow] {
        var rows: [PostgresRow] = []
        for try await row in try await connection.execute(statement, logger: logger) {
            rows.append(row)
        }
        return rows
    }
}
