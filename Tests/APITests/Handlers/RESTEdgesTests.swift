@testable import API
import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing

/// The router over a real catalog with an operator storage policy.
private func responder(storageAccess: StorageAccessPolicy, catalog: any Catalog,
                       readiness: [ReadinessCheck] = [ReadinessCheck(name: "catalog", error: nil)]) -> Responder {
    let configuration = APIConfiguration(adminTokens: [Tokens.admin], readTokens: [Tokens.read], storageAccess: storageAccess)
    return APIServer.makeResponder(configuration: configuration, catalog: catalog, listeners: RecordingListenerControl(),
                                   readiness: { readiness }, metrics: { "" }, logger: quietLogger())
}

private func send(_ responder: Responder, _ method: HTTPMethod, _ uri: String, token: String? = Tokens.admin, json: String? = nil) async -> APIResponse {
    var headers = HTTPHeaders()
    if let token { headers.add(name: "Authorization", value: "Bearer \(token)") }
    if json != nil { headers.add(name: "Content-Type", value: method == .PATCH ? "application/merge-patch+json" : "application/json") }
    return await responder.respond(to: APIRequest(method: method, uri: uri, headers: headers, body: ByteBuffer(string: json ?? "")))
}

/// Member names of one object schema of openapi.yaml, in the spec's order.
private func specMemberOrder(_ schema: String) -> [String] {
    let lines = OpenAPISpec.yaml.components(separatedBy: "\n")
    guard let start = lines.firstIndex(of: "    \(schema):") else { return [] }
    var names: [String] = []
    var inProperties = false
    for line in lines[(start + 1)...] {
        if !line.hasPrefix("      ") && !line.isEmpty { break }
        if line == "      properties:" { inProperties = true; continue }
        guard inProperties else { continue }
        if line.hasPrefix("        ") && !line.hasPrefix("         "), let colon = line.firstIndex(of: ":") {
            names.append(String(line[line.index(line.startIndex, offsetBy: 8)..<colon]))
        } else if !line.hasPrefix("        ") {
            break
        }
    }
    return names
}

/// Top-level member names of a JSON object text, in the order written.
private func writtenMemberOrder(_ json: String) -> [String] {
    var names: [String] = []
    var depth = 0
    var inString = false
    var escaped = false
    var current = ""
    var expectingKey = false
    for ch in json {
        if inString {
            if escaped { escaped = false; current.append(ch); continue }
            if ch == "\\" { escaped = true; continue }
            if ch == "\"" {
                inString = false
                if expectingKey && depth == 1 { names.append(current) }
                expectingKey = false
                continue
            }
            current.append(ch)
            continue
        }
        switch ch {
        case "\"": inString = true; current = ""
        case "{", "[": depth += 1; expectingKey = ch == "{" && depth == 1
        case "}", "]":
            depth -= 1
            if depth == 0 { return names }
        case ",": expectingKey = depth == 1
        default: break
        }
    }
    return names
}

