public import Domain
public import NIOCore
import NIOPosix

/// A listener's spool folder as its object store: the files are written there (uncompressed: the
/// forwarder compresses on the way to the target, as a `stored` listener does), but every URI is the one
/// the object will have in the target, so the catalog row names where the instance ends up and the
/// sink's slot choice compares against the same URIs in both modes.
struct SpoolObjectStore: ObjectStore {
    let files: FilesystemObjectStore
    let target: any ObjectStore
    let usage: SpoolUsage

    func uri(for key: String) -> String { target.uri(for: key) }

    func beginUpload(key: String, options: ObjectPutOptions) async throws -> any ObjectUpload {
        var raw = options
        raw.gzipLevel = nil
        let upload = try await files.beginUpload(key: key, options: raw)
        return SpoolUpload(upload: upload, uri: target.uri(for: key), usage: usage)
    }

    func put(key: String, body: ByteBuffer, options: ObjectPutOptions) async throws -> StoredObject {
        var raw = options
        raw.gzipLevel = nil
        var object = try await files.put(key: key, body: body, options: raw)
        await usage.add(object.storedLength)
        object.uri = target.uri(for: key)
        return object
    }

    /// Removes the spool file (a superseded slot, or a write whose commit failed) and counts the bytes freed.
    func delete(key: String) async throws {
        try ObjectKey.validate(key)
        let folder = files.root
        let freed = try await BlockingPools.files.runIfActive { try Forwarder.remove(folder: folder, key: key) }
        await usage.add(-freed)
    }

    func check() async throws {
        try await files.check()
    }
}

struct SpoolUpload: ObjectUpload {
    let upload: any ObjectUpload
    let uri: String
    let usage: SpoolUsage

    func write(_ chunk: ByteBuffer) async throws { try await upload.write(chunk) }

    func finish() async throws -> StoredObject {
        var object = try await upload.finish()
        await usage.add(object.storedLength)
        object.uri = uri
        return object
    }

    func abort() async { await upload.abort() }
}
