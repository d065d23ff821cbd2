import Foundation
import NIOPosix
import Synchronization
import VaporCSQLite

/// One connection to an SQLite database file over SQLite's C API, with a cache of prepared statements
/// (`SQLiteStatementCache`).
///
/// The library is the copy sqlite-nio builds in (`VaporCSQLite`, every symbol prefixed `sqlite_nio_`),
/// never a second one: SQLite's POSIX advisory locks belong to the process, and a second copy of the
/// library in the same process would not see the first one's locks on the same file, so closing a file
/// in one copy would drop the locks the other holds.
///
/// Every call into SQLite runs on a thread of its own: a statement may wait for the disk, an fsync or the
/// busy timeout, which must stall neither an event loop nor a thread of the Swift concurrency pool. A task
/// that prefers the connection's `executor` (the catalog runs each transaction so) is on the connection's
/// thread already, and a statement is a plain call there; from anywhere else it is one job on
/// `BlockingPools.sqlite`: look up or compile, bind, every step with the rows read, reset.
/// The lock makes the connection's state one job's at a time; the catalog uses each connection from one
/// task at a time anyway, so it is never contended.
final class SQLiteHandle: Sendable {
    /// The statements the catalog keeps compiled per connection: its own statements number well below
    /// this, so only texts built at run time (IN-lists, optional filters) ever make one leave.
    static let defaultStatementCapacity = 256

    private struct State {
        /// nil once closed.
        var connection: OpaquePointer?
        var cache: SQLiteStatementCache
    }

    private let state: Mutex<State>

    /// The connection's own thread, for the tasks that run its transactions.
    let executor: SQLiteThreadExecutor

    private init(connection: sending OpaquePointer, statementCapacity: Int, name: String) {
        state = Mutex(State(connection: connection, cache: SQLiteStatementCache(capacity: statementCapacity)))
        executor = SQLiteThreadExecutor(name: name)
    }

    /// Opens (creating it when missing) the database file at `path`, with sqlite-nio's flags: read-write,
    /// serialized threading mode, URI file names, extended result codes. A writer lock held by another
    /// connection is waited for up to 10 s (`busy_timeout`) before a statement fails with `SQLITE_BUSY`.
    static func open(path: String, statementCapacity: Int = defaultStatementCapacity, name: String = "sqlite") async throws -> SQLiteHandle {
        try await BlockingPools.sqlite.runIfActive {
            _ = libraryInitialized
            var connection: OpaquePointer?
            let flags = SQLITE_OPEN_CREATE | SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX | SQLITE_OPEN_URI | SQLITE_OPEN_EXRESCODE
            let code = sqlite_nio_sqlite3_open_v2(path, &connection, flags, nil)
            guard code == SQLITE_OK, let connection else {
                let error = SQLiteResultError(code: code, message: connection.map(Self.message(of:)) ?? "cannot open the database")
                // SQLite returns a handle even when opening fails; it only holds the error message.
                sqlite_nio_sqlite3_close(connection)
                throw error
            }
            let busy = sqlite_nio_sqlite3_busy_timeout(connection, 10_000)
            guard busy == SQLITE_OK else {
                let error = SQLiteResultError(code: busy, message: Self.message(of: connection))
                sqlite_nio_sqlite3_close(connection)
                throw error
            }
            return SQLiteHandle(connection: connection, statementCapacity: statementCapacity, name: name)
        }
    }

    /// `sqlite3_initialize` once, before the first connection: it sets up SQLite's global configuration,
    /// which connections opened at the same time would otherwise race to do.
    private static let libraryInitialized: Void = {
        _ = sqlite_nio_sqlite3_initialize()
    }()

    /// Runs `sql` with `binds` as `?1, ?2, …` (parameters beyond them are NULL) and returns its rows. The
    /// compiled statement is kept for the next run of the same text (`cached`; a statement run once, like a
    /// PRAGMA at open, passes false). Whether it succeeds or fails, the statement is reset, so an error
    /// leaves nothing behind for the next run. Throws `SQLiteResultError`.
    func query(_ sql: String, _ binds: [SQLValue], cached: Bool = true) async throws -> [SQLRow] {
        if executor.isCurrent {
            return try run(sql, binds, cached: cached)
        }
        return try await BlockingPools.sqlite.runIfActive {
            try self.run(sql, binds, cached: cached)
        }
    }

