@testable import API
import Domain
import Foundation
import NIOCore
import NIOHTTP1
import Storage
import Testing

/// `/v1/event-sinks` with kind healthimaging, and the listener binding rules it enforces, over a real
/// SQLite catalog; every response is checked against openapi.yaml.
@Suite struct HealthImagingSinkRoutesTests {
    struct Harness {
        let catalog: SQLiteCatalog
        let responder: Responder
        let recorder = ResponseRecorder()

        init() async throws {
            catalog = try await makeCatalog()
            responder = APIServer.makeResponder(
                configuration: APIConfiguration(adminTokens: [Tokens.admin], readTokens: [Tokens.read]), catalog: catalog,
                listeners: RecordingListenerControl(), readiness: { [] }, metrics: { "" }, events: catalog, imports: catalog,
                logger: quietLogger())
        }

        @discardableResult
        func send(_ method: HTTPMethod, _ uri: String, _ json: String) async -> APIResponse {
            var headers = HTTPHeaders()
            headers.add(name: "Authorization", value: "Bearer \(Tokens.admin)")
            headers.add(name: "Content-Type", value: method == .PATCH ? "application/merge-patch+json" : "application/json")
            let response = await responder.respond(to: APIRequest(method: method, uri: uri, headers: headers, body: .init(string: json)))
            recorder.record(method: method, uri: uri, response: response)
            return response
        }

        /// Listeners are never started here (the listener control only records): any distinct port will do.
        func listener(_ name: String, storage: String) async throws -> String {
            let port = 11_104 + (try await catalog.listListeners().count)
            let r = await send(.POST, "/v1/listeners", #"{"name":"\#(name)","port":\#(port),"storage":\#(storage)}"#)
            try #require(r.status == .created, "\(r.bodyString)")
            return try #require(r.jsonObject["id"] as? String)
        }
    }

