import Domain
import Foundation
import TestSupport
import Testing

@Suite("ListenerValidation")
struct ListenerValidationTests {
    func fields(_ config: ListenerConfig) -> [String] { ListenerValidation.validate(config).map(\.field) }

    @Test func defaultsAreValid() {
        #expect(ListenerValidation.validate(ListenerConfig(name: "default", port: 11112)).isEmpty)
    }

    @Test func everyRuleNamesItsField() {
        var c = ListenerConfig(name: "Bad Name", port: 0)
        c.bindAddress = "localhost"
        c.aeTitle = ""
        c.allowedCallingAETitles = ["OK", "BAD\\AE"]
        c.allowedPeers = ["10.0.0.0/8", "10.0.0.0"]
        c.tls = TLSSettings(certificateFile: "", privateKeyFile: "/k", clientCAFile: "a\u{0}b")
        c.storage = StorageTarget(backend: .s3, region: "US_EAST", endpoint: "ftp://x", path: "", dicomPrefix: "/abs",
                                  metadataPrefix: "a/../b", keyTemplate: "", gzipLevel: 0, storageClass: "glacier", kmsKeyID: "bad key")
        c.limits = ListenerLimits(maxAssociations: 0, maxPDUSize: 1000, dimseTimeoutSeconds: 0, networkTimeoutSeconds: 100_000, cstoreDelayMs: 70_000)
        #expect(fields(c) == [
            "name", "port", "bindAddress", "aeTitle", "allowedCallingAETitles[1]", "allowedPeers[1]",
            "tls.certificateFile", "tls.clientCAFile", "storage.bucket", "storage.region", "storage.endpoint",
            "storage.path", "storage.dicomPrefix", "storage.metadataPrefix", "storage.keyTemplate", "storage.gzipLevel",
            "storage.storageClass", "storage.kmsKeyId", "limits.maxAssociations", "limits.maxPDUSize",
            "limits.dimseTimeoutSeconds", "limits.networkTimeoutSeconds", "limits.cstoreDelayMs",
        ])
        #expect(ListenerValidation.validate(c).allSatisfy { !$0.message.isEmpty })
    }

    @Test func s3NeedsAValidBucket() {
        var c = ListenerConfig(name: "s", port: 104, storage: StorageTarget(backend: .s3, bucket: "my.bucket-1"))
        #expect(fields(c).isEmpty)
        c.storage.bucket = "No"
        #expect(fields(c) == ["storage.bucket"])
        c.storage.backend = .filesystem
        c.storage.bucket = nil
        #expect(fields(c).isEmpty)
    }

    @Test func limitBoundaries() {
        var c = ListenerConfig(name: "l", port: 65_535)
        c.limits = ListenerLimits(maxAssociations: 1000, maxPDUSize: ListenerLimits.hardMaximumPDUSize, dimseTimeoutSeconds: 86_400,
                                  networkTimeoutSeconds: 1, cstoreDelayMs: 60_000)
        #expect(fields(c).isEmpty)
        c.limits.maxPDUSize = 4096
        #expect(fields(c).isEmpty)
        c.limits.maxPDUSize = ListenerLimits.hardMaximumPDUSize + 1
        #expect(fields(c) == ["limits.maxPDUSize"])
        c.port = 65_536
        #expect(fields(c) == ["port", "limits.maxPDUSize"])
    }

    /// The Swift matcher must agree with the JSON Schema validator schemathesis uses (jsonschema_rs,
    /// ECMA-262 regexes) on every pattern, so the server accepts exactly what openapi.yaml allows.
    @Test func patternsAgreeWithJSONSchemaValidator() throws {
        typealias P = ListenerValidation.Pattern
        let samples: [String: [String]] = [
            P.name: ["a", "default", "a-b-c", "0", "-a", "A", "a_b", "", String(repeating: "a", count: 63), String(repeating: "a", count: 64), "ab\n", "é"],
            P.aeTitle: ["STORESCP", "A", "MY AE", " A", "A ", "A\\B", "", "ABCDEFGHIJKLMNOP", "ABCDEFGHIJKLMNOPQ", "A\n", "Ä", "a~!"],
            P.ipAddress: ["0.0.0.0", "127.0.0.1", "255.255.255.255", "256.0.0.1", "01.2.3.4", "1.2.3", "::", "::1", "fe80::1",
                          "2001:db8::8a2e:370:7334", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "::ffff:1.2.3.4", "localhost", "", "1.2.3.4\n", "[::1]"],
            P.cidr: ["10.0.0.0/8", "0.0.0.0/0", "1.2.3.4/32", "1.2.3.4/33", "1.2.3.4", "::/0", "::1/128", "fd00::/8", "::1/129",
                     "10.0.0.0/08", "a/8", "10.0.0.0/8\n"],
            P.bucket: ["my-bucket", "abc", "ab", "My-Bucket", "a.b.c", "-abc", "abc-", String(repeating: "b", count: 63), String(repeating: "b", count: 64)],
            P.region: ["us-east-1", "eu-west-3", "US", "", String(repeating: "r", count: 33)],
            P.endpoint: ["http://127.0.0.1:9000", "https://s3.example.com", "https://s3.example.com/", "http://[::1]:4566",
                         "ftp://x", "http://", "http://a/b", "http://a:123456", "http://a:65535", "http://a:65536", "http://a:0",
                         "http://[b.F1b]", "http://[fe80::1]:9000/", "http://-a"],
            P.keyPrefix: ["", "DICOM", "a/b/c", "a_b.c-d", "/a", "a/", "a//b", "../x", "a/.b", ".x", "a b"],
            P.text: ["/etc/x.pem", "relative", "a b", "", "a\u{0}b", "ü"],
            P.storageClass: ["STANDARD", "STANDARD_IA", "standard", "", "GLACIER-IR"],
            P.kmsKeyID: ["alias/x", "arn:aws:kms:us-east-1:123:key/abc-def", "bad key", ""],
        ]
        struct Case: Codable { var pattern: String; var value: String }
        let cases = samples.flatMap { pattern, values in values.map { Case(pattern: pattern, value: $0) } }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/pattern_oracle.py").path
        let result = try Subprocess.python([script], stdin: try JSONEncoder().encode(cases))
        try #require(result.status == 0, "pattern_oracle.py failed: pip install jsonschema-rs")
        let verdicts = try JSONDecoder().decode([Bool].self, from: result.stdoutData)
        try #require(verdicts.count == cases.count)
        for (c, expected) in zip(cases, verdicts) {
            #expect(ListenerValidation.matches(c.value, c.pattern) == expected, "\(c.pattern) vs \(c.value.debugDescription)")
        }
    }
}