    /// `query` on the calling thread, which is the connection's own or a `BlockingPools.sqlite` thread.
    private func run(_ sql: String, _ binds: [SQLValue], cached: Bool) throws -> [SQLRow] {
        try self.state.withLock { state in
            guard let connection = state.connection else {
                throw SQLiteResultError(code: SQLITE_MISUSE, message: "the connection is closed")
            }
            guard cached else {
                guard let statement = try Self.compile(sql, flags: 0, on: connection) else { return [] }
                defer { sqlite_nio_sqlite3_finalize(statement) }
                return try Self.run(statement, binds: binds, entry: nil, on: connection)
            }
            let entry: SQLiteStatementCache.Entry
            if let found = state.cache.entry(for: sql) {
                entry = found
            } else {
                guard let statement = try Self.compile(sql, flags: UInt32(SQLITE_PREPARE_PERSISTENT), on: connection) else {
                    return []
                }
                let inserted = state.cache.insert(statement, for: sql)
                if let evicted = inserted.evicted {
                    sqlite_nio_sqlite3_finalize(evicted)
                }
                entry = inserted.entry
            }
            defer {
                state.cache.noteRecompiles(sqlite_nio_sqlite3_stmt_status(entry.statement, SQLITE_STMTSTATUS_REPREPARE, 0), of: entry)
            }
            return try Self.run(entry.statement, binds: binds, entry: entry, on: connection)
        }
    }

    /// Finalizes the cached statements and closes the connection. `sqlite3_close` refuses (`SQLITE_BUSY`)
    /// while any statement of the connection is left unfinalized: that refusal is thrown, and the
    /// connection is then handed to `sqlite3_close_v2`, which closes it once those statements are gone.
    /// Closing twice is a no-op.
    func close() async throws {
        try await BlockingPools.sqlite.runIfActive {
            try self.closeNow()
        }
    }

    /// `close()` without waiting, for a connection dropped unclosed; a failure is lost.
    func closeInBackground() {
        BlockingPools.sqlite.submit { _ in
            do {
                try self.closeNow()
            } catch {
                // Nobody is left to tell; sqlite3_close_v2 has released what it could.
            }
        }
    }

    /// What the statement cache did so far.
    var statementStatistics: SQLiteStatementCache.Statistics {
        state.withLock { $0.cache.statistics }
    }

    /// Runs on `BlockingPools.sqlite`.
    private func closeNow() throws {
        // The connection's thread ends once it has nothing left to run.
        executor.shutdown()
        try state.withLock { state in
            guard let connection = state.connection else { return }
            state.connection = nil
            for statement in state.cache.removeAll() {
                sqlite_nio_sqlite3_finalize(statement)
            }
            let code = sqlite_nio_sqlite3_close(connection)
            guard code == SQLITE_OK else {
                let error = SQLiteResultError(code: code, message: Self.message(of: connection))
                sqlite_nio_sqlite3_close_v2(connection)
                throw error
            }
        }
    }

    /// The statement compiled from the first statement of `sql`; nil when `sql` holds none (only blanks or
    /// comments).
    private static func compile(_ sql: String, flags: UInt32, on connection: OpaquePointer) throws -> OpaquePointer? {
        var statement: OpaquePointer?
        // The length includes the terminating NUL, which spares SQLite a copy of the text.
        let code = sql.withCString { text in
            sqlite_nio_sqlite3_prepare_v3(connection, text, Int32(clamping: sql.utf8.count + 1), flags, &statement, nil)
        }
        guard code == SQLITE_OK else {
            throw SQLiteResultError(code: code, message: message(of: connection))
        }
        return statement
    }

