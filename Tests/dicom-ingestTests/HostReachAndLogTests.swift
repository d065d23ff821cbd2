import Domain
import Foundation
import Logging
import TestSupport
import Testing

@testable import dicom_ingest

@Suite("What listeners may reach; log escaping; the generated token")
struct HostReachAndLogTests {
    private func storage(path: String? = nil, endpoint: String? = nil, s3: Bool = false) -> StorageTarget {
        var target = StorageTarget(backend: s3 ? .s3 : .filesystem, bucket: s3 ? "bkt" : nil, endpoint: endpoint, path: path)
        target.gzip = false
        return target
    }

    @Test("defaults: the data directory; AWS and AWS_ENDPOINT_URL_S3")
    func defaults() throws {
        let config = try ServiceConfiguration.load(
            environment: ["DICOM_INGEST_DATA_DIR": "/var/lib/di", "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9000"], currentDirectory: "/")
        let policy = config.storageAccess
        #expect(policy.roots == ["/var/lib/di"])
        #expect(policy.validate(storage(path: "/var/lib/di/objects")).isEmpty)
        #expect(policy.validate(storage(path: "/etc")).map(\.field) == ["storage.path"])
        #expect(policy.validate(storage(endpoint: "http://127.0.0.1:9000", s3: true)).isEmpty)
        #expect(policy.validate(storage(endpoint: "https://s3.eu-central-1.amazonaws.com", s3: true)).isEmpty)
        #expect(policy.validate(storage(endpoint: "http://127.0.0.1:9001", s3: true)).map(\.field) == ["storage.endpoint"])
        #expect(policy.validate(storage(endpoint: "http://169.254.169.254", s3: true)).map(\.field) == ["storage.endpoint"])
    }

    @Test("explicit lists replace the defaults")
    func explicitLists() throws {
        let config = try ServiceConfiguration.load(environment: [
            "DICOM_INGEST_DATA_DIR": "/var/lib/di",
            "DICOM_INGEST_STORAGE_ROOTS": "/srv/a, /srv/b/",
            "DICOM_INGEST_S3_ENDPOINTS": "http://127.0.0.1:*,https://minio.lan",
            "SCP_PORT": "11112", "RECEIVE_BUCKET": "bkt",
        ], currentDirectory: "/")
        let policy = config.storageAccess
        #expect(policy.roots == ["/srv/a", "/srv/b"])
        #expect(policy.validate(storage(path: "/srv/b/x")).isEmpty)
        #expect(policy.validate(storage(path: "/var/lib/di/objects")).map(\.field) == ["storage.path"])
        #expect(policy.validate(storage(endpoint: "http://127.0.0.1:4566", s3: true)).isEmpty)
        #expect(policy.validate(storage(endpoint: "https://minio.lan:443", s3: true)).isEmpty)
        #expect(policy.validate(storage(endpoint: "https://s3.amazonaws.com", s3: true)).map(\.field) == ["storage.endpoint"])
    }

    @Test("bad lists and a seed listener outside the roots name the variable")
    func invalid() {
        func variable(_ env: [String: String]) -> String? {
            do {
                _ = try ServiceConfiguration.load(environment: env, currentDirectory: "/")
                return nil
            } catch let error as ServiceConfiguration.Invalid {
                return error.variable
            } catch {
                return "\(error)"
            }
        }
        #expect(variable(["DICOM_INGEST_STORAGE_ROOTS": "relative/path"]) == "DICOM_INGEST_STORAGE_ROOTS")
        #expect(variable(["DICOM_INGEST_STORAGE_ROOTS": "/a/../b"]) == "DICOM_INGEST_STORAGE_ROOTS")
        #expect(variable(["DICOM_INGEST_S3_ENDPOINTS": "ftp://x"]) == "DICOM_INGEST_S3_ENDPOINTS")
        // The seed listener stores under <data dir>/objects; roots that exclude it are a configuration error.
        #expect(variable(["SCP_PORT": "11112", "DICOM_INGEST_DATA_DIR": "/var/lib/di", "DICOM_INGEST_STORAGE_ROOTS": "/srv"])
                == "DICOM_INGEST_STORAGE_ROOTS")
        // So is the embedded default listener.
        #expect(variable(["DICOM_INGEST_DATA_DIR": "/var/lib/di", "DICOM_INGEST_STORAGE_ROOTS": "/srv"]) == "DICOM_INGEST_STORAGE_ROOTS")
        #expect(variable(["SCP_PORT": "11112", "DICOM_INGEST_DATA_DIR": "/srv/di", "DICOM_INGEST_STORAGE_ROOTS": "/srv"]) == nil)
    }

    @Test("text logs escape control characters in messages and metadata: no forged lines")
    func logEscaping() {
        #expect(EscapingLogHandler.escape("STORESCU") == "STORESCU")
        #expect(EscapingLogHandler.escape("EVIL\n2026-01-01T00:00:00Z critical forged") == #"EVIL\n2026-01-01T00:00:00Z critical forged"#)
        #expect(EscapingLogHandler.escape("a\r\tb\\c") == #"a\r\tb\\c"#)
        #expect(EscapingLogHandler.escape("x\u{1B}[31my\u{7F}\u{85}\u{2028}") == #"x\u{1b}[31my\u{7f}\u{85}\u{2028}"#)
        #expect(!EscapingLogHandler.escape("\u{0}\u{1}\u{1F}").unicodeScalars.contains { $0.value < 0x20 })
        #expect(EscapingLogHandler.escape("Müller ✓") == "Müller ✓")
    }

    @Test("the generated token file is created owner-only, even over an existing file")
    func tokenFile() throws {
        let dir = try makeTemporaryDirectory("token").path
        let path = dir + "/" + GeneratedToken.fileName
        FileManager.default.createFile(atPath: path, contents: Data("old\n".utf8), attributes: [.posixPermissions: 0o644])
        try GeneratedToken.write("abc\n", to: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "abc\n")
        // A symlink in its place is refused, not followed.
        let link = dir + "/link-token"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: dir + "/elsewhere")
        #expect(throws: GeneratedToken.TokenFileError.self) { try GeneratedToken.write("x", to: link) }
        #expect(!FileManager.default.fileExists(atPath: dir + "/elsewhere"))
        try? FileManager.default.removeItem(atPath: dir)
    }
}
