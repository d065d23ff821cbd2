import AsyncHTTPClient
import AWS
import Domain
@testable import Events
import Foundation
import Testing

/// The pure decisions of the healthimaging sink: which prefixes a study is imported from, the client
/// token, and which listeners can be bound.
@Suite struct HealthImagingTransportTests {
    let listenerID = UUID()

    func data(instances: Int, bytes: Int64, series: [(String, Int, Int64)], prefix: String? = "s3://bkt/DICOM/1.2.3/") -> StudyEventData {
        let study = StudySummary(studyInstanceUID: "1.2.3", seriesCount: series.count, instanceCount: instances, totalBytes: bytes,
                                 firstReceivedAt: Date(timeIntervalSince1970: 0), lastReceivedAt: Date(timeIntervalSince1970: 1))
        let summaries = series.map {
            SeriesSummary(seriesInstanceUID: $0.0, studyInstanceUID: "1.2.3", instanceCount: $0.1, totalBytes: $0.2)
        }
        let uris = prefix.map { p in series.map { "\(p)\($0.0)/x.dcm" } } ?? ["s3://bkt/DICOM/a.dcm", "s3://bkt/DICOM/b.dcm"]
        return StudyEventData(study: study, series: summaries, revision: 1, listenerID: listenerID, listenerName: "l",
                              callingAETitles: [], peerAddresses: [], objectURIs: uris)
    }

    func transport(storage: StorageTarget?, limits: HealthImagingTransport.Limits) -> HealthImagingTransport {
        HealthImagingTransport(
            client: HealthImagingClient(httpClient: HTTPClient.shared, credentials: StaticCredentialsProvider(
                AWSCredentials(accessKeyID: "a", secretAccessKey: "b")), environment: [:]),
            store: NoStore(), listenerStorage: { _ in storage }, limits: limits)
    }

    @Test func aStudyWithinTheLimitsIsOneJobOnItsPrefix() async throws {
        let parts = try await transport(storage: nil, limits: .init(maxFilesPerJob: 10, maxBytesPerJob: 100))
            .parts(of: data(instances: 10, bytes: 100, series: [("1.2.3.1", 10, 100)]))
        #expect(parts == [.init(index: 0, inputS3URI: "s3://bkt/DICOM/1.2.3/")])
    }

