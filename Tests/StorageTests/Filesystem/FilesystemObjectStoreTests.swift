@testable import AWS
import Crypto
import Domain
import Foundation
import NIOCore
import TestSupport
import Testing

@testable import Storage

@Suite struct FilesystemObjectStoreTests {
    func makeRoot() throws -> String {
        try makeTemporaryDirectory("fs-store").path
    }

    func files(under root: String) -> [String] {
        (FileManager.default.enumerator(atPath: root)?.allObjects as? [String] ?? []).sorted()
    }

    func sha256(ofFile path: String) throws -> String {
        SigV4Signer.hexSHA256(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    @Test func roundTripPlainAndGzip() async throws {
        let root = try makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = FilesystemObjectStore(root: root)
        try await store.check()
        let data = TestData(total: 3 * 1024 * 1024 + 17)

        let upload = try await store.beginUpload(key: "DICOM/1.2.3/a b.dcm", options: ObjectPutOptions(contentType: "application/dicom"))
        let sha = try await data.forEachChunk { try await upload.write($0) }
        let stored = try await upload.finish()
        #expect(stored.contentLength == Int64(data.total))
        #expect(stored.storedLength == Int64(data.total))
        #expect(stored.uri == "file://\(root)/DICOM/1.2.3/a%20b.dcm")
        #expect(try sha256(ofFile: root + "/DICOM/1.2.3/a b.dcm") == sha)

        let gzUpload = try await store.beginUpload(key: "DICOM/1.2.3/b.dcm.gz",
                                                   options: ObjectPutOptions(contentType: "application/dicom", gzipLevel: 6))
        _ = try await data.forEachChunk { try await gzUpload.write($0) }
        let gz = try await gzUpload.finish()
        #expect(gz.contentLength == Int64(data.total))
        let gzPath = root + "/DICOM/1.2.3/b.dcm.gz"
        #expect(Int64(try Data(contentsOf: URL(fileURLWithPath: gzPath)).count) == gz.storedLength)
        // gzip(1) is the outside judge of the compressed file.
        #expect(SigV4Signer.hexSHA256(try GzipTestTool.decompress(file: gzPath)) == sha)

        #expect(files(under: root) == ["DICOM", "DICOM/1.2.3", "DICOM/1.2.3/a b.dcm", "DICOM/1.2.3/b.dcm.gz"])
        try await store.delete(key: "DICOM/1.2.3/a b.dcm")
        try await store.delete(key: "DICOM/1.2.3/a b.dcm")  // idempotent
        try await store.delete(key: "NOPE/x.dcm")
        #expect(!FileManager.default.fileExists(atPath: root + "/DICOM/1.2.3/a b.dcm"))
    }

    /// An upload is named when finished: it may end as another file of its folder (the other key slot of
    /// an instance), and never as a file of another folder, which leaves nothing behind.
    @Test func anUploadIsRenamedWithinItsFolderOnly() async throws {
        let root = try makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = FilesystemObjectStore(root: root)
        #expect(store.uploadsAreRenamable)
        let options = ObjectPutOptions(contentType: "application/dicom")

        let upload = try #require(try await store.beginUpload(key: "DICOM/1.2.3.dcm", options: options) as? any RenamableUpload)
        try await upload.write(ByteBuffer(string: "slot two"))
        let stored = try await upload.finish(renamingTo: "DICOM/1.2.3~1.dcm")
        #expect(stored.key == "DICOM/1.2.3~1.dcm")
        #expect(stored.uri == store.uri(for: "DICOM/1.2.3~1.dcm"))
        #expect(try String(contentsOfFile: root + "/DICOM/1.2.3~1.dcm", encoding: .utf8) == "slot two")
        #expect(files(under: root) == ["DICOM", "DICOM/1.2.3~1.dcm"])

        let stray = try #require(try await store.beginUpload(key: "DICOM/1.2.4.dcm", options: options) as? any RenamableUpload)
        try await stray.write(ByteBuffer(string: "elsewhere"))
        await #expect(throws: ObjectStoreError.self) { try await stray.finish(renamingTo: "OTHER/1.2.4.dcm") }
        #expect(files(under: root) == ["DICOM", "DICOM/1.2.3~1.dcm"])
    }

    @Test func noPartialFileIsVisibleAndAbortLeavesNothing() async throws {
        let root = try makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = FilesystemObjectStore(root: root)
        let key = "x/y.dcm"
        // An earlier version exists: during the rewrite readers still see it whole.
        _ = try await store.put(key: key, body: ByteBuffer(string: "old version"), options: ObjectPutOptions(contentType: "application/dicom"))
        let upload = try await store.beginUpload(key: key, options: ObjectPutOptions(contentType: "application/dicom"))
        try await upload.write(ByteBuffer(repeating: 0x41, count: 2 * 1024 * 1024))
        #expect(try String(contentsOfFile: root + "/x/y.dcm", encoding: .utf8) == "old version")
        #expect(files(under: root + "/x").count == 2)  // the object and one hidden temp file
        await upload.abort()
        #expect(files(under: root + "/x") == ["y.dcm"])
        #expect(try String(contentsOfFile: root + "/x/y.dcm", encoding: .utf8) == "old version")
        await #expect(throws: ObjectStoreError.self) { try await upload.write(ByteBuffer(string: "late")) }

        let fresh = try await store.beginUpload(key: "new/z.dcm", options: ObjectPutOptions(contentType: "application/dicom"))
        try await fresh.write(ByteBuffer(string: "partial"))
        #expect(!FileManager.default.fileExists(atPath: root + "/new/z.dcm"))
        await fresh.abort()
        #expect(files(under: root + "/new") == [])
    }

    @Test func traversalAndOddKeysAreRefused() async throws {
        let root = try makeRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = FilesystemObjectStore(root: root)
        for bad in ["../escape.dcm", "a/../../escape.dcm", "/etc/passwd", "a//b", "a\\..\\b", "nul\u{0}byte", "", ".", "a/./b", "a/"] {
            let error = await #expect(throws: ObjectStoreError.self) {
                _ = try await store.put(key: bad, body: ByteBuffer(string: "x"), options: ObjectPutOptions(contentType: "x"))
            }
            #expect(error?.code == .invalidKey, "\(bad.debugDescription)")
        }
        #expect(files(under: root) == [])
        #expect(!FileManager.default.fileExists(atPath: (root as NSString).deletingLastPathComponent + "/escape.dcm"))
    }

    @Test func symlinksInsideTheRootAreNotFollowed() async throws {
        let root = try makeRoot()
        let outside = try makeRoot()
        defer {
            try? FileManager.default.removeItem(atPath: root)
            try? FileManager.default.removeItem(atPath: outside)
        }
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: outside)
        try "precious".write(toFile: outside + "/target.dcm", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: root + "/file.dcm", withDestinationPath: outside + "/target.dcm")
        let store = FilesystemObjectStore(root: root)

        // A folder symlink on the way is refused.
        let error = await #expect(throws: ObjectStoreError.self) {
            _ = try await store.put(key: "link/evil.dcm", body: ByteBuffer(string: "x"), options: ObjectPutOptions(contentType: "x"))
        }
        #expect(error?.code == .invalidKey)
        #expect(files(under: outside) == ["target.dcm"])

