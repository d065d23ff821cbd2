public import Domain
import Foundation
public import Logging
public import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The zero-config single-node catalog in one SQLite file (WAL mode, foreign keys on, busy timeout,
/// `synchronous=FULL` so a committed instance row survives power loss: it is the C-STORE commit point).
///
/// Safe from many tasks at once: writes run one transaction at a time on a writer connection, reads
/// use a separate connection that WAL lets proceed while a write is in progress.
/// The SQL lives in `SQLCatalog`; this type provides the connections, the group commit and the lifecycle.
/// A `Service` only to close the file on shutdown; it also works without `run()`.
public final class SQLiteCatalog: Catalog, SQLCatalog, Service {
    let database: SQLiteCatalogDatabase
    let logger: Logger
    let eventSubscriptions: EventSubscriptionCache

    /// Creates the parent folder of `path` (0700) and the file (0600) when missing: the catalog holds
    /// patient names and IDs, and SQLite gives its WAL and shared-memory files the database file's mode.
    /// The file is opened on first use. `eventSource` is the CloudEvents `source` of the events written
    /// on the ingest path.
    public init(path: String, logger: Logger, eventSource: String = "urn:dicom-ingest") throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw CatalogError(.unavailable, detail: "cannot create the folder of the SQLite catalog: \(error.localizedDescription)")
        }
        try createOwnerOnlyFile(url.path)
        self.database = SQLiteCatalogDatabase(path: url.path, logger: logger)
        self.logger = logger
        self.eventSubscriptions = EventSubscriptionCache(source: eventSource)
    }

    /// Waits for graceful shutdown (or cancellation), then closes the database file.
    public func run() async throws {
        do {
            try await gracefulShutdown()
        } catch {
            // Cancelled: close all the same.
        }
        await close()
    }

    /// Closes both connections; later calls fail with `CatalogError(.unavailable)`.
    public func close() async {
        await database.close()
    }

    /// Applies the embedded migrations this file lacks (one writer at a time, so concurrent callers
    /// apply each file once). Throws `CatalogError(.schemaMismatch)` when an applied file changed or
    /// the file is ahead of this binary.
    public func migrate() async throws {
        try await runMigrations(EmbeddedMigrations.sqlite)
    }

    /// `migrate()` with an explicit list (tests use it to simulate edited or unknown files).
    public func migrate(_ migrations: [Migration]) async throws {
        try await runMigrations(migrations)
    }

    public func ping() async throws {
        try await roundTrip()
    }
}

struct SQLiteSession: SQLSession {
    let handle: SQLiteHandle

    @discardableResult
    func query(_ statement: SQLStatement) async throws -> [SQLRow] {
        do {
            return try await handle.query(statement.sql(for: .sqlite), statement.binds)
        } catch let error as SQLiteResultError where error.isUniqueViolation {
            // The message names `table.column`, never the values.
            throw SQLUniqueViolation(constraint: error.message)
        } catch let error as SQLiteResultError {
            // Refusals that depend on the statement's values only: the same values fail on every retry.
            guard let reason = error.permanentReason else { throw error }
            throw SQLPermanentError(kind: "sqlite \(reason)")
        }
    }
}

/// Creates an empty file with mode 0600 unless one exists (SQLite treats an empty file as an empty
/// database and keeps the mode).
private func createOwnerOnlyFile(_ path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
    if fd >= 0 {
        close(fd)
    } else if errno != EEXIST {
        throw CatalogError(.unavailable, detail: "cannot create the SQLite catalog file: \(String(cString: strerror(errno)))")
    }
}

/// One lazily opened connection, used by one task at a time.
final class SQLiteConnectionSlot: Sendable {
    private let lock = AsyncLock()
    private let handle = Mutex<SQLiteHandle?>(nil)
    private let closed = Mutex(false)
    private let path: String
    private let logger: Logger
    private let isWriter: Bool

    init(path: String, logger: Logger, isWriter: Bool) {
        self.path = path
        self.logger = logger
        self.isWriter = isWriter
    }

    func with<T: Sendable>(_ body: (SQLiteHandle) async throws -> T) async throws -> T {
        try await lock.withLock {
            if closed.withLock({ $0 }) {
                throw CatalogError(.unavailable, detail: "the SQLite catalog is closed")
            }
            let open: SQLiteHandle
            if let existing = handle.withLock({ $0 }) {
                open = existing
            } else {
                // Waits up to 10 s for another connection's write lock (`busy_timeout`).
                open = try await SQLiteHandle.open(path: path, name: isWriter ? "sqlite-writer" : "sqlite-reader")
                do {
                    // WAL lets readers run beside the writer; FULL makes each commit durable.
                    _ = try await open.query("PRAGMA journal_mode = WAL", [], cached: false)
                    _ = try await open.query("PRAGMA foreign_keys = ON", [], cached: false)
                    _ = try await open.query(isWriter ? "PRAGMA synchronous = FULL" : "PRAGMA query_only = ON", [], cached: false)
                } catch {
                    do {
                        try await open.close()
                    } catch {
                        logger.warning("closing the SQLite catalog failed", metadata: ["error": "\(error)"])
                    }
                    throw error
                }
                handle.withLock { $0 = open }
                logger.debug("opened the SQLite catalog", metadata: ["path": "\(path)", "writer": "\(isWriter)"])
            }
            // The whole transaction runs on the connection's thread: its statements are plain calls there.
            return try await withTaskExecutorPreference(open.executor) {
                try await body(open)
            }
        }
    }