    @Test func aStudyOverTheLimitsIsSplitBySeriesWhenTheLayoutHasSeriesFolders() async throws {
        let storage = StorageTarget(backend: .s3, bucket: "bkt", keyTemplate: "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}",
                                    gzip: false)
        let parts = try await transport(storage: storage, limits: .init(maxFilesPerJob: 10, maxBytesPerJob: 1000))
            .parts(of: data(instances: 15, bytes: 150, series: [("1.2.3.1", 8, 80), ("1.2.3.2", 7, 70)]))
        #expect(parts == [.init(index: 1, inputS3URI: "s3://bkt/DICOM/1.2.3/1.2.3.1/"),
                          .init(index: 2, inputS3URI: "s3://bkt/DICOM/1.2.3/1.2.3.2/")])
    }

    @Test func aStudyOverTheLimitsWithoutSeriesFoldersFailsNamingTheLimit() async throws {
        let storage = StorageTarget(backend: .s3, bucket: "bkt", addStudyUIDPrefix: true, gzip: false)
        let error = await #expect(throws: DeliveryError.self) {
            try await transport(storage: storage, limits: .init(maxFilesPerJob: 10, maxBytesPerJob: 1000))
                .parts(of: data(instances: 15, bytes: 150, series: [("1.2.3.1", 8, 80), ("1.2.3.2", 7, 70)]))
        }
        #expect(error?.isPermanent == true)
        #expect(error?.detail.contains("15 files") == true)
        #expect(error?.detail.contains("(10 files, 1000 bytes)") == true)
    }

    @Test func aSeriesOverTheLimitsFailsTheEvent() async throws {
        let storage = StorageTarget(backend: .s3, bucket: "bkt", keyTemplate: "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}",
                                    gzip: false)
        let error = await #expect(throws: DeliveryError.self) {
            try await transport(storage: storage, limits: .init(maxFilesPerJob: 100, maxBytesPerJob: 100))
                .parts(of: data(instances: 3, bytes: 150, series: [("1.2.3.1", 1, 20), ("1.2.3.2", 2, 130)]))
        }
        #expect(error?.isPermanent == true)
        #expect(error?.detail.contains("series 2") == true)
    }

    @Test func aStudyWithoutAPrefixCannotBeImported() async throws {
        let error = await #expect(throws: DeliveryError.self) {
            try await transport(storage: nil, limits: .init())
                .parts(of: data(instances: 2, bytes: 2, series: [("1.2.3.1", 2, 2)], prefix: nil))
        }
        #expect(error?.isPermanent == true)
    }

    @Test func theClientTokenIsStableAndValidForTheModel() throws {
        let event = try #require(UUID(uuidString: "4F1C2B3A-9D8E-4C7B-A6F5-0E1D2C3B4A59"))
        let sink = try #require(UUID(uuidString: "8A7B6C5D-1E2F-4A3B-9C8D-7E6F5A4B3C2D"))
        let whole = HealthImagingTransport.clientToken(eventID: event, sinkID: sink, part: 0)
        #expect(whole == "4f1c2b3a-9d8e-4c7b-a6f5-0e1d2c3b4a59-8a7b6c5d")
        #expect(HealthImagingTransport.clientToken(eventID: event, sinkID: sink, part: 12) == whole + "-12")
        for token in [whole, whole + "-12"] {
            #expect(ListenerValidation.matches(token, "^[A-Za-z0-9._-]{1,64}$"))
        }
        #expect(HealthImagingTransport.clientToken(eventID: event, sinkID: UUID(), part: 0) != whole)
    }

    @Test func bindingRulesNameEveryListenerFieldAtFault() {
        var storage = StorageTarget(backend: .filesystem, dicomPrefix: "D", metadataPrefix: "D/", gzip: true)
        let fields = HealthImagingRules.listenerProblems(storage).map(\.field)
        #expect(fields == ["storage.backend", "storage.gzip", "storage.addStudyUIDPrefix", "storage.metadataPrefix"])
        storage = StorageTarget(backend: .s3, bucket: "b", keyTemplate: "{CallingAETitle}/{StudyInstanceUID}/{SOPInstanceUID}", gzip: false)
        #expect(HealthImagingRules.listenerProblems(storage).map(\.field) == ["storage.keyTemplate"])
        storage.keyTemplate = "{StudyInstanceUID}/{SOPInstanceUID}"
        #expect(HealthImagingRules.listenerProblems(storage).isEmpty)
        #expect(!HealthImagingRules.hasSeriesPrefix(storage))
        storage.keyTemplate = "{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}"
        #expect(HealthImagingRules.hasSeriesPrefix(storage))
        storage.keyTemplate = "{StudyInstanceUID}-x/{SOPInstanceUID}"
        #expect(!HealthImagingRules.hasStudyPrefix(storage))
        storage.keyTemplate = nil
        storage.addStudyUIDPrefix = true
        #expect(HealthImagingRules.listenerProblems(storage).isEmpty)
    }
}

/// The transport's parts are decided before anything is recorded.
struct NoStore: HealthImagingImportStore {
    func recordImport(_ job: HealthImagingImport) async throws {}
    func importsToPoll(now: Date, limit: Int) async throws -> [HealthImagingImport] { [] }
    func updateImport(_ job: HealthImagingImport) async throws {}
    func imports(studyInstanceUID: String) async throws -> [HealthImagingImport] { [] }
}

/// How the poller reads a job's outcome from its output manifest.
@Suite struct HealthImagingFailureCountTests {
    func job(_ status: HealthImagingJobStatus, output: String = "s3://out/imports/") -> HealthImagingImport {
        HealthImagingImport(eventID: UUID(), sinkID: UUID(), part: 0, studyInstanceUID: "1.2.3", datastoreID: "d",
                            inputS3URI: "s3://b/DICOM/1.2.3/", outputS3URI: output, clientToken: "t", jobID: "j1",
                            status: status, submittedAt: Date(), nextPollAt: Date())
    }

    @Test func failureLinesAreCountedFromTheJobsFailureManifest() async throws {
        let count = try await HealthImagingJobPoller.failureCount(of: job(.completed)) { bucket, key in
            #expect(bucket == "out")
            #expect(key == "imports/j1/FAILURE/failure.ndjson")
            return "{\"a\":1}\n{\"b\":2}\n\n{\"c\":3}\n"
        }
        #expect(count == 3)
    }

    @Test func aCompletedJobWithoutAFailureManifestFailedNoFile() async throws {
        #expect(try await HealthImagingJobPoller.failureCount(of: job(.completed)) { _, _ in nil } == 0)
    }

    @Test func aFailedJobWithoutAManifestHasAnUnknownCount() async throws {
        #expect(try await HealthImagingJobPoller.failureCount(of: job(.failed)) { _, _ in nil } == nil)
    }

    @Test func anOutputAtTheBucketRootIsReadThere() async throws {
        let count = try await HealthImagingJobPoller.failureCount(of: job(.completed, output: "s3://out/")) { bucket, key in
            #expect(bucket == "out" && key == "j1/FAILURE/failure.ndjson")
            return "x\n"
        }
        #expect(count == 1)
    }
}
