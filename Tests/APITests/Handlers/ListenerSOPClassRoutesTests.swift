@testable import API
import Domain
import Foundation
import NIOHTTP1
import Storage
import Testing

/// `allowedSOPClasses` of a listener through the REST API: POST, GET, merge patch (null resets it to the
/// empty list = every storage class) and the 400 problem naming the offending item.
@Suite("Router: listener allowedSOPClasses")
struct ListenerSOPClassRoutesTests {
    static let ct = "1.2.840.10008.5.1.4.1.1.2"
    static let mr = "1.2.840.10008.5.1.4.1.1.4"

    @Test func createGetAndPatch() async throws {
        let h = try await RouterHarness()
        let plain = await h.send(.POST, "/v1/listeners", json: #"{"name":"plain","port":3100}"#)
        try #require(plain.status == .created, "\(plain.bodyString)")
        #expect(plain.jsonObject["allowedSOPClasses"] as? [String] == [], "absent: the empty list")

        let r = await h.send(.POST, "/v1/listeners", json: #"{"name":"ct-only","port":3101,"allowedSOPClasses":["\#(Self.ct)"]}"#)
        try #require(r.status == .created, "\(r.bodyString)")
        #expect(r.jsonObject["allowedSOPClasses"] as? [String] == [Self.ct])
        let id = try #require(r.jsonObject["id"] as? String)
        let uuid = try #require(UUID(uuidString: id))
        #expect(try await h.catalog.listener(id: uuid)?.allowedSOPClasses == [Self.ct])
        #expect(await h.send(.GET, "/v1/listeners/\(id)", token: Tokens.read).jsonObject["allowedSOPClasses"] as? [String] == [Self.ct])

        let replaced = await h.send(.PATCH, "/v1/listeners/\(id)", json: #"{"allowedSOPClasses":["\#(Self.ct)","\#(Self.mr)"]}"#)
        #expect(replaced.status == .ok, "\(replaced.bodyString)")
        #expect(replaced.jsonObject["allowedSOPClasses"] as? [String] == [Self.ct, Self.mr])
        // A patch without the member keeps it.
        let kept = await h.send(.PATCH, "/v1/listeners/\(id)", json: #"{"aeTitle":"CTONLY"}"#)
        #expect(kept.jsonObject["allowedSOPClasses"] as? [String] == [Self.ct, Self.mr])
        // null resets it to its default: every storage class.
        let reset = await h.send(.PATCH, "/v1/listeners/\(id)", json: #"{"allowedSOPClasses":null}"#)
        #expect(reset.status == .ok, "\(reset.bodyString)")
        #expect(reset.jsonObject["allowedSOPClasses"] as? [String] == [])
        #expect(try await h.catalog.listener(id: uuid)?.allowedSOPClasses == [])
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test(arguments: [
        (#"["1.2.840.10008.5.1.4.1.1.2","1.2.03"]"#, "allowedSOPClasses[1]"),  // leading zero
        (#"["1..2"]"#, "allowedSOPClasses[0]"),                                 // empty component
        (#"["1.2."]"#, "allowedSOPClasses[0]"),
        (#"[".1.2"]"#, "allowedSOPClasses[0]"),
        (#"[""]"#, "allowedSOPClasses[0]"),
        (#"["1.2.840.10008.5.1.4.1.1.2","CT Image Storage"]"#, "allowedSOPClasses[1]"),
        (#"["1.2.840.10008.5.1.4.1.1.2\n"]"#, "allowedSOPClasses[0]"),
        ("[\"1." + String(repeating: "2", count: 63) + "\"]", "allowedSOPClasses[0]"),  // 65 characters
        (#"[7]"#, "allowedSOPClasses[0]"),
        (#""1.2.840.10008.5.1.4.1.1.2""#, "allowedSOPClasses"),
        (#"null"#, "allowedSOPClasses"),
    ])
    func invalidValuesAre400NamingTheItem(list: String, field: String) async throws {
        let h = try await RouterHarness()
        let r = await h.send(.POST, "/v1/listeners", json: #"{"name":"a","port":3102,"allowedSOPClasses":\#(list)}"#)
        #expect(r.status == .badRequest, "\(r.bodyString)")
        #expect(r.headers.first(name: "Content-Type") == "application/problem+json")
        #expect(r.errorFields == [field], "\(r.bodyString)")
        #expect(try await h.catalog.listListeners().isEmpty)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func sixtyFourCharacterUIDIsValid() async throws {
        let h = try await RouterHarness()
        let uid = "1." + String(repeating: "2", count: 62)
        #expect(uid.count == 64)
        let r = await h.send(.POST, "/v1/listeners", json: #"{"name":"a","port":3103,"allowedSOPClasses":["\#(uid)","0.0"]}"#)
        #expect(r.status == .created, "\(r.bodyString)")
        #expect(r.jsonObject["allowedSOPClasses"] as? [String] == [uid, "0.0"])
    }

    @Test func invalidPatchIs400AndChangesNothing() async throws {
        let h = try await RouterHarness()
        let created = await h.send(.POST, "/v1/listeners", json: #"{"name":"p","port":3104,"allowedSOPClasses":["\#(Self.ct)"]}"#)
        let id = try #require(created.jsonObject["id"] as? String)
        let r = await h.send(.PATCH, "/v1/listeners/\(id)", json: #"{"allowedSOPClasses":["\#(Self.mr)","1.2.3.04"]}"#)
        #expect(r.status == .badRequest, "\(r.bodyString)")
        #expect(r.errorFields == ["allowedSOPClasses[1]"], "\(r.bodyString)")
        let uuid = try #require(UUID(uuidString: id))
        #expect(try await h.catalog.listener(id: uuid)?.allowedSOPClasses == [Self.ct])
        try await expectConformsToSpec(h.recorder.all)
    }
}
