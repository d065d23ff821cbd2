@testable import API
import Domain
import Foundation
import MetricsTestKit
import NIOHTTP1
import TestSupport
import Testing

@Suite("Router: service routes, auth, errors")
struct RouterServiceTests {
    @Test func healthz() async throws {
        let h = try await RouterHarness()
        let r = await h.send(.GET, "/healthz", token: nil)
        #expect(r.status == .ok)
        #expect(r.jsonObject["status"] as? String == "ok")
        #expect(r.headers.first(name: "X-Request-Id") != nil)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func readyzReportsEachCheck() async throws {
        let ok = try await RouterHarness()
        let r1 = await ok.send(.GET, "/readyz", token: nil)
        #expect(r1.status == .ok)
        #expect(r1.jsonObject["status"] as? String == "ready")

        let failing = try await RouterHarness(readiness: [
            ReadinessCheck(name: "catalog", error: nil), ReadinessCheck(name: "s3:bucket", error: "connection refused"),
        ])
        let r2 = await failing.send(.GET, "/readyz", token: Tokens.read)
        #expect(r2.status == .serviceUnavailable)
        let checks = r2.jsonObject["checks"] as? [[String: Any]] ?? []
        #expect(checks.count == 2)
        #expect(checks.last?["ok"] as? Bool == false)
        #expect(checks.last?["error"] as? String == "connection refused")
        #expect(checks.first?["error"] is NSNull)
        try await expectConformsToSpec(ok.recorder.all + failing.recorder.all)
    }

    @Test func metricsAndSpecAreOpen() async throws {
        let h = try await RouterHarness()
        let metrics = await h.send(.GET, "/metrics", token: nil)
        #expect(metrics.status == .ok)
        #expect(metrics.headers.first(name: "Content-Type")?.hasPrefix("text/plain") == true)
        #expect(metrics.bodyString.contains("up 1"))
        let spec = await h.send(.GET, "/openapi.yaml", token: nil)
        #expect(spec.status == .ok)
        #expect(spec.headers.first(name: "Content-Type") == "application/yaml")
        let file = try String(contentsOf: repositoryRoot.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        #expect(spec.bodyString == file, "served spec differs from openapi.yaml: run scripts/generate/openapi")
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func missingOrUnknownTokenIs401WithChallenge() async throws {
        let h = try await RouterHarness()
        for (token, extra) in [(nil, [(String, String)]()), ("nope", []), (nil, [("Authorization", "Basic YTpi")]),
                               (nil, [("Authorization", "Bearer")])] as [(String?, [(String, String)])] {
            let r = await h.send(.GET, "/v1/listeners", token: token, headers: extra)
            #expect(r.status == .unauthorized)
            #expect(r.headers.first(name: "WWW-Authenticate")?.hasPrefix("Bearer") == true)
            #expect(r.headers.first(name: "Content-Type") == "application/problem+json")
        }
        // Unknown /v1 paths authenticate first, so they reveal nothing to strangers.
        #expect(await h.send(.GET, "/v1/nothing-here", token: nil).status == .unauthorized)
        #expect(await h.send(.GET, "/v1/nothing-here").status == .notFound)
        #expect(await h.send(.GET, "/nothing-here", token: nil).status == .notFound)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func readTokenReadsButCannotWrite() async throws {
        let h = try await RouterHarness()
        #expect(await h.send(.GET, "/v1/listeners", token: Tokens.read).status == .ok)
        let post = await h.send(.POST, "/v1/listeners", token: Tokens.read, json: #"{"name":"a","port":11112}"#)
        #expect(post.status == .forbidden)
        #expect(await h.send(.PATCH, "/v1/listeners/\(UUID())", token: Tokens.read, json: "{}").status == .forbidden)
        #expect(await h.send(.DELETE, "/v1/listeners/\(UUID())", token: Tokens.read).status == .forbidden)
        #expect(h.listeners.reconcileCount == 0)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func unsupportedMethodIs405WithAllow() async throws {
        let h = try await RouterHarness()
        let r = await h.send(.PUT, "/v1/listeners", json: "{}")
        #expect(r.status == .methodNotAllowed)
        #expect(r.headers.first(name: "Allow") == "GET, POST")
        let r2 = await h.send(.DELETE, "/healthz", token: nil)
        #expect(r2.status == .methodNotAllowed)
        #expect(r2.headers.first(name: "Allow") == "GET")
        let r3 = await h.send(.POST, "/v1/listeners/\(UUID())", json: "{}")
        #expect(r3.headers.first(name: "Allow") == "GET, PATCH, DELETE")
        #expect(await h.send(.PUT, "/v1/listeners", token: nil).status == .unauthorized)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func headIsAnsweredLikeGet() async throws {
        let h = try await RouterHarness()
        let r = await h.send(.HEAD, "/healthz", token: nil)
        #expect(r.status == .ok)
    }

    @Test func requestIdIsEchoedWhenSaneElseGenerated() async throws {
        let h = try await RouterHarness()
        let echoed = await h.send(.GET, "/healthz", token: nil, headers: [("X-Request-Id", "abc-123.x:y_z")])
        #expect(echoed.headers.first(name: "X-Request-Id") == "abc-123.x:y_z")
        let replaced = await h.send(.GET, "/healthz", token: nil, headers: [("X-Request-Id", "bad id\u{1}")])
        let generated = try #require(replaced.headers.first(name: "X-Request-Id"))
        #expect(generated != "bad id\u{1}")
        #expect(UUID(uuidString: generated) != nil)
    }

    @Test func badPercentEncodingIs400() async throws {
        let h = try await RouterHarness()
        #expect(await h.send(.GET, "/v1/studies/%zz").status == .badRequest)
        let q = await h.send(.GET, "/v1/studies?patientId=%ff")
        #expect(q.status == .badRequest)
        #expect(q.errorFields == ["patientId"])
    }
}

@Suite("Router: metrics")
struct RouterMetricsTests {
    @Test func requestsAreCountedAndTimedByRouteTemplate() async throws {
        let metrics = TestMetrics()
        let catalog = try await makeCatalog()
        let responder = APIServer.makeResponder(
            configuration: APIConfiguration(adminTokens: [Tokens.admin]), catalog: catalog, listeners: RecordingListenerControl(),
            readiness: { [] }, metrics: { "" }, logger: quietLogger(), metricsFactory: metrics)
        let auth: HTTPHeaders = ["Authorization": "Bearer \(Tokens.admin)"]
        for _ in 0..<2 { _ = await responder.respond(to: APIRequest(method: .GET, uri: "/v1/listeners/\(UUID())", headers: auth)) }
        _ = await responder.respond(to: APIRequest(method: .GET, uri: "/healthz"))
        _ = await responder.respond(to: APIRequest(method: .GET, uri: "/nowhere/\(UUID())"))
        let notFound = try metrics.expectCounter("http_requests_total", [("method", "GET"), ("route", "/v1/listeners/{id}"), ("status", "404")])
        #expect(notFound.totalValue == 2)
        #expect(try metrics.expectCounter("http_requests_total", [("method", "GET"), ("route", "/healthz"), ("status", "200")]).totalValue == 1)
        #expect(try metrics.expectCounter("http_requests_total", [("method", "GET"), ("route", "unmatched"), ("status", "404")]).totalValue == 1)
        let timer = try metrics.expectTimer("http_request_duration_seconds", [("method", "GET"), ("route", "/v1/listeners/{id}")])
        #expect(timer.values.count == 2)
        #expect(timer.values.allSatisfy { $0 >= 0 })
    }
}
