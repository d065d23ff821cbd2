import AWS
public import Domain
import Foundation
public import Logging
import Metrics
public import ServiceLifecycle

/// Follows the HealthImaging import jobs the `healthimaging` sinks started until they are COMPLETED or
/// FAILED, then reads the failure count of the job's output manifest (`<outputS3Uri><jobId>/FAILURE/failure.ndjson`,
/// one line per file HealthImaging did not import). The jobs are rows of the catalog, so a restart
/// resumes the polling; polls back off exponentially from `pollBase` up to `pollCap`, and a poll that
/// fails (throttling, a network error) is tried again later rather than given up.
public struct HealthImagingJobPoller: Service {
    /// Reads an object as text from S3 (`bucket`, `key`); nil when there is no such object.
    public typealias ObjectReader = @Sendable (_ bucket: String, _ key: String) async throws -> String?

    public struct Configuration: Sendable {
        public var interval: Duration = .seconds(5)
        public var batchSize: Int = 16
        public var backoff = Backoff(base: .seconds(10), cap: .seconds(300))
        public init() {}
    }

    let client: HealthImagingClient
    let store: any HealthImagingImportStore
    let sinks: any EventStore
    let readObject: ObjectReader
    let configuration: Configuration
    let logger: Logger

    public init(client: HealthImagingClient, store: any HealthImagingImportStore, sinks: any EventStore,
                readObject: @escaping ObjectReader, configuration: Configuration, logger: Logger) {
        self.client = client
        self.store = store
        self.sinks = sinks
        self.readObject = readObject
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully {
            do {
                try await pollDueJobs(now: Date())
            } catch is CancellationError {
                return
            } catch {
                logger.warning("healthimaging poll round failed", metadata: ["error": "\(error)"])
            }
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: configuration.interval) }
            } catch {
                return
            }
        }
    }

    /// Polls every job due by `now` once.
    func pollDueJobs(now: Date) async throws {
        for job in try await store.importsToPoll(now: now, limit: configuration.batchSize) {
            try await store.updateImport(await poll(job, now: now))
        }
    }

    /// The job after one poll: its new status, or when it ended, its failure count.
    func poll(_ job: HealthImagingImport, now: Date) async -> HealthImagingImport {
        var job = job
        job.pollAttempts += 1
        var generator = SystemRandomNumberGenerator()
        let later = now.addingTimeInterval(configuration.backoff.delay(afterAttempt: job.pollAttempts, using: &generator).seconds)
        let sink: EventSink?
        do {
            sink = try await sinks.eventSink(id: job.sinkID)
        } catch {
            job.nextPollAt = later
            return job
        }
        guard let sink, let region = sink.settings.region else {
            job.polling = false
            job.message = "the sink was deleted before the job ended; its last status is shown"
            return job
        }
        if !job.status.isTerminal {
            do {
                let described = try await client.get(datastoreID: job.datastoreID, jobID: job.jobID, region: region,
                                                      endpoint: sink.settings.endpoint)
                job.status = HealthImagingJobStatus(rawValue: described.status) ?? job.status
                job.endedAt = described.endedAt ?? job.endedAt
                job.message = described.message
            } catch {
                job.message = "polling: \((error as? HealthImagingError)?.description ?? AWSErrorText.describe(error))"
                job.nextPollAt = later
                return job
            }
        }
        guard job.status.isTerminal else {
            job.nextPollAt = later
            return job
        }
        if job.endedAt == nil { job.endedAt = now }
        do {
            job.failureCount = try await Self.failureCount(of: job, readObject: readObject)
            job.polling = false
            Counter(label: "healthimaging_import_jobs_total", dimensions: [("status", job.status.rawValue)]).increment()
            logger.info("healthimaging import job ended", metadata: [
                "job_id": "\(job.jobID)", "status": "\(job.status.rawValue)", "failures": "\(job.failureCount.map(String.init) ?? "unknown")",
            ])
        } catch {
            let reason = "reading the failure manifest: \(AWSErrorText.describe(error))"
            job.message = job.message.map { $0 + "; " + reason } ?? reason
            job.nextPollAt = later
        }
        return job
    }

    /// Non-empty lines of `FAILURE/failure.ndjson`. A COMPLETED job without the file failed no file; a
    /// FAILED job without it did not get as far as writing manifests (nil: unknown).
    static func failureCount(of job: HealthImagingImport, readObject: ObjectReader) async throws -> Int? {
        guard let (bucket, prefix) = Self.bucketAndPrefix(job.outputS3URI) else { return nil }
        let key = prefix + job.jobID + "/FAILURE/failure.ndjson"
        guard let text = try await readObject(bucket, key) else {
            return job.status == .completed ? 0 : nil
        }
        return text.split(whereSeparator: \.isNewline).count { !$0.allSatisfy(\.isWhitespace) }
    }

    /// `s3://bucket/prefix/` → (`bucket`, `prefix/`).
    static func bucketAndPrefix(_ uri: String) -> (String, String)? {
        guard uri.hasPrefix("s3://") else { return nil }
        let rest = uri.dropFirst(5)
        guard let slash = rest.firstIndex(of: "/") else { return (String(rest), "") }
        return (String(rest[..<slash]), String(rest[rest.index(after: slash)...]))
    }
}

/// A data-free name for an error of the poller's reads.
enum AWSErrorText {
    static func describe(_ error: any Error) -> String {
        if let error = error as? HealthImagingError { return error.description }
        if let error = error as? DeliveryError { return error.detail }
        return AWSTransportError.describe(error)
    }
}
