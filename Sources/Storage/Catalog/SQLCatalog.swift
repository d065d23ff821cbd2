import Domain
import Foundation
import Logging
import PostgresNIO

/// The catalog, written once in SQL for PostgreSQL and SQLite: every `Catalog` method is implemented in
/// the extensions of this protocol, one file per table (`SQLCatalog+Listeners`, `+Associations`,
/// `+Instances`, `+Queries`, `+Stats`). A conforming type (`PostgresCatalog`, `SQLiteCatalog`) only
/// provides the database: connections, transactions, the dialect, and its own lifecycle.
///
/// The SQL is shared; the few places where the dialects differ ask `dialect`. Every value is bound
/// through `SQLStatement` interpolation and every row is read by column name.
///
/// Sort keys (keyset pagination; each key is unique and never changes for a row):
/// - studies: `first_received_at` descending, then `study_instance_uid` descending. `first_received_at`
///   is set when the study row is created and never updated, unlike `last_received_at`, which moves
///   whenever the study gets an instance and would make a page skip or repeat studies.
/// - instances of a series: instance number ascending (absent last), then SOP Instance UID ascending.
/// - associations: `started_at` descending, then `id` descending.
protocol SQLCatalog: Catalog {
    associatedtype Database: CatalogDatabase
    var database: Database { get }
    var logger: Logger { get }
    /// Which events some sink wants (see `EventSubscriptionCache`), read on the ingest path.
    var eventSubscriptions: EventSubscriptionCache { get }
}

extension SQLCatalog {
    var dialect: SQLDialect { database.dialect }

    /// Runs `body` in one write transaction and turns driver errors into `CatalogError`s that carry no
    /// row data. `body` may run more than once (see `CatalogDatabase.write`).
    func write<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        do {
            return try await database.write(body)
        } catch {
            throw mapped(error)
        }
    }

    /// One statement as a write transaction of its own (see `CatalogDatabase.write(_:)`), with the errors
    /// of `write`.
    @discardableResult
    func write(_ statement: SQLStatement) async throws -> [SQLRow] {
        do {
            return try await database.write(statement)
        } catch {
            throw mapped(error)
        }
    }

    /// Runs `body` on one connection outside a transaction, with the errors of `write`.
    func read<T: Sendable>(_ body: @escaping @Sendable (any SQLSession) async throws -> T) async throws -> T {
        do {
            return try await database.read(body)
        } catch {
            throw mapped(error)
        }
    }

    /// One page of a keyset query. `statement` ends in the ORDER BY of its sort key and runs for one row
    /// more than `limit`: that row only says another page follows, which starts after the sort key of
    /// the page's last row (`cursor`).
    func keysetPage<Item: Sendable & Hashable & Codable>(
        _ statement: SQLStatement, limit: Int, item: (SQLRow) throws -> Item, cursor: (SQLRow) throws -> CatalogCursor
    ) async throws -> Page<Item> {
        let query = statement + " LIMIT \(limit + 1)"
        let rows = try await read { session in try await session.query(query) }
        let items = try rows.prefix(limit).map(item)
        var next: String?
        if rows.count > limit, let last = rows.prefix(limit).last {
            next = try cursor(last).encoded()
        }
        return Page(items: items, nextCursor: next)
    }

    /// One round trip to the database, for `/readyz`.
    func roundTrip() async throws {
        try await read { session in
            _ = try await session.query("SELECT 1")
        }
    }

    /// Applies `migrations` and logs what was applied. `CatalogError(.schemaMismatch)` passes through;
    /// any other failure becomes `CatalogError(.unavailable)`.
    func runMigrations(_ migrations: [Migration]) async throws {
        do {
            let applied = try await database.migrate(migrations)
            if !applied.isEmpty {
                logger.info("applied catalog migrations", metadata: ["versions": "\(applied.map(\.version))"])
            }
        } catch let error as CatalogError {
            throw error
        } catch {
            // Migration files hold no patient data, so the full error is safe to log here.
            logger.error("catalog migration failed", metadata: ["error": "\(String(reflecting: error))"])
            throw CatalogError(.unavailable, detail: "catalog migration failed: \(safeSummary(error))")
        }
    }

    /// A `CatalogError` for a driver error. Driver errors may quote values of the statement (patient
    /// data), so only their kind is logged and returned.
    func mapped(_ error: any Error) -> any Error {
        switch error {
        case let error as CatalogError:
            return error
        case let error as SQLUniqueViolation:
            let field = error.constraint.contains("port") ? "port" : error.constraint.contains("name") ? "name" : "id"
            return CatalogError(.conflict, field: field, detail: "\(field) is already taken")
        case let error as SQLPermanentError:
            logger.warning("catalog refused a value", metadata: ["error": "\(error.kind)"])
            return CatalogError(.invalidValue, detail: "the database refused a value (\(error.kind))")
        case is CancellationError:
            return error
        default:
            logger.warning("catalog operation failed", metadata: ["error": "\(String(describing: type(of: error))): \(safeSummary(error))"])
            return CatalogError(.unavailable, detail: "catalog database operation failed")
        }
    }
}

/// A summary of a driver error that carries no row data: PostgreSQL's error code and SQLSTATE, or the
/// description of the other errors (SQLite's name the failing constraint or reason, not values).
func safeSummary(_ error: any Error) -> String {
    if let error = error as? PSQLError {
        return "\(error.code) sqlState=\(error.serverInfo?[.sqlState] ?? "-")"
    }
    return "\(error)"
}