    /// Binds every parameter of `statement` (`binds`, then NULL), steps it to its end and reads every row;
    /// then resets it, also when it fails. The column names come from `entry` while its program is the one
    /// they were read from.
    ///
    /// The bindings are overwritten by the next run rather than cleared: `sqlite3_clear_bindings` marks a
    /// statement whose plan looked at a bound value (an equality on a column outside the index, a LIMIT)
    /// as expired, and its next step compiles it anew, which is the work the cache is there to save. The
    /// last run's values stay in the statement's memory until then.
    private static func run(
        _ statement: OpaquePointer, binds: [SQLValue], entry: SQLiteStatementCache.Entry?, on connection: OpaquePointer
    ) throws -> [SQLRow] {
        defer {
            // Returns the last step's error again, already thrown below.
            sqlite_nio_sqlite3_reset(statement)
        }
        for (offset, value) in binds.enumerated() {
            guard let index = Int32(exactly: offset + 1) else {
                throw SQLiteResultError(code: SQLITE_RANGE, message: "too many parameters")
            }
            let code: Int32
            switch value {
            case .null: code = sqlite_nio_sqlite3_bind_null(statement, index)
            case .text(let text): code = bind(text, at: index, of: statement)
            case .int(let int): code = sqlite_nio_sqlite3_bind_int64(statement, index, int)
            case .bool(let bool): code = sqlite_nio_sqlite3_bind_int64(statement, index, bool ? 1 : 0)
            case .uuid(let uuid): code = bind(uuid.uuidString, at: index, of: statement)
            case .time(let micros): code = sqlite_nio_sqlite3_bind_int64(statement, index, micros)
            }
            guard code == SQLITE_OK else {
                throw SQLiteResultError(code: code, message: message(of: connection))
            }
        }
        // A parameter without a value is NULL, as on a freshly compiled statement, not the last run's value.
        let parameters = sqlite_nio_sqlite3_bind_parameter_count(statement)
        if let first = Int32(exactly: binds.count + 1), first <= parameters {
            for index in first...parameters {
                sqlite_nio_sqlite3_bind_null(statement, index)
            }
        }
        var rows: [SQLRow] = []
        var columns: SQLColumns?
        while true {
            let code = sqlite_nio_sqlite3_step(statement)
            if code == SQLITE_DONE { return rows }
            guard code == SQLITE_ROW else {
                throw SQLiteResultError(code: code, message: message(of: connection))
            }
            let count = sqlite_nio_sqlite3_column_count(statement)
            if columns == nil {
                columns = try resultColumns(of: statement, count: count, entry: entry)
            }
            var values: [SQLValue] = []
            values.reserveCapacity(Int(count))
            for column in 0..<count {
                values.append(try value(at: column, of: statement))
            }
            rows.append(SQLRow(columns: columns ?? SQLColumns([]), values: values))
        }
    }

    /// Text is copied by SQLite (`SQLITE_TRANSIENT`), with its UTF-8 length.
    private static func bind(_ text: String, at index: Int32, of statement: OpaquePointer) -> Int32 {
        text.withCString { pointer in
            sqlite_nio_sqlite3_bind_text64(statement, index, pointer, UInt64(text.utf8.count), transient, UInt8(SQLITE_UTF8))
        }
    }

    /// `SQLITE_TRANSIENT`, a C macro Swift does not import: SQLite copies the value before the call returns.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private static func resultColumns(of statement: OpaquePointer, count: Int32, entry: SQLiteStatementCache.Entry?) throws -> SQLColumns {
        let program = sqlite_nio_sqlite3_stmt_status(statement, SQLITE_STMTSTATUS_REPREPARE, 0)
        if let entry, let columns = entry.columns, entry.columnsProgram == program {
            return columns
        }
        var names: [String] = []
        names.reserveCapacity(Int(count))
        for column in 0..<count {
            guard let name = sqlite_nio_sqlite3_column_name(statement, column) else {
                throw SQLiteResultError(code: SQLITE_NOMEM, message: "no name for result column \(column)")
            }
            names.append(String(cString: name))
        }
        let columns = SQLColumns(names)
        entry?.columns = columns
        entry?.columnsProgram = program
        return columns
    }

    /// A cell as a catalog value: integer, text or NULL. No catalog column is a float: a REAL is an
    /// integer SQLite stored as REAL (one beyond the 64-bit range reads as NULL); no catalog column is a
    /// blob either, so one reads as NULL.
    private static func value(at column: Int32, of statement: OpaquePointer) throws -> SQLValue {
        switch sqlite_nio_sqlite3_column_type(statement, column) {
        case SQLITE_INTEGER:
            return .int(sqlite_nio_sqlite3_column_int64(statement, column))
        case SQLITE_TEXT:
            guard let text = sqlite_nio_sqlite3_column_text(statement, column) else {
                throw SQLiteResultError(code: SQLITE_NOMEM, message: "no text for result column \(column)")
            }
            return .text(String(cString: text))
        case SQLITE_FLOAT:
            let real = sqlite_nio_sqlite3_column_double(statement, column)
            return Int64(exactly: real.rounded(.towardZero)).map(SQLValue.int) ?? .null
        default:
            return .null
        }
    }

    private static func message(of connection: OpaquePointer) -> String {
        sqlite_nio_sqlite3_errmsg(connection).map { String(cString: $0) } ?? "unknown error"
    }
}

