public import Domain
public import NIOCore
import NIOPosix
import Synchronization

/// A listener's spool folder as its object store: the files are written there (uncompressed: the
/// forwarder compresses on the way to the target, as a `stored` listener does), but every URI is the one
/// the object will have in the target, so the catalog row names where the instance ends up and the
/// sink's slot choice compares against the same URIs in both modes.
///
/// Every byte is reserved against the spool's quota before it is written (`Spool.reserve`): a write that
/// does not fit throws `SpoolFull`, the partial file is removed and the reservation given back, so an
/// instance is either in the spool whole or not at all, and writes in flight together never take the
/// spool beyond its limits.
struct SpoolObjectStore: ObjectStore {
    let files: FilesystemObjectStore
    let target: any ObjectStore
    let spool: Spool

    func uri(for key: String) -> String { target.uri(for: key) }

    /// The spool's files, like the filesystem target's, are renamed into place when finished.
    var uploadsAreRenamable: Bool { files.uploadsAreRenamable }

    func beginUpload(key: String, options: ObjectPutOptions) async throws -> any ObjectUpload {
        var raw = options
        raw.gzipLevel = nil
        let upload = try await files.beginUpload(key: key, options: raw)
        return SpoolUpload(upload: upload, target: target, spool: spool)
    }

    func put(key: String, body: ByteBuffer, options: ObjectPutOptions) async throws -> StoredObject {
        var raw = options
        raw.gzipLevel = nil
        let granted = Int64(body.readableBytes)
        try spool.reserve(granted)
        var object: StoredObject
        do {
            object = try await files.put(key: key, body: body, options: raw)
        } catch {
            spool.usage.release(granted)
            throw error
        }
        spool.usage.settle(granted: granted, stored: object.storedLength)
        object.uri = target.uri(for: key)
        return object
    }

    /// Removes the spool file (a superseded slot, or a write whose commit failed) and counts the bytes freed.
    func delete(key: String) async throws {
        try ObjectKey.validate(key)
        let folder = files.root
        let freed = try await BlockingPools.files.runIfActive { try Forwarder.remove(folder: folder, key: key) }
        spool.usage.add(-freed)
    }

    func check() async throws {
        try await files.check()
    }
}

/// One file being written into the spool, holding a reservation that grows with each chunk before the
/// chunk is written. (The listener calls `write` sequentially; the lock only makes the count Sendable.)
final class SpoolUpload: RenamableUpload {
    private let upload: any ObjectUpload
    /// The listener's target, whose URIs the spool's objects carry.
    private let target: any ObjectStore
    private let spool: Spool
    /// Bytes reserved for this file so far (every byte written); settled or released exactly once.
    private let granted = Mutex<Int64>(0)

    init(upload: any ObjectUpload, target: any ObjectStore, spool: Spool) {
        self.upload = upload
        self.target = target
        self.spool = spool
    }

    func write(_ chunk: ByteBuffer) async throws {
        let count = Int64(chunk.readableBytes)
        do {
            try spool.reserve(count)
        } catch {
            // Nothing of this chunk is written; the partial file goes with the reservation.
            await abort()
            throw error
        }
        granted.withLock { $0 += count }
        do {
            try await upload.write(chunk)
        } catch {
            await abort()
            throw error
        }
    }

    func finish() async throws -> StoredObject {
        try await settled { try await upload.finish() }
    }

    func finish(renamingTo key: String) async throws -> StoredObject {
        guard let file = upload as? any RenamableUpload else {
            await abort()
            throw ObjectStoreError(.invalidKey, detail: "the spool's file upload cannot be renamed")
        }
        return try await settled { try await file.finish(renamingTo: key) }
    }

    /// The file's completion, its reservation settled (or given back when it fails), with the target's URI.
    private func settled(_ completion: () async throws -> StoredObject) async throws -> StoredObject {
        var object: StoredObject
        do {
            object = try await completion()
        } catch {
            giveBack()
            throw error
        }
        spool.usage.settle(granted: takeGranted(), stored: object.storedLength)
        object.uri = target.uri(for: object.key)
        return object
    }

    func abort() async {
        await upload.abort()
        giveBack()
    }

    private func takeGranted() -> Int64 {
        granted.withLock { granted in
            defer { granted = 0 }
            return granted
        }
    }

    private func giveBack() {
        let bytes = takeGranted()
        if bytes > 0 { spool.usage.release(bytes) }
    }
}
