/// The prepared statements of one SQLite connection, by SQL text; the least recently used one leaves first.
///
/// `sqlite3_prepare_v3` compiles a statement's text into a program (parsing, name resolution, query
/// planning), which costs more than running the short statements of the catalog. The catalog runs the
/// same texts for every instance, so each is compiled once per connection and afterwards only reset and
/// bound anew. Texts built at run time (IN-lists, optional filters) can be many, so at most `capacity`
/// programs are kept: the least recently used one is handed back to be finalized when a new one needs
/// its place.
///
/// Bookkeeping only: the owning `SQLiteHandle` compiles and finalizes the statements, under its lock.
struct SQLiteStatementCache {
    /// One compiled statement and what is known of its result columns.
    final class Entry {
        let statement: OpaquePointer
        fileprivate(set) var lastUse: UInt64
        /// The result's column names, read from the program that `columnsProgram` counts: SQLite compiles a
        /// statement anew when the schema changes (`SQLITE_STMTSTATUS_REPREPARE`), which may change them.
        var columns: SQLColumns?
        var columnsProgram: Int32 = 0
        /// How often SQLite had compiled the statement anew when last looked at.
        fileprivate var recompiles: Int32 = 0

        fileprivate init(statement: OpaquePointer, lastUse: UInt64) {
            self.statement = statement
            self.lastUse = lastUse
        }
    }

    /// What the cache did so far, for tests and diagnostics.
    struct Statistics: Sendable, Equatable {
        /// Statements compiled for the cache.
        var compiles = 0
        /// Statements found compiled.
        var hits = 0
        /// Statements held now.
        var cached = 0
        /// Times SQLite compiled a cached statement anew by itself (`SQLITE_STMTSTATUS_REPREPARE`): after a
        /// schema change, or when a new value is bound to a parameter its query plan depends on.
        var recompiles = 0
    }

    let capacity: Int
    private var entries: [String: Entry] = [:]
    private var clock: UInt64 = 0
    private var counts = Statistics()

    /// `capacity` is at least 1.
    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    var statistics: Statistics {
        var statistics = counts
        statistics.cached = entries.count
        return statistics
    }

    /// The compiled statement of `sql`, now the most recently used one; nil when it is not cached.
    mutating func entry(for sql: String) -> Entry? {
        guard let entry = entries[sql] else { return nil }
        clock &+= 1
        entry.lastUse = clock
        counts.hits += 1
        return entry
    }

    /// Notes the count of recompilations SQLite reports for `entry` now.
    mutating func noteRecompiles(_ count: Int32, of entry: Entry) {
        counts.recompiles += Int(count &- entry.recompiles)
        entry.recompiles = count
    }

    /// Keeps `statement`, just compiled from `sql`, which is not cached. Returns its entry and the statement
    /// that left to make room, which the caller finalizes.
    mutating func insert(_ statement: OpaquePointer, for sql: String) -> (entry: Entry, evicted: OpaquePointer?) {
        var evicted: OpaquePointer?
        if entries.count >= capacity, let oldest = entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            entries[oldest.key] = nil
            evicted = oldest.value.statement
        }
        clock &+= 1
        let entry = Entry(statement: statement, lastUse: clock)
        entries[sql] = entry
        counts.compiles += 1
        return (entry, evicted)
    }

    /// Empties the cache; returns every statement it held, which the caller finalizes.
    mutating func removeAll() -> [OpaquePointer] {
        let statements = entries.values.map(\.statement)
        entries = [:]
        return statements
    }
}