/// A statement or connection that SQLite refused: its result code (extended, as the connection is opened
/// with `SQLITE_OPEN_EXRESCODE`) and SQLite's message, which names tables, columns and constraints but
/// not the bound values.
struct SQLiteResultError: Error, CustomStringConvertible {
    let code: Int32
    let message: String

    var description: String {
        "\(Self.reason(code) ?? "code \(code)"): \(message)"
    }

    /// A unique or primary key constraint refused the row.
    var isUniqueViolation: Bool {
        code == SQLITE_CONSTRAINT_UNIQUE || code == SQLITE_CONSTRAINT_PRIMARYKEY
    }

    /// The name of the refusal when it depends on the statement's values only, so that the same values
    /// fail on every retry: too big, a type mismatch, a parameter out of range, a CHECK, NOT NULL, STRICT
    /// type or foreign key constraint. nil for the others.
    var permanentReason: String? {
        switch code {
        case SQLITE_TOOBIG, SQLITE_MISMATCH, SQLITE_RANGE, SQLITE_CONSTRAINT, SQLITE_CONSTRAINT_CHECK,
             SQLITE_CONSTRAINT_NOTNULL, SQLITE_CONSTRAINT_DATATYPE, SQLITE_CONSTRAINT_FOREIGNKEY:
            return Self.reason(code)
        default:
            return nil
        }
    }

    /// The name of a result code the catalog tells apart (the names sqlite-nio gave them) or SQLite's own
    /// short text for the others.
    private static func reason(_ code: Int32) -> String? {
        switch code {
        case SQLITE_TOOBIG: "tooBig"
        case SQLITE_MISMATCH: "mismatch"
        case SQLITE_RANGE: "range"
        case SQLITE_CONSTRAINT: "constraint"
        case SQLITE_CONSTRAINT_CHECK: "constraintCheckFailed"
        case SQLITE_CONSTRAINT_NOTNULL: "constraintNotNullFailed"
        case SQLITE_CONSTRAINT_DATATYPE: "constraintStrictDataTypeFailed"
        case SQLITE_CONSTRAINT_FOREIGNKEY: "constraintForeignKeyFailed"
        case SQLITE_CONSTRAINT_UNIQUE: "constraintUniqueFailed"
        case SQLITE_CONSTRAINT_PRIMARYKEY: "constraintPrimaryKeyFailed"
        default: sqlite_nio_sqlite3_errstr(code).map { String(cString: $0) }
        }
    }
}

// SQLite's extended result codes of the constraints the catalog tells apart: C macros built with `|` and
// `<<`, which Swift does not import (values from sqlite3.h).
private let SQLITE_CONSTRAINT_CHECK: Int32 = SQLITE_CONSTRAINT | (1 << 8)
private let SQLITE_CONSTRAINT_FOREIGNKEY: Int32 = SQLITE_CONSTRAINT | (3 << 8)
private let SQLITE_CONSTRAINT_NOTNULL: Int32 = SQLITE_CONSTRAINT | (5 << 8)
private let SQLITE_CONSTRAINT_PRIMARYKEY: Int32 = SQLITE_CONSTRAINT | (6 << 8)
private let SQLITE_CONSTRAINT_UNIQUE: Int32 = SQLITE_CONSTRAINT | (8 << 8)
private let SQLITE_CONSTRAINT_DATATYPE: Int32 = SQLITE_CONSTRAINT | (12 << 8)
