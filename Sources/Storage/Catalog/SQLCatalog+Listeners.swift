import Domain
import Foundation

/// The `listeners` table: the `ListenerStore` half of the catalog. List and struct fields are stored
/// as JSON text in the formats of `ListenerColumns`.
extension SQLCatalog {
    public func listListeners() async throws -> [ListenerConfig] {
        try await read { session in
            try await session.query("SELECT \(ListenerRow.columns) FROM listeners ORDER BY name, id")
                .map(ListenerConfig.init(row:))
        }
    }

    public func listener(id: UUID) async throws -> ListenerConfig? {
        try await read { session in
            try await session.query("SELECT \(ListenerRow.columns) FROM listeners WHERE id = \(id)")
                .first.map(ListenerConfig.init(row:))
        }
    }

    /// Throws `CatalogError(.conflict, field: "name" | "port")` when taken.
    public func createListener(_ listener: ListenerConfig) async throws {
        let fields = try ListenerRow.fields(listener)
        let names = SQLStatement(unsafeSQL: fields.map(\.column).joined(separator: ", "))
        let values = SQLStatement.joined(fields.map { "\($0.value)" })
        _ = try await write { session in
            try await session.query("INSERT INTO listeners (\(names)) VALUES (\(values))")
        }
    }

    /// Replaces every field but `id` and `createdAt`.
    public func updateListener(_ listener: ListenerConfig) async throws {
        let assignments = SQLStatement.joined(try ListenerRow.fields(listener)
            .filter { $0.column != "id" && $0.column != "created_at" }
            .map { "\(unsafeRaw: $0.column) = \($0.value)" })
        let updated = try await write { session in
            try await session.query("UPDATE listeners SET \(assignments) WHERE id = \(listener.id) RETURNING id").count
        }
        guard updated == 1 else { throw CatalogError(.notFound, detail: "no listener with this id") }
    }

    public func deleteListener(id: UUID) async throws {
        let deleted = try await write { session in
            try await session.query("DELETE FROM listeners WHERE id = \(id) RETURNING id").count
        }
        guard deleted == 1 else { throw CatalogError(.notFound, detail: "no listener with this id") }
    }

    public func setListenerState(id: UUID, state: ListenerState, error: String?) async throws {
        let updated = try await write { session in
            try await session.query("""
                UPDATE listeners SET state = \(state.rawValue), error = \(error) WHERE id = \(id) RETURNING id
                """).count
        }
        guard updated == 1 else { throw CatalogError(.notFound, detail: "no listener with this id") }
    }
}

/// How a `ListenerConfig` maps to a row of `listeners`.
enum ListenerRow {
    static let columns = SQLStatement(unsafeSQL: """
        id, name, enabled, port, bind_address, ae_title, require_called_ae_title, allowed_calling_ae_titles,
        allowed_peers, tls, storage, limits, state, error, created_at, updated_at, allowed_sop_classes,
        study_stable_seconds
        """)

    /// Every column with its value, in the order of `columns`.
    static func fields(_ l: ListenerConfig) throws -> [(column: String, value: SQLValue)] {
        func json(_ value: some Encodable) throws -> SQLValue { try ListenerColumns.text(value) }
        return [
            ("id", l.id.sqlValue), ("name", l.name.sqlValue), ("enabled", l.enabled.sqlValue),
            ("port", l.port.sqlValue), ("bind_address", l.bindAddress.sqlValue), ("ae_title", l.aeTitle.sqlValue),
            ("require_called_ae_title", l.requireCalledAETitle.sqlValue),
            ("allowed_calling_ae_titles", try json(l.allowedCallingAETitles)), ("allowed_peers", try json(l.allowedPeers)),
            ("tls", try l.tls.map { try json(ListenerColumns.TLS($0)) } ?? .null),
            ("storage", try json(ListenerColumns.Storage(l.storage))), ("limits", try json(ListenerColumns.Limits(l.limits))),
            ("state", l.state.rawValue.sqlValue), ("error", l.error?.sqlValue ?? .null),
            ("created_at", l.createdAt.sqlValue), ("updated_at", l.updatedAt.sqlValue),
            ("allowed_sop_classes", try json(l.allowedSOPClasses)),
            ("study_stable_seconds", l.studyStableSeconds?.sqlValue ?? .null),
        ]
    }
}

extension ListenerConfig {
    init(row: SQLRow) throws {
        self.init(
            id: try row.decode("id"), name: try row.decode("name"), enabled: try row.decode("enabled"),
            port: try row.decode("port"), bindAddress: try row.decode("bind_address"), aeTitle: try row.decode("ae_title"),
            requireCalledAETitle: try row.decode("require_called_ae_title"),
            allowedCallingAETitles: try row.json("allowed_calling_ae_titles"), allowedPeers: try row.json("allowed_peers"),
            allowedSOPClasses: try row.json("allowed_sop_classes"),
            tls: try row.decode("tls", as: String?.self) == nil ? nil : try row.json("tls", as: ListenerColumns.TLS.self).settings,
            storage: try row.json("storage", as: ListenerColumns.Storage.self).target,
            limits: try row.json("limits", as: ListenerColumns.Limits.self).limits,
            studyStableSeconds: try row.decode("study_stable_seconds"),
            state: ListenerState(rawValue: try row.decode("state")) ?? .stopped, error: try row.decode("error"),
            createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
    }
}
