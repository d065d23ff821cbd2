@testable import API
import Domain
import Foundation
import NIOCore
import NIOHTTP1
import Storage
import Testing

@Suite("Router: /v1/listeners")
struct ListenerRoutesTests {
    func create(_ h: RouterHarness, _ json: String) async throws -> [String: Any] {
        let r = await h.send(.POST, "/v1/listeners", json: json)
        try #require(r.status == .created, "\(r.bodyString)")
        return r.jsonObject
    }

    @Test func createReturnsStoredListenerWithDefaultsAndLocation() async throws {
        let h = try await RouterHarness()
        let r = await h.send(.POST, "/v1/listeners", json: #"{"name":"ct-1","port":11112}"#)
        #expect(r.status == .created)
        let body = r.jsonObject
        let id = try #require(body["id"] as? String)
        #expect(r.headers.first(name: "Location") == "/v1/listeners/\(id)")
        #expect(id == id.lowercased())
        #expect(body["enabled"] as? Bool == true)
        #expect(body["bindAddress"] as? String == "0.0.0.0")
        #expect(body["aeTitle"] as? String == "STORESCP")
        #expect(body["requireCalledAETitle"] as? Bool == false)
        #expect(body["tls"] is NSNull)
        #expect(body["error"] is NSNull)
        #expect(body["state"] as? String == "stopped")
        let storage = try #require(body["storage"] as? [String: Any])
        #expect(storage["backend"] as? String == "filesystem")
        #expect(storage["dicomPrefix"] as? String == "DICOM")
        #expect(storage["gzip"] as? Bool == true)
        #expect(storage["bucket"] is NSNull)
        let limits = try #require(body["limits"] as? [String: Any])
        #expect(limits["maxAssociations"] as? Int == 20)
        #expect(h.listeners.reconcileCount == 1)
        let uuid = try #require(UUID(uuidString: id))
        let stored = try #require(try await h.catalog.listener(id: uuid))
        #expect(stored.name == "ct-1")
        #expect(stored.port == 11112)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func stateAndErrorComeFromTheCatalogAfterReconcile() async throws {
        // A supervisor that marks every listener failed, as when the port is taken elsewhere.
        let h = try await RouterHarness()
        let body = try await create(h, #"{"name":"st","port":11113}"#)
        let id = try #require(UUID(uuidString: body["id"] as? String ?? ""))
        try await h.catalog.setListenerState(id: id, state: .failed, error: "address already in use")
        let r = await h.send(.GET, "/v1/listeners/\(id)", token: Tokens.read)
        #expect(r.jsonObject["state"] as? String == "failed")
        #expect(r.jsonObject["error"] as? String == "address already in use")
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func fullCreateRoundTrips() async throws {
        let h = try await RouterHarness()
        let json = """
        {"name":"full","enabled":false,"port":104,"bindAddress":"::1","aeTitle":"MY AE","requireCalledAETitle":true,
         "allowedCallingAETitles":["MODALITY1"],"allowedPeers":["10.0.0.0/8","fd00::/8"],
         "tls":{"certificateFile":"/etc/c.pem","privateKeyFile":"/etc/k.pem","clientCAFile":null,"requireClientCertificate":false},
         "storage":{"backend":"s3","bucket":"my-bucket","region":"eu-west-1","endpoint":"http://127.0.0.1:9000","dicomPrefix":"",
                    "metadataPrefix":"meta/json","addStudyUIDPrefix":true,"keyTemplate":null,"gzip":false,"gzipLevel":6,
                    "createMetadata":false,"storageClass":"STANDARD_IA","serverSideEncryption":"aws:kms","kmsKeyId":"alias/x"},
         "limits":{"maxAssociations":5,"maxPDUSize":16384,"dimseTimeoutSeconds":10,"networkTimeoutSeconds":20,"cstoreDelayMs":7}}
        """
        let body = try await create(h, json)
        let id = try #require(UUID(uuidString: body["id"] as? String ?? ""))
        let stored = try #require(try await h.catalog.listener(id: id))
        #expect(stored.enabled == false)
        #expect(stored.bindAddress == "::1")
        #expect(stored.allowedPeers == ["10.0.0.0/8", "fd00::/8"])
        #expect(stored.tls?.privateKeyFile == "/etc/k.pem")
        #expect(stored.storage.backend == .s3)
        #expect(stored.storage.bucket == "my-bucket")
        #expect(stored.storage.dicomPrefix == "")
        #expect(stored.storage.serverSideEncryption == .kms)
        #expect(stored.limits.maxPDUSize == 16384)
        #expect(stored.limits.cstoreDelayMs == 7)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test(arguments: [
        (#"{"name":"a","port":1,"foo":1}"#, "foo"),
        (#"{"name":"a","port":1,"storage":{"foo":true}}"#, "storage.foo"),
        (#"{"name":"a","port":1,"id":"6f9619ff-8b86-d011-b42d-00cf4fc964ff"}"#, "id"),
        (#"{"name":"a","port":1,"state":"running"}"#, "state"),
        (#"{"name":"a","port":"11112"}"#, "port"),
        (#"{"name":"a","port":1.5}"#, "port"),
        (#"{"port":11112}"#, "name"),
        (#"{"name":"a"}"#, "port"),
        (#"{"name":"Bad_Name","port":11112}"#, "name"),
        (#"{"name":"a","port":70000}"#, "port"),
        (#"{"name":"a","port":1,"enabled":null}"#, "enabled"),
        (#"{"name":"a","port":1,"enabled":1}"#, "enabled"),
        (#"{"name":"a","port":1,"aeTitle":"THIS-AE-TITLE-IS-TOO-LONG"}"#, "aeTitle"),
        (#"{"name":"a","port":1,"aeTitle":"A\\B"}"#, "aeTitle"),
        (#"{"name":"a","port":1,"bindAddress":"localhost"}"#, "bindAddress"),
        (#"{"name":"a","port":1,"allowedPeers":["10.0.0.0/8","10.0.0.0/33"]}"#, "allowedPeers[1]"),
        (#"{"name":"a","port":1,"allowedCallingAETitles":[" X"]}"#, "allowedCallingAETitles[0]"),
        (#"{"name":"a","port":1,"storage":{"backend":"s3"}}"#, "storage.bucket"),
        (#"{"name":"a","port":1,"storage":{"backend":"tape"}}"#, "storage.backend"),
        (#"{"name":"a","port":1,"storage":{"dicomPrefix":"../x"}}"#, "storage.dicomPrefix"),
        (#"{"name":"a","port":1,"storage":{"gzipLevel":10}}"#, "storage.gzipLevel"),
        (#"{"name":"a","port":1,"tls":{"certificateFile":"/c.pem"}}"#, "tls.privateKeyFile"),
        (#"{"name":"a","port":1,"limits":{"maxAssociations":0}}"#, "limits.maxAssociations"),
        (#"{"name":"a","port":1,"limits":{"maxPDUSize":100}}"#, "limits.maxPDUSize"),
        (#"{"name":"a","port":1,"limits":{"cstoreDelayMs":-1}}"#, "limits.cstoreDelayMs"),
    ])
    func invalidBodiesAre400NamingTheField(json: String, field: String) async throws {
        let h = try await RouterHarness()
        let r = await h.send(.POST, "/v1/listeners", json: json)
        #expect(r.status == .badRequest, "\(r.bodyString)")
        #expect(r.errorFields.contains(field), "\(r.bodyString)")
        #expect(r.headers.first(name: "Content-Type") == "application/problem+json")
        #expect(h.listeners.reconcileCount == 0)
        #expect(try await h.catalog.listListeners().isEmpty)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func readOnlyFieldsAreRejectedWithAClearMessage() async throws {
        let h = try await RouterHarness()
        let r = await h.send(.POST, "/v1/listeners", json: #"{"name":"a","port":1,"createdAt":"2024-01-01T00:00:00Z"}"#)
        let errors = r.jsonObject["errors"] as? [[String: Any]] ?? []
        #expect(errors.first?["field"] as? String == "createdAt")
        #expect((errors.first?["message"] as? String)?.contains("read-only") == true)
    }

    @Test(arguments: ["", "not json", "[1,2]", "\"x\"", "{\"name\":"])
    func malformedBodiesAre400(body: String) async throws {
        let h = try await RouterHarness()
        let r = await h.send(.POST, "/v1/listeners", json: body)
        #expect(r.status == .badRequest)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func wrongContentTypeIs415() async throws {
        let h = try await RouterHarness()
        let json = #"{"name":"a","port":11112}"#
        #expect(await h.send(.POST, "/v1/listeners", json: json, contentType: "text/plain").status == .unsupportedMediaType)
        #expect(await h.send(.POST, "/v1/listeners", json: json, contentType: "application/merge-patch+json").status == .unsupportedMediaType)
        let noType = APIRequest(method: .POST, uri: "/v1/listeners", headers: ["Authorization": "Bearer \(Tokens.admin)"],
                                body: .init(string: json))
        #expect(await h.responder.respond(to: noType).status == .unsupportedMediaType)
        #expect(await h.send(.POST, "/v1/listeners", json: json, contentType: "application/json; charset=utf-8").status == .created)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func duplicateNameOrPortIs409NamingTheField() async throws {
        let h = try await RouterHarness()
        _ = try await create(h, #"{"name":"one","port":11112}"#)
        let sameName = await h.send(.POST, "/v1/listeners", json: #"{"name":"one","port":11113}"#)
        #expect(sameName.status == .conflict)
        #expect(sameName.errorFields == ["name"])
        let samePort = await h.send(.POST, "/v1/listeners", json: #"{"name":"two","port":11112}"#)
        #expect(samePort.status == .conflict)
        #expect(samePort.errorFields == ["port"])
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func getListAndNotFound() async throws {
        let h = try await RouterHarness()
        _ = try await create(h, #"{"name":"b","port":2000}"#)
        _ = try await create(h, #"{"name":"a","port":2001}"#)
        let list = await h.send(.GET, "/v1/listeners", token: Tokens.read)
        let items = list.jsonObject["items"] as? [[String: Any]] ?? []
        #expect(Set(items.compactMap { $0["name"] as? String }) == ["a", "b"])
        #expect(await h.send(.GET, "/v1/listeners/\(UUID())").status == .notFound)
        #expect(await h.send(.GET, "/v1/listeners/not-a-uuid").status == .notFound)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func patchMergesAndResetsWithNull() async throws {
        let h = try await RouterHarness()
        let created = try await create(h, #"{"name":"p","port":3000,"aeTitle":"FIRST","storage":{"gzip":false,"dicomPrefix":"X"},"tls":{"certificateFile":"/c","privateKeyFile":"/k"}}"#)
        let id = try #require(created["id"] as? String)
        let r = await h.send(.PATCH, "/v1/listeners/\(id)", json: #"{"port":3001,"aeTitle":null,"storage":{"gzip":true},"tls":null,"limits":{"maxAssociations":3}}"#)
        #expect(r.status == .ok, "\(r.bodyString)")
        let body = r.jsonObject
        #expect(body["port"] as? Int == 3001)
        #expect(body["aeTitle"] as? String == "STORESCP")
        #expect(body["tls"] is NSNull)
        #expect(body["name"] as? String == "p")
        let storage = try #require(body["storage"] as? [String: Any])
        #expect(storage["gzip"] as? Bool == true)
        #expect(storage["dicomPrefix"] as? String == "X", "members not in the patch are kept")
        #expect((body["limits"] as? [String: Any])?["maxAssociations"] as? Int == 3)
        #expect(body["createdAt"] as? String == created["createdAt"] as? String)
        #expect(h.listeners.reconcileCount == 2)
        let uuid = try #require(UUID(uuidString: id))
        let stored = try #require(try await h.catalog.listener(id: uuid))
        #expect(stored.port == 3001)
        #expect(stored.tls == nil)
        // application/json is accepted as well.
        let r2 = await h.send(.PATCH, "/v1/listeners/\(id)", json: #"{"enabled":false}"#, contentType: "application/json")
        #expect(r2.status == .ok)
        #expect(r2.jsonObject["enabled"] as? Bool == false)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func patchErrors() async throws {
        let h = try await RouterHarness()
        let created = try await create(h, #"{"name":"p","port":3000}"#)
        _ = try await create(h, #"{"name":"q","port":3002}"#)
        let id = try #require(created["id"] as? String)
        let cases: [(String, HTTPResponseStatus, String?)] = [
            (#"{"name":null}"#, .badRequest, "name"),
            (#"{"port":null}"#, .badRequest, "port"),
            (#"{"bogus":1}"#, .badRequest, "bogus"),
            (#"{"id":"x"}"#, .badRequest, "id"),
            (#"{"storage":{"backend":"s3"}}"#, .badRequest, "storage.bucket"),
            (#"{"storage":{"bucket":null}}"#, .badRequest, "storage.bucket"),
            (#"{"limits":{"maxAssociations":5000}}"#, .badRequest, "limits.maxAssociations"),
            (#"{"port":3002}"#, .conflict, "port"),
            (#"{"name":"q"}"#, .conflict, "name"),
            ("[]", .badRequest, nil),
        ]
        for (json, status, field) in cases {
            let r = await h.send(.PATCH, "/v1/listeners/\(id)", json: json)
            #expect(r.status == status, "\(json) → \(r.bodyString)")
            if let field { #expect(r.errorFields.contains(field), "\(json) → \(r.bodyString)") }
        }
        #expect(await h.send(.PATCH, "/v1/listeners/\(id)", json: "{}", contentType: "text/plain").status == .unsupportedMediaType)
        #expect(await h.send(.PATCH, "/v1/listeners/\(UUID())", json: "{}").status == .notFound)
        let uuid = try #require(UUID(uuidString: id))
        let stored = try #require(try await h.catalog.listener(id: uuid))
        #expect(stored.port == 3000)
        #expect(stored.name == "p")
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func deleteIs204ThenGone() async throws {
        let h = try await RouterHarness()
        let created = try await create(h, #"{"name":"d","port":4000}"#)
        let id = try #require(created["id"] as? String)
        let r = await h.send(.DELETE, "/v1/listeners/\(id)")
        #expect(r.status == .noContent)
        #expect(r.body.readableBytes == 0)
        #expect(h.listeners.reconcileCount == 2)
        #expect(await h.send(.GET, "/v1/listeners/\(id)").status == .notFound)
        #expect(await h.send(.DELETE, "/v1/listeners/\(id)").status == .notFound)
        try await expectConformsToSpec(h.recorder.all)
    }
}
