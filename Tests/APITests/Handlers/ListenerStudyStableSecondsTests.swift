@testable import API
import Domain
import Foundation
import NIOHTTP1
import Testing

/// `studyStableSeconds`: absent means the default (60) on create and "keep" in a patch; an explicit null
/// turns study events off on create and in a merge patch alike (where RFC 7396 would otherwise reset it).
@Suite("Router: listener studyStableSeconds")
struct ListenerStudyStableSecondsTests {
    func create(_ h: RouterHarness, _ json: String) async throws -> (id: UUID, body: [String: Any]) {
        let r = await h.send(.POST, "/v1/listeners", json: json)
        try #require(r.status == .created, "\(r.bodyString)")
        let id = try #require(UUID(uuidString: r.jsonObject["id"] as? String ?? ""))
        return (id, r.jsonObject)
    }

    @Test func absentOnCreateIsTheDefaultAndNullIsOff() async throws {
        let h = try await RouterHarness()
        let (defaulted, body) = try await create(h, #"{"name":"d","port":3100}"#)
        #expect(body["studyStableSeconds"] as? Int == ListenerConfig.defaultStudyStableSeconds)
        #expect(try await h.catalog.listener(id: defaulted)?.studyStableSeconds == 60)

        let (off, offBody) = try await create(h, #"{"name":"o","port":3101,"studyStableSeconds":null}"#)
        #expect(offBody["studyStableSeconds"] is NSNull)
        #expect(try await h.catalog.listener(id: off)?.studyStableSeconds == nil)
        let got = await h.send(.GET, "/v1/listeners/\(off)")
        #expect(got.jsonObject["studyStableSeconds"] is NSNull)
        #expect(got.jsonObject.keys.contains("studyStableSeconds"))
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func patchWithNullTurnsEventsOffAndAbsentKeepsTheValue() async throws {
        let h = try await RouterHarness()
        let (id, _) = try await create(h, #"{"name":"p","port":3102,"studyStableSeconds":5}"#)

        // A patch without the member keeps the current value.
        let kept = await h.send(.PATCH, "/v1/listeners/\(id)", json: #"{"aeTitle":"OTHER"}"#)
        #expect(kept.status == .ok, "\(kept.bodyString)")
        #expect(kept.jsonObject["studyStableSeconds"] as? Int == 5)

        // null is stored as off, not reset to 60.
        let off = await h.send(.PATCH, "/v1/listeners/\(id)", json: #"{"studyStableSeconds":null}"#)
        #expect(off.status == .ok, "\(off.bodyString)")
        #expect(off.jsonObject["studyStableSeconds"] is NSNull)
        #expect(try await h.catalog.listener(id: id)?.studyStableSeconds == nil)

        // Off stays off through a patch of something else.
        let still = await h.send(.PATCH, "/v1/listeners/\(id)", json: #"{"enabled":false}"#)
        #expect(still.status == .ok, "\(still.bodyString)")
        #expect(still.jsonObject["studyStableSeconds"] is NSNull)
        #expect(try await h.catalog.listener(id: id)?.studyStableSeconds == nil)

        // And a value turns events back on.
        let on = await h.send(.PATCH, "/v1/listeners/\(id)", json: #"{"studyStableSeconds":30}"#)
        #expect(on.jsonObject["studyStableSeconds"] as? Int == 30)
        #expect(try await h.catalog.listener(id: id)?.studyStableSeconds == 30)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func patchOutOfRangeNamesTheField() async throws {
        let h = try await RouterHarness()
        let (id, _) = try await create(h, #"{"name":"r","port":3103}"#)
        let r = await h.send(.PATCH, "/v1/listeners/\(id)", json: #"{"studyStableSeconds":0}"#)
        #expect(r.status == .badRequest)
        let errors = r.jsonObject["errors"] as? [[String: Any]] ?? []
        #expect(errors.compactMap { $0["field"] as? String } == ["studyStableSeconds"])
        #expect(try await h.catalog.listener(id: id)?.studyStableSeconds == 60)
    }
}
