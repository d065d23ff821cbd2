public import Domain
public import Foundation

/// Starts an AWS HealthImaging import of the study's own S3 prefix for each `study.stable` and
/// `study.updated` event, and records the job for `HealthImagingJobPoller`.
///
/// The client token is derived from the event id, the sink and the part, so a retried delivery (a
/// timeout after HealthImaging accepted the job, a node that died before recording it) gets the same job
/// back instead of a second import. A study beyond the per-job limits (files, bytes) is split into one
/// job per series prefix when the listener's key layout has `{StudyInstanceUID}/{SeriesInstanceUID}/`
/// folders; otherwise the delivery fails with the limit it exceeds.
public struct HealthImagingTransport: EventTransport {
    /// HealthImaging's import job quotas ("AWS HealthImaging endpoints and quotas"); adjustable by the
    /// operator because AWS adjusts them per account.
    public struct Limits: Sendable, Hashable {
        public var maxFilesPerJob: Int
        public var maxBytesPerJob: Int64

        public init(maxFilesPerJob: Int = 10_000, maxBytesPerJob: Int64 = 10 * 1024 * 1024 * 1024) {
            self.maxFilesPerJob = maxFilesPerJob
            self.maxBytesPerJob = maxBytesPerJob
        }
    }

    /// One import to start: the prefix and what lies under it.
    struct Part: Sendable, Hashable {
        var index: Int
        var inputS3URI: String
    }

    let client: HealthImagingClient
    let store: any HealthImagingImportStore
    let listenerStorage: @Sendable (UUID) async throws -> StorageTarget?
    let limits: Limits
    let firstPollDelay: Duration

    public init(client: HealthImagingClient, store: any HealthImagingImportStore,
                listenerStorage: @escaping @Sendable (UUID) async throws -> StorageTarget?, limits: Limits = Limits(),
                firstPollDelay: Duration = .seconds(10)) {
        self.client = client
        self.store = store
        self.listenerStorage = listenerStorage
        self.limits = limits
        self.firstPollDelay = firstPollDelay
    }

    /// `<event id>-<first 8 hex digits of the sink id>[-<part>]`: at most 64 of `[A-Za-z0-9._-]`
    /// (`ClientToken` of the model), the same on every attempt.
    public static func clientToken(eventID: UUID, sinkID: UUID, part: Int) -> String {
        let base = eventID.uuidString.lowercased() + "-" + sinkID.uuidString.lowercased().prefix(8)
        return part == 0 ? base : base + "-\(part)"
    }

    /// `dicom-ingest-<event id>[-<part>]` (`JobName`: `[A-Za-z0-9._/#-]`, at most 64).
    static func jobName(eventID: UUID, part: Int) -> String {
        let base = "dicom-ingest-" + eventID.uuidString.lowercased()
        return part == 0 ? base : base + "-\(part)"
    }

    public func deliver(_ delivery: ClaimedDelivery) async throws {
        let settings = delivery.sink.settings
        guard let datastoreID = settings.datastoreId, let roleARN = settings.dataAccessRoleArn,
              let outputS3URI = settings.outputS3Uri, let region = settings.region
        else {
            throw DeliveryError("healthimaging sink lacks datastoreId, dataAccessRoleArn, outputS3Uri or region", permanent: true)
        }
        guard delivery.eventType == EventType.studyStable.rawValue || delivery.eventType == EventType.studyUpdated.rawValue else {
            throw DeliveryError("healthimaging sinks import study events only, not \(delivery.eventType)", permanent: true)
        }
        let data: StudyEventData
        do {
            data = try JSONDecoder().decode(StudyEnvelope.self, from: Data(delivery.body.utf8)).data
        } catch {
            throw DeliveryError("event body is not a study event", permanent: true)
        }
        let parts = try await self.parts(of: data)
        let now = Date()
        for part in parts {
            let token = Self.clientToken(eventID: delivery.eventID, sinkID: delivery.sink.id, part: part.index)
            let request = HealthImagingClient.StartJob(
                datastoreID: datastoreID, jobName: Self.jobName(eventID: delivery.eventID, part: part.index),
                dataAccessRoleARN: roleARN, clientToken: token, inputS3URI: part.inputS3URI, outputS3URI: outputS3URI,
                inputOwnerAccountID: settings.inputOwnerAccountId)
            let job: HealthImagingClient.Job
            do {
                job = try await client.start(request, region: region, endpoint: settings.endpoint)
            } catch let error as HealthImagingError {
                throw DeliveryError(error.description, permanent: !error.retryable)
            }
            let status = HealthImagingJobStatus(rawValue: job.status) ?? .submitted
            try await store.recordImport(HealthImagingImport(
                eventID: delivery.eventID, sinkID: delivery.sink.id, part: part.index, studyInstanceUID: data.studyInstanceUID,
                datastoreID: datastoreID, inputS3URI: part.inputS3URI, outputS3URI: outputS3URI, clientToken: token,
                jobID: job.jobID, status: status, submittedAt: job.submittedAt ?? now, endedAt: job.endedAt,
                message: job.message, nextPollAt: now.addingTimeInterval(firstPollDelay.seconds)))
        }
    }

    /// The study's prefix as one part when it fits one job, else one part per series prefix.
    func parts(of data: StudyEventData) async throws -> [Part] {
        guard let prefix = data.location.studyPrefix, prefix.hasPrefix("s3://") else {
            throw DeliveryError("the study has no S3 study prefix (the listener's key layout must start with {StudyInstanceUID}/ on S3)",
                                permanent: true)
        }
        if data.instanceCount <= limits.maxFilesPerJob && data.totalBytes <= limits.maxBytesPerJob {
            return [Part(index: 0, inputS3URI: prefix)]
        }
        var storage: StorageTarget?
        if let listenerID = UUID(uuidString: data.listener.id) { storage = try await listenerStorage(listenerID) }
        guard let storage, HealthImagingRules.hasSeriesPrefix(storage) else {
            throw DeliveryError(
                "study has \(data.instanceCount) files and \(data.totalBytes) bytes, over the import job limits "
                    + "(\(limits.maxFilesPerJob) files, \(limits.maxBytesPerJob) bytes), and the listener's key layout has no "
                    + "{StudyInstanceUID}/{SeriesInstanceUID}/ folders to split it by series", permanent: true)
        }
        var parts: [Part] = []
        for (index, series) in data.series.enumerated() {
            guard series.instanceCount <= limits.maxFilesPerJob && series.totalBytes <= limits.maxBytesPerJob else {
                throw DeliveryError(
                    "series \(index + 1) of the study has \(series.instanceCount) files and \(series.totalBytes) bytes, over the "
                        + "import job limits (\(limits.maxFilesPerJob) files, \(limits.maxBytesPerJob) bytes)", permanent: true)
            }
            parts.append(Part(index: index + 1, inputS3URI: prefix + series.seriesInstanceUID + "/"))
        }
        return parts
    }
}

/// The part of a CloudEvent this transport reads.
struct StudyEnvelope: Decodable {
    var data: StudyEventData
}