    static func s3(gzip: Bool = false, studyPrefix: Bool = true, keyTemplate: String? = nil) -> String {
        #"{"backend":"s3","bucket":"bkt","region":"us-east-1","gzip":\#(gzip),"addStudyUIDPrefix":\#(studyPrefix)"#
            + (keyTemplate.map { #","keyTemplate":"\#($0)"}"# } ?? "}")
    }

    func sink(_ listenerIDs: [String], _ extra: String = "") -> String {
        let ids = listenerIDs.map { "\"\($0)\"" }.joined(separator: ",")
        return """
            {"name":"hi","kind":"healthimaging","datastoreId":"0123456789abcdef0123456789abcdef",
             "dataAccessRoleArn":"arn:aws:iam::123456789012:role/Import","outputS3Uri":"s3://out/imports/",
             "region":"us-east-1","listenerIds":[\(ids)]\(extra)}
            """
    }

    @Test func aValidSinkIsCreatedAndShowsItsSettings() async throws {
        let h = try await Harness()
        let id = try await h.listener("good", storage: Self.s3())
        let r = await h.send(.POST, "/v1/event-sinks", sink([id], #","endpoint":"http://127.0.0.1:9443","inputOwnerAccountId":"111122223333""#))
        #expect(r.status == .created, "\(r.bodyString)")
        #expect(r.jsonObject["datastoreId"] as? String == "0123456789abcdef0123456789abcdef")
        #expect(r.jsonObject["outputS3Uri"] as? String == "s3://out/imports/")
        #expect(r.jsonObject["endpoint"] as? String == "http://127.0.0.1:9443")
        let stored = try #require(try await h.catalog.listEventSinks().first)
        #expect(stored.kind == .healthimaging)
        #expect(stored.settings.dataAccessRoleArn == "arn:aws:iam::123456789012:role/Import")
        #expect(stored.settings.inputOwnerAccountId == "111122223333")
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func everyInvalidSettingIsNamed() async throws {
        let h = try await Harness()
        let r = await h.send(.POST, "/v1/event-sinks", """
            {"name":"hi","kind":"healthimaging","datastoreId":"0123456789ABCDEF0123456789abcdef",
             "dataAccessRoleArn":"arn:aws:iam::123456789012:user/x","outputS3Uri":"s3://out/no-trailing-slash",
             "region":"Europe","endpoint":"ftp://h","inputOwnerAccountId":"1234","listenerIds":[]}
            """)
        #expect(r.status == .badRequest)
        #expect(Set(r.errorFields) == ["datastoreId", "dataAccessRoleArn", "outputS3Uri", "region", "endpoint",
                                       "inputOwnerAccountId", "listenerIds"])
        let misplaced = await h.send(.POST, "/v1/event-sinks", sink([UUID().uuidString],
            #","url":"http://h/","secret":"0123456789abcdef","eventTypes":["dicom-ingest.study.stable","dicom-ingest.instance.stored"]"#))
        #expect(Set(misplaced.errorFields) == ["url", "secret", "eventTypes[1]"])
        let missing = await h.send(.POST, "/v1/event-sinks", #"{"name":"hi","kind":"healthimaging"}"#)
        #expect(Set(missing.errorFields) == ["datastoreId", "dataAccessRoleArn", "outputS3Uri", "region", "listenerIds"])
        let webhook = await h.send(.POST, "/v1/event-sinks", """
            {"name":"w","kind":"webhook","url":"http://h/x","secret":"0123456789abcdef","outputS3Uri":"s3://out/","region":"us-east-1"}
            """)
        #expect(webhook.errorFields == ["outputS3Uri", "region"])
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func listenersThatCannotFeedAnImportAreRefusedByIndex() async throws {
        let h = try await Harness()
        let good = try await h.listener("good", storage: Self.s3())
        let gzip = try await h.listener("gzip", storage: Self.s3(gzip: true))
        let flat = try await h.listener("flat", storage: Self.s3(studyPrefix: false))
        let template = try await h.listener("tpl", storage: Self.s3(keyTemplate: "{CallingAETitle}/{StudyInstanceUID}/{SOPInstanceUID}"))
        let r = await h.send(.POST, "/v1/event-sinks", sink([good, gzip, flat, template, UUID().uuidString.lowercased()]))
        #expect(r.status == .badRequest)
        #expect(r.errorFields == ["listenerIds[1]", "listenerIds[2]", "listenerIds[3]"])
        let messages = (r.jsonObject["errors"] as? [[String: Any]] ?? []).compactMap { $0["message"] as? String }
        #expect(messages.first?.contains("storage.gzip") == true)
        #expect(messages.first?.contains("rejects gzip content-encoding") == true)
        #expect(messages.dropFirst().first?.contains("storage.addStudyUIDPrefix") == true)
        #expect(messages.dropFirst(2).first?.contains("storage.keyTemplate") == true)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func aBoundListenerCannotTurnGzipOn() async throws {
        let h = try await Harness()
        let bound = try await h.listener("bound", storage: Self.s3())
        let free = try await h.listener("free", storage: Self.s3())
        #expect(await h.send(.POST, "/v1/event-sinks", sink([bound])).status == .created)
        let refused = await h.send(.PATCH, "/v1/listeners/\(bound)", #"{"storage":{"gzip":true}}"#)
        #expect(refused.status == .badRequest)
        #expect(refused.errorFields == ["storage.gzip"])
        let boundID = try #require(UUID(uuidString: bound))
        let stored = try #require(try await h.catalog.listener(id: boundID))
        #expect(stored.storage.gzip == false)
        #expect(await h.send(.PATCH, "/v1/listeners/\(free)", #"{"storage":{"gzip":true}}"#).status == .ok)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func importJobsRoundTripThroughTheCatalog() async throws {
        let h = try await Harness()
        let now = Date(timeIntervalSince1970: 1_795_953_600)
        var job = HealthImagingImport(eventID: UUID(), sinkID: UUID(), part: 0, studyInstanceUID: "1.2.3", datastoreID: "d",
                                      inputS3URI: "s3://b/DICOM/1.2.3/", outputS3URI: "s3://o/", clientToken: "t", jobID: "j1",
                                      status: .submitted, submittedAt: now, nextPollAt: now)
        try await h.catalog.recordImport(job)
        var again = job
        again.jobID = "other"
        try await h.catalog.recordImport(again)  // a retried start keeps the first row
        #expect(try await h.catalog.imports(studyInstanceUID: "1.2.3").map(\.jobID) == ["j1"])
        #expect(try await h.catalog.importsToPoll(now: now.addingTimeInterval(-1), limit: 10).isEmpty)
        #expect(try await h.catalog.importsToPoll(now: now, limit: 10).map(\.jobID) == ["j1"])
        job.status = .completed
        job.failureCount = 3
        job.endedAt = now
        job.polling = false
        try await h.catalog.updateImport(job)
        #expect(try await h.catalog.importsToPoll(now: now, limit: 10).isEmpty)
        let stored = try #require(try await h.catalog.imports(studyInstanceUID: "1.2.3").first)
        #expect(stored.status == .completed && stored.failureCount == 3 && stored.endedAt == now)
    }
}
