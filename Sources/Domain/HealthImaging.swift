public import Foundation

/// The states of an AWS HealthImaging DICOM import job (`JobStatus` of the `medical-imaging` API).
public enum HealthImagingJobStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case submitted = "SUBMITTED"
    case inProgress = "IN_PROGRESS"
    case completed = "COMPLETED"
    case failed = "FAILED"

    /// COMPLETED and FAILED end a job; the others are polled.
    public var isTerminal: Bool { self == .completed || self == .failed }
}

/// One `StartDICOMImportJob` a `healthimaging` sink made for one study event: the study's prefix, or
/// one part of it when the study exceeds the per-job limits and is split by series.
public struct HealthImagingImport: Sendable, Hashable {
    public var eventID: UUID
    public var sinkID: UUID
    /// 0 for the whole study; 1... for the parts of a split study.
    public var part: Int
    public var studyInstanceUID: String
    public var datastoreID: String
    public var inputS3URI: String
    public var outputS3URI: String
    public var clientToken: String
    public var jobID: String
    public var status: HealthImagingJobStatus
    public var submittedAt: Date
    public var endedAt: Date?
    /// Lines of the job's `FAILURE/failure.ndjson` (files HealthImaging did not import); nil until read.
    public var failureCount: Int?
    /// The job's `message`, or why its outcome could not be read.
    public var message: String?
    /// Whether the poller still has work for this job (its status, or its failure manifest).
    public var polling: Bool
    public var nextPollAt: Date
    public var pollAttempts: Int

    public init(eventID: UUID, sinkID: UUID, part: Int, studyInstanceUID: String, datastoreID: String, inputS3URI: String,
                outputS3URI: String, clientToken: String, jobID: String, status: HealthImagingJobStatus, submittedAt: Date,
                endedAt: Date? = nil, failureCount: Int? = nil, message: String? = nil, polling: Bool = true,
                nextPollAt: Date, pollAttempts: Int = 0) {
        self.eventID = eventID
        self.sinkID = sinkID
        self.part = part
        self.studyInstanceUID = studyInstanceUID
        self.datastoreID = datastoreID
        self.inputS3URI = inputS3URI
        self.outputS3URI = outputS3URI
        self.clientToken = clientToken
        self.jobID = jobID
        self.status = status
        self.submittedAt = submittedAt
        self.endedAt = endedAt
        self.failureCount = failureCount
        self.message = message
        self.polling = polling
        self.nextPollAt = nextPollAt
        self.pollAttempts = pollAttempts
    }
}

/// Where the HealthImaging import jobs of the study events are kept, so polling survives restarts.
public protocol HealthImagingImportStore: Sendable {
    /// Inserts the job, or (same event, sink and part: a retried start that got the same job back
    /// through its client token) keeps the stored row.
    func recordImport(_ job: HealthImagingImport) async throws
    /// Jobs the poller still has work for, due by `now`, soonest first.
    func importsToPoll(now: Date, limit: Int) async throws -> [HealthImagingImport]
    /// Replaces the mutable state (status, endedAt, failureCount, message, polling, nextPollAt, pollAttempts).
    func updateImport(_ job: HealthImagingImport) async throws
    /// Every job started for the study, oldest first.
    func imports(studyInstanceUID: String) async throws -> [HealthImagingImport]
}

/// The value rules of a `healthimaging` sink's settings and of the listeners it is bound to, shared by
/// the REST API and the transport. Patterns are those of the `medical-imaging` service model.
public enum HealthImagingRules {
    /// `DatastoreId`: 32 lowercase letters or digits.
    public static let datastoreIDPattern = "^[0-9a-z]{32}$"
    /// `RoleArn` of an IAM role (20...2048 characters).
    public static let roleARNPattern = #"^arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[\x21-\x7e]+$"#
    /// An `s3://bucket/prefix/` URI (`S3Uri`, at most 1024 characters): a bucket name and a key prefix
    /// ending in `/`.
    public static let outputS3URIPattern = #"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/([A-Za-z0-9!_.*'()/-]*/)?$"#
    public static let accountIDPattern = "^[0-9]{12}$"

    /// Why `storage` cannot feed a HealthImaging import of each study's own prefix, as
    /// (field of the listener, message); empty when it can. HealthImaging reads plain DICOM Part 10 files
    /// from S3: it rejects objects stored with `Content-Encoding: gzip`, and a job imports every object
    /// under one prefix, so each study's objects (and nothing else) must lie under a prefix of its own.
    public static func listenerProblems(_ storage: StorageTarget) -> [(field: String, message: String)] {
        var problems: [(String, String)] = []
        if storage.backend != .s3 {
            problems.append(("storage.backend", "must be s3 for a listener bound to a healthimaging sink (imports read from S3)"))
        }
        if storage.gzip {
            problems.append(("storage.gzip", "must be false for a listener bound to a healthimaging sink (HealthImaging rejects gzip content-encoding)"))
        }
        if !hasStudyPrefix(storage) {
            problems.append((storage.keyTemplate?.isEmpty == false ? "storage.keyTemplate" : "storage.addStudyUIDPrefix",
                             "must put {StudyInstanceUID} as the leading folder for a listener bound to a healthimaging sink (imports read each study's own prefix)"))
        }
        if storage.createMetadata, trimmed(storage.dicomPrefix) == trimmed(storage.metadataPrefix) {
            problems.append(("storage.metadataPrefix",
                             "must differ from storage.dicomPrefix for a listener bound to a healthimaging sink (the JSON metadata would be imported with the study)"))
        }
        return problems
    }

    /// Whether every object of a study lies under `<dicomPrefix>/<StudyInstanceUID>/`.
    public static func hasStudyPrefix(_ storage: StorageTarget) -> Bool {
        leadingFolders(storage).first == .studyInstanceUID
    }

    /// Whether every object of a series lies under `<dicomPrefix>/<StudyInstanceUID>/<SeriesInstanceUID>/`,
    /// so a study too large for one job can be imported series by series.
    public static func hasSeriesPrefix(_ storage: StorageTarget) -> Bool {
        leadingFolders(storage).prefix(2) == [.studyInstanceUID, .seriesInstanceUID]
    }

    /// The placeholders that make up the template's leading folders, in order, up to the first folder
    /// that is not exactly one placeholder.
    static func leadingFolders(_ storage: StorageTarget) -> [KeyTemplate.Placeholder] {
        guard let template = storage.keyTemplate, !template.isEmpty else {
            return storage.addStudyUIDPrefix ? [.studyInstanceUID] : []
        }
        var folders = template.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        folders.removeLast()  // the file name, never a folder
        var placeholders: [KeyTemplate.Placeholder] = []
        for folder in folders {
            let parts: [KeyTemplate.Part]
            do { parts = try KeyTemplate.parse(folder) } catch { break }
            guard parts.count == 1, case .placeholder(let p) = parts[0] else { break }
            placeholders.append(p)
        }
        return placeholders
    }

    private static func trimmed(_ prefix: String) -> String {
        prefix.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
    }
}
