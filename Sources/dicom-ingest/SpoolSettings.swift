import Domain
import Foundation

/// The spooled-acknowledgement settings of `serve` (see `Spool` and `Forwarder`).
struct SpoolSettings: Sendable {
    /// DICOM_INGEST_SPOOL_DIR, default `<data dir>/spool`.
    var directory: String
    /// DICOM_INGEST_SPOOL_MAX_BYTES, default 10 GiB (and the volume is never filled past 90 %).
    var maxBytes: Int64 = 10 << 30
    /// DICOM_INGEST_FORWARD_CONCURRENCY, default 32.
    var forwardConcurrency: Int = 32
    /// DICOM_INGEST_FORWARD_LEASE_SECONDS, default 300: how long a node's claim on a spooled instance
    /// holds before another node sharing the catalog and the spool takes it over.
    var leaseSeconds: Int = 300
    /// DICOM_INGEST_NODE_ID, default the host name: a restarted node releases the leases it held.
    var nodeID: String = ProcessInfo.processInfo.hostName
    /// DICOM_INGEST_ACK_MODE: `storage.ackMode` of listeners created without one (REST, embedded default).
    var defaultAckMode: AckMode = .stored

    static func load(value: (String) -> String?, dataDirectory: String, currentDirectory: String) throws -> SpoolSettings {
        var settings = SpoolSettings(directory: dataDirectory + "/spool")
        if let raw = value("DICOM_INGEST_SPOOL_DIR") {
            settings.directory = ServiceConfiguration.absolute(raw, relativeTo: currentDirectory)
        }
        if let raw = value("DICOM_INGEST_SPOOL_MAX_BYTES") {
            guard let v = Int64(raw), v >= 1 else {
                throw ServiceConfiguration.Invalid(variable: "DICOM_INGEST_SPOOL_MAX_BYTES", message: "expected a positive integer, got '\(raw)'")
            }
            settings.maxBytes = v
        }
        if let raw = value("DICOM_INGEST_FORWARD_CONCURRENCY") {
            guard let v = Int(raw), (1...1024).contains(v) else {
                throw ServiceConfiguration.Invalid(variable: "DICOM_INGEST_FORWARD_CONCURRENCY", message: "expected an integer in 1...1024, got '\(raw)'")
            }
            settings.forwardConcurrency = v
        }
        if let raw = value("DICOM_INGEST_FORWARD_LEASE_SECONDS") {
            guard let v = Int(raw), (1...86_400).contains(v) else {
                throw ServiceConfiguration.Invalid(variable: "DICOM_INGEST_FORWARD_LEASE_SECONDS", message: "expected an integer in 1...86400, got '\(raw)'")
            }
            settings.leaseSeconds = v
        }
        if let raw = value("DICOM_INGEST_NODE_ID") { settings.nodeID = raw }
        if let raw = value("DICOM_INGEST_ACK_MODE") {
            settings.defaultAckMode = try ackMode(raw, variable: "DICOM_INGEST_ACK_MODE")
        }
        return settings
    }

    static func ackMode(_ raw: String, variable: String) throws -> AckMode {
        guard let mode = AckMode(rawValue: raw.lowercased()) else {
            throw ServiceConfiguration.Invalid(variable: variable, message: "expected stored or spooled, got '\(raw)'")
        }
        return mode
    }
}
