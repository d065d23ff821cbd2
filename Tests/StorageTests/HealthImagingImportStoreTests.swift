import Domain
import Foundation
import Storage
import Testing

/// The HealthImaging import jobs of the catalog, against PostgreSQL (TEST_POSTGRES_URL) and SQLite alike:
/// a retried start keeps the first row, due jobs are returned soonest first, an ended job is no longer polled.
@Suite("HealthImaging import store")
struct HealthImagingImportStoreTests {
    func job(part: Int, study: String = "1.2.3", event: UUID, sink: UUID, due: Date) -> HealthImagingImport {
        HealthImagingImport(eventID: event, sinkID: sink, part: part, studyInstanceUID: study,
                            datastoreID: "0123456789abcdef0123456789abcdef", inputS3URI: "s3://b/DICOM/\(study)/",
                            outputS3URI: "s3://o/", clientToken: "token-\(part)", jobID: "job\(part)", status: .submitted,
                            submittedAt: at(Double(10 + part)), nextPollAt: due)
    }

    @Test(arguments: CatalogKind.allCases)
    func jobsAreRecordedPolledAndEnded(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let store = try #require(catalog as? any HealthImagingImportStore)
            let event = UUID(), sink = UUID()
            try await store.recordImport(job(part: 2, event: event, sink: sink, due: at(30)))
            try await store.recordImport(job(part: 1, event: event, sink: sink, due: at(20)))
            var retried = job(part: 1, event: event, sink: sink, due: at(20))
            retried.jobID = "another"
            try await store.recordImport(retried)
            try await store.recordImport(job(part: 0, study: "9.9", event: UUID(), sink: sink, due: at(25)))

            #expect(try await store.imports(studyInstanceUID: "1.2.3").map(\.jobID) == ["job1", "job2"])
            #expect(try await store.importsToPoll(now: at(19), limit: 10).isEmpty)
            #expect(try await store.importsToPoll(now: at(30), limit: 10).map(\.jobID) == ["job1", "job0", "job2"])
            #expect(try await store.importsToPoll(now: at(30), limit: 1).map(\.jobID) == ["job1"])

            var ended = try #require(try await store.imports(studyInstanceUID: "1.2.3").first)
            ended.status = .failed
            ended.message = "Input S3 location is not accessible"
            ended.endedAt = at(40)
            ended.polling = false
            ended.pollAttempts = 3
            try await store.updateImport(ended)
            #expect(try await store.importsToPoll(now: at(50), limit: 10).map(\.jobID) == ["job0", "job2"])
            let stored = try #require(try await store.imports(studyInstanceUID: "1.2.3").first)
            #expect(stored == ended)
        }
    }
}
