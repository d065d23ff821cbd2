import Domain
import Foundation
import Logging

/// Everything `dicom-ingest serve` reads at start: the service settings of the REST contract, the seed's
/// environment options, and the listeners they imply.
struct ServiceConfiguration: Sendable {
    enum LogFormat: String, Sendable { case text, json }

    var httpHost: String
    /// True when neither the environment nor a flag named the host (the loopback fallback applies).
    var httpHostIsDefault: Bool
    var httpPort: Int
    var httpTLS: (certificateFile: String, privateKeyFile: String)?
    var dataDirectory: String
    var databaseURL: String?
    var adminTokens: Set<String>
    var readTokens: Set<String>
    var logLevel: Logger.Level
    var logFormat: LogFormat
    var shutdownGracePeriod: Duration
    var listenerPollInterval: Duration
    var awsRegion: String?
    var s3Endpoint: String?
    /// Upper bound of concurrent S3 connections (seed: S3_UPLOAD_WORKERS / BOTO_MAX_POOL_CONNECTIONS).
    var s3MaxConnections: Int
    /// Listeners the environment asks for (`default`, `default-tls`), upserted by name at start.
    var seedListeners: [ListenerConfig]
    /// True when nothing configures a listener: the embedded default creates `default` on 11112 if the
    /// catalog has no listener at all.
    var wantsEmbeddedDefaultListener: Bool
    /// Filesystem roots (DICOM_INGEST_STORAGE_ROOTS, default: the data directory) and S3 endpoints
    /// (DICOM_INGEST_S3_ENDPOINTS, default: AWS and AWS_ENDPOINT_URL_S3) listeners may use.
    var storageAccess: StorageAccessPolicy
    /// Connections the REST API serves at once (DICOM_INGEST_HTTP_MAX_CONNECTIONS).
    var httpMaxConnections: Int
    /// How long a client may leave a response unread (DICOM_INGEST_HTTP_WRITE_TIMEOUT_SECONDS).
    var httpWriteTimeout: Duration
    /// Spooled acknowledgement: spool folder and quota, forwarder, default `ackMode`.
    var spool = SpoolSettings(directory: "")

    struct Invalid: Error, CustomStringConvertible {
        var variable: String
        var message: String
        var description: String { "\(variable): \(message)" }
    }