        // A symlink as the object itself is replaced, not written through.
        _ = try await store.put(key: "file.dcm", body: ByteBuffer(string: "new"), options: ObjectPutOptions(contentType: "x"))
        #expect(try String(contentsOfFile: outside + "/target.dcm", encoding: .utf8) == "precious")
        #expect(try String(contentsOfFile: root + "/file.dcm", encoding: .utf8) == "new")
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/file.dcm")
        #expect(attributes[.type] as? FileAttributeType == .typeRegular)

        // delete does not follow a folder symlink either.
        await #expect(throws: ObjectStoreError.self) { try await store.delete(key: "link/target.dcm") }
        #expect(FileManager.default.fileExists(atPath: outside + "/target.dcm"))
    }

    @Test func rootIsCreatedWhenMissing() async throws {
        let parent = try makeRoot()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let store = FilesystemObjectStore(root: parent + "/deeper/root/")
        #expect(store.root == parent + "/deeper/root")
        try await store.check()
        _ = try await store.put(key: "k.dcm", body: ByteBuffer(string: "v"), options: ObjectPutOptions(contentType: "x"))
        #expect(try String(contentsOfFile: parent + "/deeper/root/k.dcm", encoding: .utf8) == "v")
    }
}

/// gzip(1) as the outside judge of our gzip output.
enum GzipTestTool {
    static func decompress(file: String) throws -> Data {
        try run(["-dc", file], input: nil)
    }

    static func decompress(_ data: Data) throws -> Data {
        try run(["-dc"], input: data)
    }

    private static func run(_ arguments: [String], input: Data?) throws -> Data {
        let result = try Subprocess.run("/bin/gzip", arguments, stdin: input, installHint: "apt-get install gzip")
        guard result.status == 0 else {
            throw TestSetupError("gzip -dc failed with status \(result.status)")
        }
        return result.stdoutData
    }
}
