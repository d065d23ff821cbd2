import Domain
import Foundation
import Logging
import NIOCore
import Testing
import TestSupport

@testable import Storage

/// Objects, their folders and the embedded catalog hold PHI: created owner-only whatever the umask.
@Suite("PHI at rest: file modes")
struct PHIFileModeTests {
    private func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test("objects 0600, key folders and a created root 0700")
    func objectAndFolderModes() async throws {
        let temporary = try TemporaryDirectory("phi")
        let base = temporary.url.path
        let root = base + "/new/root"
        let store = FilesystemObjectStore(root: root)
        _ = try await store.put(key: "DICOM/1.2.3/1.2.3.4.json", body: ByteBuffer(string: "{}"), options: ObjectPutOptions(contentType: "application/octet-stream"))
        let upload = try await store.beginUpload(key: "DICOM/1.2.3/1.2.3.4.dcm", options: ObjectPutOptions(contentType: "application/octet-stream"))
        try await upload.write(ByteBuffer(string: "DICM"))
        _ = try await upload.finish()

        #expect(try mode(root + "/DICOM/1.2.3/1.2.3.4.json") == 0o600)
        #expect(try mode(root + "/DICOM/1.2.3/1.2.3.4.dcm") == 0o600)
        #expect(try mode(root + "/DICOM") == 0o700)
        #expect(try mode(root + "/DICOM/1.2.3") == 0o700)
        #expect(try mode(root) == 0o700)
        #expect(try mode(base + "/new") == 0o700)
    }

    @Test("the SQLite catalog, its WAL and its folder are owner-only")
    func catalogModes() async throws {
        // A folder the catalog creates, so its mode is the catalog's.
        let temporary = try TemporaryDirectory("phi-cat")
        let dir = temporary.path("catalog")
        let catalog = try SQLiteCatalog(path: dir + "/catalog.sqlite", logger: Logger(label: "test.phi"))
        try await catalog.migrate()
        #expect(try mode(dir) == 0o700)
        #expect(try mode(dir + "/catalog.sqlite") == 0o600)
        #expect(try mode(dir + "/catalog.sqlite-wal") == 0o600)
        await catalog.close()
    }
}