@Suite("REST edges: validation, policy, readiness, member order, cursors")
struct RESTEdgesTests {
    @Test("a 400 names every invalid field, not only the first")
    func everyInvalidFieldIsNamed() async throws {
        let r = responder(storageAccess: .unrestricted, catalog: try await makeCatalog())
        let response = await send(r, .POST, "/v1/listeners", json: #"{"name":"Bad Name","port":99999,"storage":{"backend":"nope"}}"#)
        #expect(response.status == .badRequest)
        #expect(Set(response.errorFields) == ["name", "port", "storage.backend"])
        // Structural and value errors together, nested ones too.
        let mixed = await send(r, .POST, "/v1/listeners", json: #"""
            {"name":"ok","port":"x","aeTitle":"BAD\\TITLE","allowedPeers":["nope"],"storage":{"keyTemplate":"{StudyInstanceUID}","gzipLevel":0},
             "limits":{"maxAssociations":true},"bogus":1}
            """#)
        #expect(Set(mixed.errorFields) == ["port", "aeTitle", "allowedPeers[0]", "storage.keyTemplate", "storage.gzipLevel",
                                           "limits.maxAssociations", "bogus"])
        // PATCH too.
        let created = await send(r, .POST, "/v1/listeners", json: #"{"name":"p1","port":11190}"#)
        let id = try #require(created.jsonObject["id"] as? String)
        let patched = await send(r, .PATCH, "/v1/listeners/\(id)", json: #"{"port":0,"aeTitle":"","storage":{"backend":"nope","gzipLevel":10}}"#)
        #expect(Set(patched.errorFields) == ["port", "aeTitle", "storage.backend", "storage.gzipLevel"])
    }

    @Test("key templates that overwrite or cannot form keys: 400 naming storage.keyTemplate")
    func keyTemplatesAreChecked() async throws {
        let r = responder(storageAccess: .unrestricted, catalog: try await makeCatalog())
        for template in ["{StudyInstanceUID}", "/abs/{SOPInstanceUID}", "../{SOPInstanceUID}", "{Nope}/{SOPInstanceUID}"] {
            let body = #"{"name":"kt","port":11191,"storage":{"keyTemplate":"\#(template)"}}"#
            let response = await send(r, .POST, "/v1/listeners", json: body)
            #expect(response.status == .badRequest, "\(template)")
            #expect(response.errorFields == ["storage.keyTemplate"], "\(template)")
        }
        let ok = await send(r, .POST, "/v1/listeners", json: #"{"name":"kt","port":11191,"storage":{"keyTemplate":"{StudyInstanceUID}/{SOPInstanceUID}"}}"#)
        #expect(ok.status == .created)
    }

    @Test("storage.path outside the roots and storage.endpoint not allowed: 400 naming the field, on POST and PATCH")
    func storagePolicyIsEnforced() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("roots-\(UUID().uuidString)").path
        let policy = StorageAccessPolicy(roots: [root], endpoints: [try #require(.init("http://127.0.0.1:9000"))])
        let r = responder(storageAccess: policy, catalog: try await makeCatalog())

        let outside = await send(r, .POST, "/v1/listeners", json: #"{"name":"fs1","port":11192,"storage":{"backend":"filesystem","path":"/etc/cron.d"}}"#)
        #expect(outside.status == .badRequest)
        #expect(outside.errorFields == ["storage.path"])
        let traversal = await send(r, .POST, "/v1/listeners", json: #"{"name":"fs1","port":11192,"storage":{"backend":"filesystem","path":"\#(root)/../x"}}"#)
        #expect(traversal.errorFields == ["storage.path"])
        let endpoint = await send(r, .POST, "/v1/listeners", json: #"{"name":"s3a","port":11193,"storage":{"backend":"s3","bucket":"bkt","endpoint":"http://169.254.169.254"}}"#)
        #expect(endpoint.errorFields == ["storage.endpoint"])

        let inside = await send(r, .POST, "/v1/listeners", json: #"{"name":"fs1","port":11192,"storage":{"backend":"filesystem","path":"\#(root)/a"}}"#)
        #expect(inside.status == .created)
        let id = try #require(inside.jsonObject["id"] as? String)
        let patch = await send(r, .PATCH, "/v1/listeners/\(id)", json: #"{"storage":{"path":"/var/tmp"}}"#)
        #expect(patch.errorFields == ["storage.path"])
        let s3 = await send(r, .PATCH, "/v1/listeners/\(id)", json: #"{"storage":{"backend":"s3","bucket":"bkt","endpoint":"http://127.0.0.1:9001"}}"#)
        #expect(s3.errorFields == ["storage.endpoint"])
        let allowed = await send(r, .PATCH, "/v1/listeners/\(id)", json: #"{"storage":{"backend":"s3","bucket":"bkt","endpoint":"http://127.0.0.1:9000"}}"#)
        #expect(allowed.status == .ok)
    }

    @Test("/readyz: status only for anonymous callers, checks with a token")
    func readinessDetailNeedsAToken() async throws {
        let checks = [ReadinessCheck(name: "catalog", error: nil), ReadinessCheck(name: "file:///secret/path", error: "permission denied")]
        let r = responder(storageAccess: .unrestricted, catalog: try await makeCatalog(), readiness: checks)
        let anonymous = await send(r, .GET, "/readyz", token: nil)
        #expect(anonymous.status == .serviceUnavailable)
        #expect(anonymous.jsonObject["status"] as? String == "unavailable")
        #expect((anonymous.jsonObject["checks"] as? [Any])?.isEmpty == true)
        #expect(!anonymous.bodyString.contains("secret"))
        let wrongToken = await send(r, .GET, "/readyz", token: "not-a-token")
        #expect(wrongToken.status == .serviceUnavailable)
        #expect(!wrongToken.bodyString.contains("secret"))
        let reader = await send(r, .GET, "/readyz", token: Tokens.read)
        #expect((reader.jsonObject["checks"] as? [Any])?.count == 2)
        #expect(reader.bodyString.contains("permission denied"))
    }

    @Test("objects are written in the member order of openapi.yaml")
    func memberOrderIsTheSpecs() async throws {
        let r = responder(storageAccess: .unrestricted, catalog: try await makeCatalog())
        let created = await send(r, .POST, "/v1/listeners", json: #"{"name":"order","port":11194,"tls":null}"#)
        #expect(created.status == .created)
        let listenerOrder = specMemberOrder("Listener")
        #expect(listenerOrder.count == 18)
        #expect(writtenMemberOrder(created.bodyString) == listenerOrder)
        let storage = try #require(created.bodyString.range(of: #""storage":"#))
        let storageText = String(created.bodyString[storage.upperBound...])
        #expect(writtenMemberOrder(storageText) == specMemberOrder("StorageTarget"))

        let problem = await send(r, .POST, "/v1/listeners", json: #"{"name":"Bad Name","port":1}"#)
        #expect(writtenMemberOrder(problem.bodyString) == specMemberOrder("Problem"))
        let stats = await send(r, .GET, "/v1/stats")
        #expect(writtenMemberOrder(stats.bodyString) == specMemberOrder("Stats"))
        let ready = await send(r, .GET, "/readyz", token: Tokens.read)
        #expect(writtenMemberOrder(ready.bodyString) == specMemberOrder("Readiness"))
        // The same bytes every time.
        let again = await send(r, .GET, "/v1/listeners/\(created.jsonObject["id"] as? String ?? "")")
        #expect(writtenMemberOrder(again.bodyString) == listenerOrder)
    }

    @Test("every cursor of the stated form is accepted; any other form is a 400 naming cursor")
    func cursorsOfTheStatedFormAreAccepted() async throws {
        let r = responder(storageAccess: .unrestricted, catalog: try await makeCatalog())
        let wellFormed = [
            "/v1/studies?cursor=s0_0", "/v1/studies?cursor=s-9223372036854775808_1.2.3", "/v1/studies?cursor=s9999999999999999999_1",
            "/v1/series/1.2.3/instances?cursor=i9223372036854775807_1.2.3.4", "/v1/series/1.2.3/instances?cursor=i0_0",
            "/v1/associations?cursor=a1767225600000000_0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        ]
        for uri in wellFormed {
            let response = await send(r, .GET, uri)
            #expect(response.status == .ok, "\(uri): \(response.bodyString)")
        }
        let malformed = [
            "/v1/studies?cursor=0", "/v1/series/1.2.3/instances?cursor=0", "/v1/associations?cursor=0",
            "/v1/studies?cursor=i0_1.2", "/v1/associations?cursor=a0_not-a-uuid", "/v1/studies?cursor=s1_",
        ]
        for uri in malformed {
            let response = await send(r, .GET, uri)
            #expect(response.status == .badRequest, "\(uri)")
            #expect(response.errorFields == ["cursor"], "\(uri)")
        }
    }
}
