import Domain
import Foundation
import NIOSSL
import PostgresNIO

/// Parses a libpq-style URL into a `PostgresClient.Configuration`.
enum PostgresURL {
    /// Connections each pool keeps open while idle (the catalog has two pools: queries and instance locks).
    static let minimumConnections = 4

    static func configuration(_ text: String) throws -> PostgresClient.Configuration {
        guard let components = URLComponents(string: text),
              components.scheme == "postgres" || components.scheme == "postgresql",
              let host = components.host, !host.isEmpty
        else {
            throw CatalogError(.unavailable, detail: "catalog URL must look like postgres://user:password@host:port/database")
        }
        let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { _, last in last })
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        if let rootCertificate = query["sslrootcert"], !rootCertificate.isEmpty {
            tlsConfiguration.trustRoots = .file(rootCertificate)
        }
        let tls: PostgresClient.Configuration.TLS
        switch query["sslmode"] ?? "prefer" {
        case "disable":
            tls = .disable
        case "allow", "prefer":
            tlsConfiguration.certificateVerification = .none
            tls = .prefer(tlsConfiguration)
        case "require":
            // libpq's `require`: encrypted, certificate not checked.
            tlsConfiguration.certificateVerification = .none
            tls = .require(tlsConfiguration)
        case "verify-ca":
            tlsConfiguration.certificateVerification = .noHostnameVerification
            tls = .require(tlsConfiguration)
        case "verify-full":
            tlsConfiguration.certificateVerification = .fullVerification
            tls = .require(tlsConfiguration)
        default:
            throw CatalogError(.unavailable, detail: "unsupported sslmode (use disable, prefer, require, verify-ca or verify-full)")
        }
        var configuration = PostgresClient.Configuration(
            host: host, port: components.port ?? 5432,
            username: components.user ?? "postgres", password: components.password,
            database: database.isEmpty ? nil : database, tls: tls)
        configuration.options.maximumConnections = 20
        // Each time a connection goes back to the pool, postgres-nio arms a timer for it (a child task that
        // sleeps, cancelled at the next lease): an idle timeout for a connection above the minimum count,
        // and the keep-alive query. A receive leases three or four times, and these timers made more than half
        // of its thread wake-ups. So the connections a steady ingest uses stay below the minimum (kept open),
        // and the keep-alive query is off unless `keepalives_idle` asks for one; libpq sends none either
        // (its `keepalives` are TCP's). A connection the server closes leaves the pool at once; a query on
        // one a network dropped silently fails at the catalog's operation timeout.
        configuration.options.minimumConnections = minimumConnections
        configuration.options.keepAliveBehavior = nil
        if let text = query["keepalives_idle"] {
            guard let seconds = Int(text), (1...86_400).contains(seconds) else {
                throw CatalogError(.unavailable, detail: "keepalives_idle must be a number of seconds from 1 to 86400")
            }
            configuration.options.keepAliveBehavior = .init(frequency: .seconds(seconds))
        }
        return configuration
    }
}
