@testable import API
import Domain
import Foundation
import TestSupport
import Testing

@Suite("openapi.yaml")
struct OpenAPISpecTests {
    @Test func embeddedSpecMatchesTheFile() throws {
        let file = try String(contentsOf: repositoryRoot.appendingPathComponent("openapi.yaml"), encoding: .utf8)
        #expect(OpenAPISpec.yaml == file, "Sources/API/Generated/OpenAPISpec.swift is stale: run scripts/generate/openapi")
    }

    @Test func isValidOpenAPI31() async throws {
        let result = try await Subprocess.runOffPool("/bin/bash", [repositoryRoot.appendingPathComponent("scripts/contract-test").path],
                                                   currentDirectory: repositoryRoot)
        #expect(result.status == 0, "openapi-spec-validator rejected openapi.yaml (pip install openapi-spec-validator):\n\(result.output)")
    }

    @Test func listenerRulesAreTheValidatorsRules() async throws {
        let script = repositoryRoot.appendingPathComponent("Tests/APITests/Scripts/spec_facts.py").path
        let result = try await Subprocess.runOffPool("python3", [script], currentDirectory: repositoryRoot)
        try #require(result.status == 0, "spec_facts.py failed (pip install pyyaml):\n\(result.output)")
        let facts = try #require(try JSONSerialization.jsonObject(with: result.stdoutData) as? [String: Any])
        typealias P = ListenerValidation.Pattern
        let patterns: [(String, String)] = [
            ("ListenerName", P.name), ("AETitle", P.aeTitle), ("IPAddress", P.ipAddress), ("CIDR", P.cidr),
            ("Bucket", P.bucket), ("Region", P.region), ("Endpoint", P.endpoint), ("KeyPrefix", P.keyPrefix),
            ("FilePath", P.text), ("KeyTemplate", P.keyTemplate), ("StorageClass", P.storageClass), ("KMSKeyId", P.kmsKeyID),
            ("SOPClassUID", P.uid),
        ]
        for (name, pattern) in patterns {
            #expect(facts[name] as? String == pattern, "pattern of \(name)")
        }
        func range(_ name: String) -> [Int] { facts[name] as? [Int] ?? [] }
        #expect(range("Port") == [ListenerValidation.portRange.lowerBound, ListenerValidation.portRange.upperBound])
        #expect(range("MaxAssociations") == [ListenerValidation.maxAssociationsRange.lowerBound, ListenerValidation.maxAssociationsRange.upperBound])
        #expect(range("TimeoutSeconds") == [ListenerValidation.timeoutSecondsRange.lowerBound, ListenerValidation.timeoutSecondsRange.upperBound])
        #expect(range("CStoreDelayMs") == [ListenerValidation.cstoreDelayMsRange.lowerBound, ListenerValidation.cstoreDelayMsRange.upperBound])
        #expect(range("GzipLevel") == [ListenerValidation.gzipLevelRange.lowerBound, ListenerValidation.gzipLevelRange.upperBound])
        #expect(range("MaxPDUSize") == [ListenerValidation.maxPDUSizeRange.lowerBound, ListenerValidation.maxPDUSizeRange.upperBound])
        #expect(range("maxItems") == [ListenerValidation.maxListItems, ListenerValidation.maxListItems, ListenerValidation.maxListItems])
        let lengths = facts["maxLength"] as? [String: Int] ?? [:]
        #expect(lengths == ["FilePath": ListenerValidation.maxPathLength, "KeyPrefix": ListenerValidation.maxKeyPrefixLength,
                            "KeyTemplate": ListenerValidation.maxKeyTemplateLength, "KMSKeyId": ListenerValidation.maxKMSKeyIdLength,
                            "SOPClassUID": ListenerValidation.maxUIDLength])
    }
}

@Suite("schemathesis against a live server")
struct SchemathesisContractTests {
    /// Every schemathesis check, on every operation, against a real server over a real catalog.
    @Test(.timeLimit(.minutes(10)))
    func schemathesisPassesAllChecks() async throws {
        try await withLiveServer { port, _, _ in
            let result = try await Subprocess.runOffPool(
                "/bin/bash",
                [repositoryRoot.appendingPathComponent("scripts/contract-test").path, "http://127.0.0.1:\(port)", Tokens.admin],
                environment: ["CONTRACT_MAX_EXAMPLES": ProcessInfo.processInfo.environment["CONTRACT_MAX_EXAMPLES"] ?? "20"],
                currentDirectory: repositoryRoot)
            #expect(result.status == 0, "schemathesis found contract violations (pip install schemathesis):\n\(result.output.suffix(20_000))")
        }
    }
}
