@testable import API
import AsyncHTTPClient
import Logging
import NIOSSL
import Domain
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import TestSupport
import Testing

@Suite("Live server on port 0")
struct LiveServerTests {
    let get = "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"

    @Test func asyncHTTPClientRoundTrips() async throws {
        let recorder = ResponseRecorder()
        try await withLiveServer { port, _, _ in
            let client = HTTPClient(eventLoopGroupProvider: .singleton)
            do {
                func call(_ method: HTTPMethod, _ path: String, token: String?, body: String? = nil, contentType: String = "application/json") async throws -> (Int, String) {
                    var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
                    request.method = method
                    if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
                    if let body {
                        request.headers.add(name: "Content-Type", value: contentType)
                        request.body = .bytes(ByteBuffer(string: body))
                    }
                    let response = try await client.execute(request, timeout: .seconds(10))
                    let bytes = try await response.body.collect(upTo: 1 << 20)
                    var headers: [String: String] = [:]
                    for (name, value) in response.headers { headers[name.lowercased()] = value }
                    let text = String(buffer: bytes)
                    recorder.record(.init(method: method.rawValue, path: path, status: Int(response.status.code), headers: headers, body: text))
                    return (Int(response.status.code), text)
                }
                #expect(try await call(.GET, "/healthz", token: nil).0 == 200)
                #expect(try await call(.GET, "/v1/listeners", token: nil).0 == 401)
                #expect(try await call(.GET, "/v1/listeners", token: Tokens.read).0 == 200)
                let (status, body) = try await call(.POST, "/v1/listeners", token: Tokens.admin, body: #"{"name":"live","port":11112}"#)
                #expect(status == 201, "\(body)")
                #expect(try await call(.POST, "/v1/listeners", token: Tokens.admin, body: "{}", contentType: "text/plain").0 == 415)
                #expect(try await call(.POST, "/v1/listeners", token: Tokens.read, body: "{}").0 == 403)
                #expect(try await call(.GET, "/v1/studies?limit=5000", token: Tokens.read).0 == 400)
                #expect(try await call(.GET, "/v1/stats", token: Tokens.read).0 == 200)
                let (specStatus, spec) = try await call(.GET, "/openapi.yaml", token: nil)
                #expect(specStatus == 200)
                #expect(spec.hasPrefix("openapi: 3.1.0"))
                try await client.shutdown()
            } catch {
                try await client.shutdown()
                throw error
            }
        }
        try await expectConformsToSpec(recorder.all)
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() async throws {
        try await withLiveServer { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            defer { c.close() }
            try await c.send(get)
            #expect(try await c.waitForResponses(1).count == 1)
            try await c.send(get)
            let responses = try await c.waitForResponses(2)
            #expect(responses.map(\.status) == [200, 200])
            #expect(!c.isClosed)
            #expect(responses.first?.headers["connection"] == nil)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() async throws {
        let recorder = ResponseRecorder()
        try await withLiveServer { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            defer { c.close() }
            try await c.send(
                "GET /v1/listeners HTTP/1.1\r\nHost: t\r\nX-Request-Id: req-1\r\n\r\n"
                + "GET /healthz HTTP/1.1\r\nHost: t\r\nX-Request-Id: req-2\r\n\r\n"
                + "GET /v1/stats HTTP/1.1\r\nHost: t\r\nX-Request-Id: req-3\r\nAuthorization: Bearer \(Tokens.read)\r\n\r\n")
            let responses = try await c.waitForResponses(3)
            #expect(responses.map(\.status) == [401, 200, 200])
            #expect(responses.map { $0.headers["x-request-id"] ?? "" } == ["req-1", "req-2", "req-3"])
            for (r, path) in zip(responses, ["/v1/listeners", "/healthz", "/v1/stats"]) { recorder.record(r.entry(method: "GET", path: path)) }
        }
        try await expectConformsToSpec(recorder.all)
    }

    @Test func headHasNoBodyAndKeepsTheConnectionUsable() async throws {
        try await withLiveServer { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            defer { c.close() }
            try await c.send("HEAD /openapi.yaml HTTP/1.1\r\nHost: t\r\n\r\n" + get)
            try await c.wait { RawResponse.parseAll($0.text, headRequests: [0]).count >= 2 }
            let responses = RawResponse.parseAll(c.text, headRequests: [0])
            #expect(responses.map(\.status) == [200, 200])
            #expect(Int(responses.first?.headers["content-length"] ?? "0") ?? 0 > 1000)
            #expect(responses.first?.body == "")
        }
    }

    @Test func garbageIs400AndClose() async throws {
        try await withLiveServer { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            try await c.send("THIS IS NOT HTTP\r\n\r\n")
            #expect(try await c.waitUntilClosed())
            let responses = RawResponse.parseAll(c.text)
            #expect(responses.map(\.status) == [400])
            #expect(responses.first?.headers["connection"] == "close")
            #expect(responses.first?.headers["content-type"] == "application/problem+json")
            #expect(responses.first?.headers["x-request-id"] != nil)
        }
    }

    @Test func oversizedContentLengthIs413BeforeTheBodyIsSent() async throws {
        try await withLiveServer { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            try await c.send("POST /v1/listeners HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(Tokens.admin)\r\nContent-Type: application/json\r\nContent-Length: 10485760\r\n\r\n{")
            #expect(try await c.waitUntilClosed(), "the server must answer and close without waiting for 10 MiB")
            let responses = RawResponse.parseAll(c.text)
            #expect(responses.map(\.status) == [413])
            #expect(responses.first?.headers["connection"] == "close")
        }
    }

    @Test func chunkedBodyIs411AndClose() async throws {
        try await withLiveServer { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            try await c.send("POST /v1/listeners HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(Tokens.admin)\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
            #expect(try await c.waitUntilClosed())
            #expect(RawResponse.parseAll(c.text).map(\.status) == [411])
        }
    }

    @Test func oversizedHeadersAre431() async throws {
        try await withLiveServer { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            try await c.send("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: \(String(repeating: "a", count: 20_000))\r\n\r\n")
            #expect(try await c.waitUntilClosed())
            #expect(RawResponse.parseAll(c.text).map(\.status) == [431])
        }
    }

    @Test func wrongContentTypeIs415OverTheWire() async throws {
        try await withLiveServer { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            defer { c.close() }
            try await c.send("POST /v1/listeners HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(Tokens.admin)\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n{}")
            let responses = try await c.waitForResponses(1)
            #expect(responses.map(\.status) == [415])
            #expect(!c.isClosed, "a 415 keeps the connection")
        }
    }

    @Test func connectionCloseIsHonoured() async throws {
        try await withLiveServer { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            try await c.send("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            #expect(try await c.waitUntilClosed())
            let responses = RawResponse.parseAll(c.text)
            #expect(responses.map(\.status) == [200])
            #expect(responses.first?.headers["connection"] == "close")
        }
    }

    @Test func http10ClosesUnlessKeepAlive() async throws {
        try await withLiveServer { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            try await c.send("GET /healthz HTTP/1.0\r\n\r\n")
            #expect(try await c.waitUntilClosed())
            #expect(RawResponse.parseAll(c.text).map(\.status) == [200])
        }
    }

    @Test func slowClientIsCutOff() async throws {
        try await withLiveServer(requestTimeout: .milliseconds(300)) { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            try await c.send("GET /healthz HTTP/1.1\r\nHost: t\r\n")
            // Trickle a header line every 50 ms for up to 10 s: the server must close first.
            var sent = 0
            while sent < 200 && !c.isClosed {
                try await Task.sleep(for: .milliseconds(50))
                do { try await c.send("X-Slow-\(sent): 1\r\n") } catch { break }
                sent += 1
            }
            #expect(try await c.waitUntilClosed(), "a trickling client must be cut off")
            #expect(sent < 200)
            #expect(RawResponse.parseAll(c.text).isEmpty)
        }
    }

    @Test func idleConnectionIsClosed() async throws {
        try await withLiveServer(idleTimeout: .milliseconds(200)) { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            #expect(try await c.waitUntilClosed(), "a connection that sends nothing must be closed")
            #expect(c.text.isEmpty)
        }
    }

    @Test func fiveHundredConcurrentConnections() async throws {
        try await withLiveServer { port, _, _ in
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<500 {
                    group.addTask {
                        let c = try await RawConnection.connect(port: port)
                        try await c.send("GET \(i % 2 == 0 ? "/healthz" : "/v1/listeners") HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(Tokens.read)\r\nConnection: close\r\n\r\n")
                        _ = try await c.waitUntilClosed(timeout: .seconds(30))
                        c.close()
                        return RawResponse.parseAll(c.text).first?.status ?? -1
                    }
                }
                var statuses: [Int] = []
                for try await status in group { statuses.append(status) }
                return statuses
            }
            #expect(statuses.count == 500)
            #expect(statuses.allSatisfy { $0 == 200 }, "\(Dictionary(grouping: statuses, by: { $0 }).mapValues(\.count))")
        }
    }

    @Test func gracefulShutdownLetsTheInFlightRequestFinish() async throws {
        let gate = Gate()
        let entered = Gate()
        try await withLiveServer(readiness: {
            await entered.open()
            await gate.wait()
            return [ReadinessCheck(name: "catalog", error: nil)]
        }) { port, _, group in
            let c = try await RawConnection.connect(port: port)
            let idle = try await RawConnection.connect(port: port)
            try await c.send("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n")
            await entered.wait()
            await group.triggerGracefulShutdown()
            #expect(try await idle.waitUntilClosed(), "an idle connection closes at shutdown")
            // New connections are refused once the listening socket is closed.
            try await Task.sleep(for: .milliseconds(50))
            await gate.open()
            let responses = try await c.waitForResponses(1)
            #expect(responses.map(\.status) == [200], "the in-flight request completes")
            #expect(try await c.waitUntilClosed())
        }
    }
}

/// A one-shot latch for ordering steps between the test and a handler.
actor Gate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

@Suite("Live server: TLS, Expect, logs")
struct LiveServerExtraTests {
    @Test func expect100ContinueGetsAnInterimResponse() async throws {
        try await withLiveServer { port, _, _ in
            let c = try await RawConnection.connect(port: port)
            defer { c.close() }
            let body = #"{"name":"expect","port":11112}"#
            try await c.send("POST /v1/listeners HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \(Tokens.admin)\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
            #expect(try await c.wait { $0.text.hasPrefix("HTTP/1.1 100 Continue\r\n\r\n") })
            try await c.send(body)
            #expect(try await c.wait { $0.text.contains("HTTP/1.1 201") }, "\(c.text.debugDescription)")
            let interim = "HTTP/1.1 100 Continue\r\n\r\n"
            #expect(RawResponse.parseAll(String(c.text.utf8.dropFirst(interim.utf8.count))!).map(\.status) == [201])
        }
    }

    @Test func servesTLSWithCertificateFiles() async throws {
        let dir = try makeTemporaryDirectory("api-tls")
        let cert = dir.appendingPathComponent("cert.pem").path
        let key = dir.appendingPathComponent("key.pem").path
        let made = try await Subprocess.runOffPool("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
        ])
        try #require(made.status == 0, "openssl could not make a test certificate (apt-get install openssl):\n\(made.output)")
        try await withLiveServer(tls: APIConfiguration.TLS(certificateFile: cert, privateKeyFile: key)) { port, _, _ in
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(cert)
            let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: HTTPClient.Configuration(tlsConfiguration: tls))
            do {
                var request = HTTPClientRequest(url: "https://127.0.0.1:\(port)/v1/stats")
                request.headers.add(name: "Authorization", value: "Bearer \(Tokens.read)")
                let response = try await client.execute(request, timeout: .seconds(10))
                #expect(response.status == .ok)
                let body = try await response.body.collect(upTo: 1 << 16)
                #expect(String(buffer: body).contains("\"instances\":0"))
                try await client.shutdown()
            } catch {
                try await client.shutdown()
                throw error
            }
            // Plain HTTP to the TLS port gets no HTTP response.
            let plain = try await RawConnection.connect(port: port)
            try await plain.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await plain.waitUntilClosed())
            #expect(!plain.text.hasPrefix("HTTP/1.1 200"))
        }
    }

    @Test func oneAccessLogLinePerRequestWithRequestID() async throws {
        let capture = CapturedLogs()
        let catalog = try await makeCatalog()
        let responder = APIServer.makeResponder(
            configuration: APIConfiguration(adminTokens: [Tokens.admin]), catalog: catalog, listeners: RecordingListenerControl(),
            readiness: { [] }, metrics: { "" }, logger: Logger(label: "test.access", factory: { _ in CapturingLogHandler(capture: capture) }))
        let id = UUID()
        _ = await responder.respond(to: APIRequest(method: .GET, uri: "/v1/listeners/\(id)", headers: [
            "Authorization": "Bearer \(Tokens.admin)", "X-Request-Id": "trace-42",
        ]))
        let lines = capture.entries.filter { $0.message == "request" }
        #expect(lines.count == 1)
        let line = try #require(lines.first)
        #expect(line.metadata["method"] == "GET")
        #expect(line.metadata["path"] == "/v1/listeners/{id}", "the path template, not the id")
        #expect(line.metadata["status"] == "404")
        #expect(Double(line.metadata["duration_ms"] ?? "") != nil)
        #expect(capture.entries.allSatisfy { $0.metadata["request_id"] == "trace-42" })
    }
}

final class CapturedLogs: @unchecked Sendable {
    struct Entry {
        var message: String
        var metadata: [String: String]
    }
    // Owns its lock: log calls come from any task.
    private let lock = NSLock()
    private var stored: [Entry] = []
    func append(_ entry: Entry) { lock.withLock { stored.append(entry) } }
    var entries: [Entry] { lock.withLock { stored } }
}

struct CapturingLogHandler: LogHandler {
    let capture: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        let merged = self.metadata.merging(explicit ?? [:]) { $1 }
        capture.append(.init(message: message.description, metadata: merged.mapValues { "\($0)" }))
    }
}