    deinit {
        // A catalog dropped without `close()`: close the handle on the SQLite thread pool (the job keeps
        // the handle alive until then) instead of leaking it.
        handle.withLock { $0 }?.closeInBackground()
    }

    func close() async {
        await lock.withLock {
            closed.withLock { $0 = true }
            if let open = handle.withLock({ handle -> SQLiteHandle? in
                defer { handle = nil }
                return handle
            }) {
                do {
                    try await open.close()
                } catch {
                    logger.warning("closing the SQLite catalog failed", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}

struct SQLiteCatalogDatabase: CatalogDatabase {
    let writer: SQLiteConnectionSlot
    let reader: SQLiteConnectionSlot
    let group = GroupCommit()

    init(path: String, logger: Logger) {
        self.writer = SQLiteConnectionSlot(path: path, logger: logger, isWriter: true)
        self.reader = SQLiteConnectionSlot(path: path, logger: logger, isWriter: false)
    }

    var dialect: SQLDialect { .sqlite }

    /// Group commit: writes that arrive while a transaction is running wait for it, then run together in
    /// the next one, each inside its own SAVEPOINT (so one that fails is undone alone and gets its own
    /// error), and share its COMMIT, the one WAL fsync (`synchronous=FULL`). Every caller returns only
    /// after the commit that holds its changes, exactly as with a transaction of its own; a lone write
    /// runs at once, in a transaction of its own.
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        // Boxed, so that a T that is itself optional survives the trip through `any Sendable` unchanged.
        let value = try await group.submit({ session in Boxed(value: try await body(session)) }, run: runBatch)
        guard let boxed = value as? Boxed<T> else {
            throw CatalogError(.unavailable, detail: "group commit returned an unexpected value")
        }
        return boxed.value
    }

    /// One transaction for `bodies`; the result of each, in order. A failed BEGIN or COMMIT fails them all.
    private func runBatch(_ bodies: [GroupCommit.Body]) async -> [Result<any Sendable, any Error>] {
        do {
            return try await writer.with { handle in
                let session = SQLiteSession(handle: handle)
                try await session.query("BEGIN IMMEDIATE")
                var results: [Result<any Sendable, any Error>] = []
                do {
                    if bodies.count == 1 {
                        results.append(.success(try await bodies[0](session)))
                    } else {
                        for body in bodies {
                            try await session.query("SAVEPOINT group_commit")
                            do {
                                let value = try await body(session)
                                try await session.query("RELEASE group_commit")
                                results.append(.success(value))
                            } catch {
                                // Undo this write alone; if even that fails the transaction is gone and
                                // every write of the batch fails (below).
                                try await session.query("ROLLBACK TO group_commit")
                                try await session.query("RELEASE group_commit")
                                results.append(.failure(error))
                            }
                        }
                    }
                    try await session.query("COMMIT")
                } catch {
                    do {
                        try await session.query("ROLLBACK")
                    } catch {
                        // Nothing more to undo: SQLite already rolled back (e.g. after a failed COMMIT).
                    }
                    throw error
                }
                return results
            }
        } catch {
            return bodies.map { _ in .failure(error) }
        }
    }

    /// One transaction of its own, outside group commit (the migrator holds SQLite's write lock with it):
    /// a batch of one.
    private func writeAlone<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        let results = await runBatch([{ session in Boxed(value: try await body(session)) }])
        guard let boxed = try results[0].get() as? Boxed<T> else {
            throw CatalogError(.unavailable, detail: "migration transaction returned an unexpected value")
        }
        return boxed.value
    }

    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        // The reader may not see tables before the first migration; the writer has created them by then.
        try await reader.with { handle in try await body(SQLiteSession(handle: handle)) }
    }

    func migrate(_ migrations: [Migration]) async throws -> [Migration] {
        // One IMMEDIATE transaction holds SQLite's write lock, so migrators in other processes wait.
        try await writeAlone { session in
            try await applyMigrations(migrations, using: session, transaction: false)
        }
    }

    func close() async {
        await writer.close()
        await reader.close()
    }
}

private struct Boxed<T: Sendable>: Sendable {
    let value: T
}
