import Events
import Foundation

/// The event dispatcher's settings from the environment (all optional):
/// `DICOM_INGEST_EVENTS_SOURCE` (CloudEvents `source`, default `urn:dicom-ingest`),
/// `DICOM_INGEST_EVENTS_POLL_MS` (outbox scan interval, default 1000),
/// `DICOM_INGEST_EVENTS_RETRY_BASE_MS` / `DICOM_INGEST_EVENTS_RETRY_MAX_MS` (backoff, default 1000 / 300000),
/// `DICOM_INGEST_EVENTS_MAX_ATTEMPTS` (default 20), `DICOM_INGEST_EVENTS_LEASE_SECONDS` (default 60).
enum EventConfiguration {
    static func dispatcher(environment env: [String: String]) throws -> EventDispatcher.Configuration {
        func int(_ name: String, _ range: ClosedRange<Int>) throws -> Int? {
            guard let raw = env[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            guard let value = Int(raw), range.contains(value) else {
                throw ServiceConfiguration.Invalid(variable: name,
                                                   message: "expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(raw)'")
            }
            return value
        }
        var configuration = EventDispatcher.Configuration()
        if let source = env["DICOM_INGEST_EVENTS_SOURCE"]?.trimmingCharacters(in: .whitespaces), !source.isEmpty {
            guard URL(string: source)?.scheme != nil else {
                throw ServiceConfiguration.Invalid(variable: "DICOM_INGEST_EVENTS_SOURCE", message: "expected an absolute URI")
            }
            configuration.source = source
        }
        if let ms = try int("DICOM_INGEST_EVENTS_POLL_MS", 10...60_000) { configuration.pollInterval = .milliseconds(ms) }
        if let ms = try int("DICOM_INGEST_EVENTS_RETRY_BASE_MS", 10...3_600_000) { configuration.backoff.base = .milliseconds(ms) }
        if let ms = try int("DICOM_INGEST_EVENTS_RETRY_MAX_MS", 10...86_400_000) { configuration.backoff.cap = .milliseconds(ms) }
        if let attempts = try int("DICOM_INGEST_EVENTS_MAX_ATTEMPTS", 1...1000) { configuration.maxAttempts = attempts }
        if let seconds = try int("DICOM_INGEST_EVENTS_LEASE_SECONDS", 5...3600) { configuration.leaseSeconds = seconds }
        return configuration
    }

    /// The HealthImaging import job limits a study is split by: `DICOM_INGEST_HEALTHIMAGING_MAX_FILES`
    /// (default 10000) and `DICOM_INGEST_HEALTHIMAGING_MAX_BYTES` (default 10 GiB), for accounts whose
    /// quotas AWS adjusted.
    static func healthImagingLimits(environment env: [String: String]) throws -> HealthImagingTransport.Limits {
        var limits = HealthImagingTransport.Limits()
        if let files = try integer(env, "DICOM_INGEST_HEALTHIMAGING_MAX_FILES", 1...10_000_000) { limits.maxFilesPerJob = files }
        if let bytes = try integer(env, "DICOM_INGEST_HEALTHIMAGING_MAX_BYTES", 1...(1 << 50)) { limits.maxBytesPerJob = Int64(bytes) }
        return limits
    }

    /// How import jobs are polled: `DICOM_INGEST_HEALTHIMAGING_POLL_MS` (scan interval and first poll
    /// after a start, default 5000), `DICOM_INGEST_HEALTHIMAGING_POLL_MAX_MS` (longest wait between polls of
    /// one job, default 300000).
    static func healthImagingPoller(environment env: [String: String]) throws -> HealthImagingJobPoller.Configuration {
        var configuration = HealthImagingJobPoller.Configuration()
        if let ms = try integer(env, "DICOM_INGEST_HEALTHIMAGING_POLL_MS", 10...3_600_000) {
            configuration.interval = .milliseconds(ms)
            configuration.backoff.base = .milliseconds(ms)
        }
        if let ms = try integer(env, "DICOM_INGEST_HEALTHIMAGING_POLL_MAX_MS", 10...86_400_000) { configuration.backoff.cap = .milliseconds(ms) }
        return configuration
    }

    private static func integer(_ env: [String: String], _ name: String, _ range: ClosedRange<Int>) throws -> Int? {
        guard let raw = env[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
        guard let value = Int(raw), range.contains(value) else {
            throw ServiceConfiguration.Invalid(variable: name,
                                               message: "expected an integer in \(range.lowerBound)...\(range.upperBound), got '\(raw)'")
        }
        return value
    }
}