    /// Reads `environment`; `overrides` are command-line flags, which win over the environment.
    static func load(environment env: [String: String], overrides: [String: String] = [:], currentDirectory: String) throws -> ServiceConfiguration {
        func value(_ name: String) -> String? {
            if let v = overrides[name], !v.isEmpty { return v }
            if let v = env[name], !v.trimmingCharacters(in: .whitespaces).isEmpty { return v.trimmingCharacters(in: .whitespaces) }
            return nil
        }
        func int(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let raw = value(name) else { return nil }
            guard let v = Int(raw), range.contains(v) else {
                throw Invalid(variable: name, message: "expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(raw)'")
            }
            return v
        }
        func bool(_ name: String) throws -> Bool? {
            guard let raw = value(name) else { return nil }
            switch raw.lowercased() {
            case "1", "true", "yes", "y", "on", "t": return true
            case "0", "false", "no", "n", "off", "f": return false
            default: throw Invalid(variable: name, message: "expected true or false, got '\(raw)'")
            }
        }
        func tokens(_ name: String) -> Set<String> {
            Set((value(name) ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
        }

        let dataDir = absolute(value("DICOM_INGEST_DATA_DIR") ?? "./data", relativeTo: currentDirectory)
        let level: Logger.Level
        if let raw = value("LOG_LEVEL") ?? value("DICOM_INGEST_LOG_LEVEL") {
            guard let parsed = parseLogLevel(raw) else {
                throw Invalid(variable: "LOG_LEVEL", message: "expected DEBUG, INFO, WARNING, ERROR or CRITICAL, got '\(raw)'")
            }
            level = parsed
        } else {
            level = .info
        }
        let format: LogFormat
        if let raw = value("DICOM_INGEST_LOG_FORMAT") {
            guard let parsed = LogFormat(rawValue: raw.lowercased()) else {
                throw Invalid(variable: "DICOM_INGEST_LOG_FORMAT", message: "expected text or json, got '\(raw)'")
            }
            format = parsed
        } else {
            format = .text
        }
        var httpTLS: (String, String)?
        if let cert = value("DICOM_INGEST_HTTP_TLS_CERTIFICATE_FILE") {
            guard let key = value("DICOM_INGEST_HTTP_TLS_PRIVATE_KEY_FILE") else {
                throw Invalid(variable: "DICOM_INGEST_HTTP_TLS_PRIVATE_KEY_FILE", message: "required with DICOM_INGEST_HTTP_TLS_CERTIFICATE_FILE")
            }
            httpTLS = (cert, key)
        }
        let spool = try SpoolSettings.load(value: value, dataDirectory: dataDir, currentDirectory: currentDirectory)
        let region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION")
        let endpoint = value("AWS_ENDPOINT_URL_S3") ?? value("AWS_ENDPOINT_URL")
        let uploadWorkers = try int("S3_UPLOAD_WORKERS", 1...1024) ?? 0
        let poolConnections = try int("BOTO_MAX_POOL_CONNECTIONS", 1...1024) ?? 0
        let maxConnections = max(uploadWorkers, poolConnections, 0) == 0 ? 64 : max(uploadWorkers, poolConnections)

        // Seed compatibility: SCP_PORT (and STUNNEL_PORT with TLS files) define `default` / `default-tls`.
        var seedListeners: [ListenerConfig] = []
        if let scpPort = try int("SCP_PORT", 1...65535) {
            var storage = StorageTarget()
            if let bucket = value("RECEIVE_BUCKET") ?? value("RECEIVE_BUCKET_NAME") {
                storage.backend = .s3
                storage.bucket = bucket
                storage.region = region
                storage.endpoint = nil
            } else {
                storage.backend = .filesystem
                storage.path = dataDir + "/objects"
                storage.gzip = false
            }
            if let prefix = env["DICOM_PREFIX"] { storage.dicomPrefix = prefix.trimmingCharacters(in: .whitespaces) }
            if let prefix = env["METADATA_PREFIX"] { storage.metadataPrefix = prefix.trimmingCharacters(in: .whitespaces) }
            if let v = try bool("ADD_STUDYUID_PREFIX") { storage.addStudyUIDPrefix = v }
            if let v = try bool("GZIP_FILES") { storage.gzip = v }
            if let v = try int("GZIP_LEVEL", 1...9) { storage.gzipLevel = v }
            if let v = try bool("CREATE_METADATA") { storage.createMetadata = v }
            storage.ackMode = try value("ACK_MODE").map { try SpoolSettings.ackMode($0, variable: "ACK_MODE") } ?? spool.defaultAckMode
            var limits = ListenerLimits()
            if let v = try int("CSTORE_DELAY_MS", 0...60_000) { limits.cstoreDelayMs = v }
            if let v = try int("DIMSE_TIMEOUT", 1...86_400) { limits.dimseTimeoutSeconds = v }
            if let v = try int("MAXIMUM_ASSOCIATIONS", 1...10_000) { limits.maxAssociations = v }
            if let v = try int("MAXIMUM_PDU_SIZE", 0...ListenerLimits.hardMaximumPDUSize) { limits.maxPDUSize = v }
            if let v = try int("NETWORK_TIMEOUT", 1...86_400) { limits.networkTimeoutSeconds = v }
            let aeTitle = value("SCP_AE_TITLE") ?? "STORESCP"
            seedListeners.append(ListenerConfig(name: "default", port: scpPort, aeTitle: aeTitle, storage: storage, limits: limits))
            if let tlsPort = try int("STUNNEL_PORT", 1...65535), let cert = value("DICOM_INGEST_TLS_CERTIFICATE_FILE") {
                guard let key = value("DICOM_INGEST_TLS_PRIVATE_KEY_FILE") else {
                    throw Invalid(variable: "DICOM_INGEST_TLS_PRIVATE_KEY_FILE", message: "required with DICOM_INGEST_TLS_CERTIFICATE_FILE")
                }
                let clientCA = value("DICOM_INGEST_TLS_CLIENT_CA_FILE")
                let tls = TLSSettings(certificateFile: cert, privateKeyFile: key, clientCAFile: clientCA,
                                      requireClientCertificate: try bool("DICOM_INGEST_TLS_REQUIRE_CLIENT_CERTIFICATE") ?? false)
                seedListeners.append(ListenerConfig(name: "default-tls", port: tlsPort, aeTitle: aeTitle, tls: tls, storage: storage, limits: limits))
            }
        }

        // What listeners may reach on the host. Lists are comma-separated; an explicit list replaces the default.
        var roots: [String] = [dataDir]
        if let raw = value("DICOM_INGEST_STORAGE_ROOTS") {
            roots = []
            for item in raw.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
                guard item.hasPrefix("/"), let root = StorageAccessPolicy.normalise(item) else {
                    throw Invalid(variable: "DICOM_INGEST_STORAGE_ROOTS", message: "expected absolute paths without '..', got '\(item)'")
                }
                roots.append(root)
            }
        }
        var endpoints = StorageAccessPolicy.EndpointPattern.aws
        if let endpoint {
            guard let pattern = StorageAccessPolicy.EndpointPattern(endpoint) else {
                throw Invalid(variable: "AWS_ENDPOINT_URL_S3", message: "expected an http(s) URL of scheme, host and optional port, got '\(endpoint)'")
            }
            endpoints.append(pattern)
        }
        if let raw = value("DICOM_INGEST_S3_ENDPOINTS") {
            endpoints = []
            for item in raw.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !item.isEmpty {
                guard let pattern = StorageAccessPolicy.EndpointPattern(item) else {
                    throw Invalid(variable: "DICOM_INGEST_S3_ENDPOINTS",
                                  message: "expected http(s)://host[:port] items (host may start with '*.', port may be '*'), got '\(item)'")
                }
                endpoints.append(pattern)
            }
        }
        let storageAccess = StorageAccessPolicy(roots: roots, endpoints: endpoints)
        for listener in seedListeners {
            if let issue = storageAccess.validate(listener.storage).first {
                throw Invalid(variable: issue.field == "storage.path" ? "DICOM_INGEST_STORAGE_ROOTS" : "DICOM_INGEST_S3_ENDPOINTS",
                              message: "listener '\(listener.name)': \(issue.field) \(issue.message)")
            }
        }

        // Below the 30 s after which ECS (stopTimeout) and Kubernetes (terminationGracePeriodSeconds) kill by default.
        let grace = try int("DICOM_INGEST_SHUTDOWN_GRACE_SECONDS", 0...3600) ?? 25
        let poll = try int("DICOM_INGEST_LISTENER_POLL_SECONDS", 1...3600) ?? 5
        var configuration = ServiceConfiguration(
            httpHost: value("DICOM_INGEST_HTTP_HOST") ?? "0.0.0.0",
            httpHostIsDefault: value("DICOM_INGEST_HTTP_HOST") == nil,
            httpPort: try int("DICOM_INGEST_HTTP_PORT", 0...65535) ?? 8080,
            httpTLS: httpTLS,
            dataDirectory: dataDir,
            databaseURL: value("DICOM_INGEST_DATABASE_URL"),
            adminTokens: tokens("DICOM_INGEST_ADMIN_TOKENS"),
            readTokens: tokens("DICOM_INGEST_READ_TOKENS"),
            logLevel: level,
            logFormat: format,
            shutdownGracePeriod: .seconds(grace),
            listenerPollInterval: .seconds(poll),
            awsRegion: region,
            s3Endpoint: endpoint,
            s3MaxConnections: maxConnections,
            seedListeners: seedListeners,
            // Only the zero-config default (embedded catalog, no S3 settings) invents a listener: a shared
            // PostgreSQL catalog is managed through the API or the seed variables.
            wantsEmbeddedDefaultListener: seedListeners.isEmpty && value("DICOM_INGEST_DATABASE_URL") == nil
                && value("RECEIVE_BUCKET") == nil && value("RECEIVE_BUCKET_NAME") == nil,
            storageAccess: storageAccess,
            httpMaxConnections: try int("DICOM_INGEST_HTTP_MAX_CONNECTIONS", 1...65_536) ?? 1024,
            httpWriteTimeout: .seconds(try int("DICOM_INGEST_HTTP_WRITE_TIMEOUT_SECONDS", 1...3600) ?? 30)
        )
        configuration.spool = spool
        if configuration.wantsEmbeddedDefaultListener,
           let issue = storageAccess.validate(configuration.embeddedDefaultListener().storage).first {
            throw Invalid(variable: "DICOM_INGEST_STORAGE_ROOTS", message: "the embedded default listener's \(issue.field) \(issue.message)")
        }
        return configuration
    }

    /// The listener the embedded default creates when the catalog has none: port 11112, filesystem
    /// storage under the data directory, no gzip (so `dcmdump` reads the files as they are).
    func embeddedDefaultListener() -> ListenerConfig {
        var storage = StorageTarget()
        storage.backend = .filesystem
        storage.path = dataDirectory + "/objects"
        storage.gzip = false
        storage.ackMode = spool.defaultAckMode
        return ListenerConfig(name: "default", port: 11112, storage: storage)
    }

    static func parseLogLevel(_ raw: String) -> Logger.Level? {
        switch raw.uppercased() {
        case "TRACE": return .trace
        case "DEBUG": return .debug
        case "INFO": return .info
        case "NOTICE": return .notice
        case "WARN", "WARNING": return .warning
        case "ERROR": return .error
        case "CRITICAL", "FATAL": return .critical
        default: return nil
        }
    }

    static func absolute(_ path: String, relativeTo base: String) -> String {
        let url = path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: base).appendingPathComponent(path)
        return url.standardizedFileURL.path
    }
}
