@testable import API
import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Storage
import TestSupport
import Testing

/// Records every `reconcileNow()` so tests can see that writes apply listeners at once.
final class RecordingListenerControl: ListenerControl, @unchecked Sendable {
    // Owns its lock: calls come from handler tasks.
    private let lock = NSLock()
    private var count = 0

    func reconcileNow() async {
        lock.withLock { count += 1 }
    }

    var reconcileCount: Int {
        lock.withLock { count }
    }
}

enum Tokens {
    static let admin = "admin-token-1"
    static let read = "read-token-1"
}

/// A real embedded catalog (SQLite, migrated) in a fresh temporary folder.
func makeCatalog() async throws -> SQLiteCatalog {
    let dir = try makeTemporaryDirectory("api-tests")
    let catalog = try SQLiteCatalog(path: dir.appendingPathComponent("catalog.sqlite").path, logger: Logger(label: "test.catalog"))
    try await catalog.migrate()
    return catalog
}

func quietLogger(_ label: String = "test.api") -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}

/// The router with every route, over a real SQLite catalog, no socket.
struct RouterHarness {
    let catalog: SQLiteCatalog
    let listeners = RecordingListenerControl()
    let responder: Responder
    let recorder = ResponseRecorder()

    init(readiness: [ReadinessCheck] = [ReadinessCheck(name: "catalog", error: nil)]) async throws {
        catalog = try await makeCatalog()
        let config = APIConfiguration(adminTokens: [Tokens.admin], readTokens: [Tokens.read])
        responder = APIServer.makeResponder(
            configuration: config, catalog: catalog, listeners: listeners,
            readiness: { readiness }, metrics: { "# TYPE up gauge\nup 1\n" }, logger: quietLogger())
    }

    @discardableResult
    func send(_ method: HTTPMethod, _ uri: String, token: String? = Tokens.admin, json: String? = nil,
              contentType: String? = nil, headers extra: [(String, String)] = []) async -> APIResponse {
        var headers = HTTPHeaders()
        if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
        if json != nil {
            headers.add(name: "Content-Type", value: contentType ?? (method == .PATCH ? "application/merge-patch+json" : "application/json"))
        } else if let contentType {
            headers.add(name: "Content-Type", value: contentType)
        }
        for (name, value) in extra { headers.add(name: name, value: value) }
        let request = APIRequest(method: method, uri: uri, headers: headers, body: ByteBuffer(string: json ?? ""))
        let response = await responder.respond(to: request)
        recorder.record(method: method, uri: uri, response: response)
        return response
    }
}

extension APIResponse {
    var bodyString: String { String(buffer: body) }

    var jsonObject: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(bodyString.utf8))) as? [String: Any] ?? [:]
    }

    /// The `field`s of a problem's `errors`.
    var errorFields: [String] {
        (jsonObject["errors"] as? [[String: Any]] ?? []).compactMap { $0["field"] as? String }
    }
}

/// Responses seen by a test, to be checked against openapi.yaml in one batch.
final class ResponseRecorder: @unchecked Sendable {
    struct Entry: Codable {
        var method: String
        var path: String
        var status: Int
        var headers: [String: String]
        var body: String
    }

    // Owns its lock: tests may record from concurrent tasks.
    private let lock = NSLock()
    private var entries: [Entry] = []

    func record(method: HTTPMethod, uri: String, response: APIResponse) {
        var headers: [String: String] = [:]
        for (name, value) in response.headers { headers[name.lowercased()] = value }
        let path = String(uri.split(separator: "?", maxSplits: 1).first ?? "")
        record(Entry(method: method.rawValue, path: path, status: Int(response.status.code), headers: headers, body: String(buffer: response.body)))
    }

    func record(_ entry: Entry) {
        lock.withLock { entries.append(entry) }
    }

    var all: [Entry] {
        lock.withLock { entries }
    }
}

/// Validates every recorded response against openapi.yaml (status documented for the operation,
/// content type, body schema, required headers) with Tests/APITests/Scripts/validate_responses.py.
func expectConformsToSpec(_ entries: [ResponseRecorder.Entry], sourceLocation: SourceLocation = #_sourceLocation) async throws {
    #expect(!entries.isEmpty, "no responses recorded", sourceLocation: sourceLocation)
    let data = try JSONEncoder().encode(entries)
    let script = repositoryRoot.appendingPathComponent("Tests/APITests/Scripts/validate_responses.py").path
    let result = try await Subprocess.runOffPool("python3", [script], stdin: data, currentDirectory: repositoryRoot)
    #expect(result.status == 0, "responses do not match openapi.yaml (needs pip packages jsonschema, pyyaml):\n\(result.output)",
            sourceLocation: sourceLocation)
}
