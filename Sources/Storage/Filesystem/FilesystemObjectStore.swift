import AWS
import CFileSync
public import Domain
import Foundation
public import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Objects as files under a root folder, with the same keys as S3.
///
/// Safety: every folder on the way is opened relative to the previous one with `O_NOFOLLOW`, and the
/// file is created with `O_EXCL | O_NOFOLLOW` and renamed into place (`rename` replaces a symlink, it
/// does not follow it), so no key and no symlink inside the root can make us write outside it.
/// Durability: temp file in the target folder, `fsync`, `rename`, `fsync` of the folder; every folder
/// we create is `fsync`ed into its parent, so a synced object is never left in a folder that a crash
/// forgets. Objects are PHI: files are created 0600 and folders 0700 (owner only, whatever the umask
/// leaves).
public struct FilesystemObjectStore: ObjectStore {
    /// Absolute root path.
    public let root: String
    /// `root` and the separating slash, percent-encoded once: every instance asks for several URIs.
    private let encodedRootPrefix: String
    /// Bytes gathered before one `writev(2)`.
    static let writeBufferSize = 1 << 20
    /// Slices gathered before one `writev(2)` at most (Linux's IOV_MAX is 1024).
    static let maximumPendingSlices = 256

    public init(root: String) {
        var path = root
        if !path.hasPrefix("/") {
            path = FileManager.default.currentDirectoryPath + "/" + path
        }
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.root = path
        self.encodedRootPrefix = "file://" + SigV4Signer.uriEncode(path + "/", keepSlash: true)
    }

    /// `file:///absolute/path`, percent-encoded (byte by byte, so the root and the key encode apart).
    public func uri(for key: String) -> String {
        // The layout's keys are made of characters the encoding keeps (`[A-Za-z0-9._~-]` and `/`).
        if key.utf8.allSatisfy(Self.isKeptByURIEncoding) { return encodedRootPrefix + key }
        return encodedRootPrefix + SigV4Signer.uriEncode(key, keepSlash: true)
    }

    /// The bytes `SigV4Signer.uriEncode(_:keepSlash: true)` leaves as they are.
    private static func isKeptByURIEncoding(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
             UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"), UInt8(ascii: "/"):
            return true
        default:
            return false
        }
    }

    /// A file is written under a temp name and renamed into place when it is finished.
    public var uploadsAreRenamable: Bool { true }

    public func beginUpload(key: String, options: ObjectPutOptions) async throws -> any ObjectUpload {
        try ObjectKey.validate(key)
        let encoder = try options.gzipLevel.map { try GzipEncoder(level: $0) }
        let root = self.root
        let opened = try await BlockingPools.files.runIfActive {
            try FileOps.openForWrite(root: root, key: key)
        }
        return FilesystemUpload(key: key, store: self, directory: opened.directory, file: opened.file,
                                tempName: opened.tempName, finalName: opened.finalName, encoder: encoder)
    }

    /// A whole object at once (the metadata): compressed here, then created, written, synced and renamed
    /// into place in one blocking job, one thread hop instead of one per step.
    public func put(key: String, body: ByteBuffer, options: ObjectPutOptions) async throws -> StoredObject {
        try ObjectKey.validate(key)
        var bytes = body
        if let level = options.gzipLevel {
            let encoder = try GzipEncoder(level: level)
            bytes = try encoder.compress(body)
            var tail = try encoder.finish()
            bytes.writeBuffer(&tail)
        }
        let root = self.root
        let payload = bytes
        try await BlockingPools.files.runIfActive {
            let opened = try FileOps.openForWrite(root: root, key: key)
            do {
                try FileOps.writeAll(opened.file, payload)
                try FileOps.commit(directory: opened.directory, file: opened.file, tempName: opened.tempName,
                                   finalName: opened.finalName)
            } catch {
                close(opened.file)
                unlinkat(opened.directory, opened.tempName, 0)
                close(opened.directory)
                throw error
            }
            close(opened.file)
            close(opened.directory)
        }
        return StoredObject(key: key, uri: uri(for: key), contentLength: Int64(body.readableBytes),
                            storedLength: Int64(payload.readableBytes))
    }

    public func delete(key: String) async throws {
        try ObjectKey.validate(key)
        let root = self.root
        try await BlockingPools.files.runIfActive {
            try FileOps.delete(root: root, key: key)
        }
    }

    /// The root exists (it is created if missing) and a file can be created, synced and removed in it.
    public func check() async throws {
        let root = self.root
        try await BlockingPools.files.runIfActive {
            let dir = try FileOps.openRoot(root)
            defer { close(dir) }
            let name = ".check-\(UInt64.random(in: 0...UInt64.max))"
            let fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw FileOps.error("create probe file", errno) }
            close(fd)
            unlinkat(dir, name, 0)
        }
    }
}

/// A write in progress: the temp file is open in its final folder.
actor FilesystemUpload: RenamableUpload {
    private let key: String
    private let store: FilesystemObjectStore
    private let directory: Int32
    private let file: Int32
    private let tempName: String
    private let finalName: String
    private var encoder: GzipEncoder?
    /// The slices received and not yet written: kept as they came (a PDV payload is a slice of its PDU),
    /// written with one `writev(2)`, never copied into a buffer of our own.
    private var pending: [ByteBuffer] = []
    private var pendingBytes = 0
    /// The storage the pending slices keep alive (a slice holds its whole PDU buffer), counted per slice.
    private var pendingStorage = 0
    private var contentLength: Int64 = 0
    private var storedLength: Int64 = 0
    private var open = true

    init(key: String, store: FilesystemObjectStore, directory: Int32, file: Int32, tempName: String, finalName: String,
         encoder: GzipEncoder?) {
        self.key = key
        self.store = store
        self.directory = directory
        self.file = file
        self.tempName = tempName
        self.finalName = finalName
        self.encoder = encoder
    }

    func write(_ chunk: ByteBuffer) async throws {
        guard open else { throw ObjectStoreError(.aborted, detail: "upload already finished or aborted") }
        do {
            try Task.checkCancellation()
            contentLength += Int64(chunk.readableBytes)
            let bytes = try encoder.map { try $0.compress(chunk) } ?? chunk
            try await stage(bytes)
        } catch {
            await discard()
            throw error
        }
    }

    func finish() async throws -> StoredObject {
        try await finish(as: key, finalName: finalName)
    }

    /// `finish()` under another name in the same folder (the other key slot of the same instance).
    func finish(renamingTo newKey: String) async throws -> StoredObject {
        let folder = { (key: String) in key.split(separator: "/", omittingEmptySubsequences: false).dropLast() }
        guard let name = newKey.split(separator: "/", omittingEmptySubsequences: false).last, !name.isEmpty,
              folder(newKey) == folder(key) else {
            await discard()
            throw ObjectStoreError(.invalidKey, detail: "an upload can only be renamed within its folder")
        }
        do {
            try ObjectKey.validate(newKey)
        } catch {
            await discard()
            throw error
        }
        return try await finish(as: newKey, finalName: String(name))
    }

    private func finish(as key: String, finalName: String) async throws -> StoredObject {
        guard open else { throw ObjectStoreError(.aborted, detail: "upload already finished or aborted") }
        do {
            try Task.checkCancellation()
            if let encoder {
                try await stage(try encoder.finish())
                self.encoder = nil
            }
            // The last buffered bytes, fsync, rename and the folder's fsync: one blocking job.
            let last = pending
            storedLength += Int64(pendingBytes)
            pending = []
            pendingBytes = 0
            pendingStorage = 0
            let (dir, fd, temp, final) = (directory, file, tempName, finalName)
            try await BlockingPools.files.runIfActive {
                try FileOps.writeAll(fd, last)
                try FileOps.commit(directory: dir, file: fd, tempName: temp, finalName: final)
            }
            open = false
            close(fd)
            close(dir)
            return StoredObject(key: key, uri: store.uri(for: key), contentLength: contentLength, storedLength: storedLength)
        } catch {
            await discard()
            throw error
        }
    }

    func abort() async {
        await discard()
    }

    deinit {
        // Dropped without finish() or abort(): leave nothing behind.
        if open {
            close(file)
            unlinkat(directory, tempName, 0)
            close(directory)
        }
    }

    /// Holds `bytes` for the next write. The held slices stay within `writeBufferSize` bytes, twice that
    /// in the storage they keep alive, and `maximumPendingSlices` slices: the same memory as a buffer of
    /// `writeBufferSize` that they would otherwise be copied into.
    private func stage(_ bytes: ByteBuffer) async throws {
        guard bytes.readableBytes > 0 else { return }
        if pendingBytes + bytes.readableBytes > FilesystemObjectStore.writeBufferSize
            || pendingStorage + bytes.storageCapacity > 2 * FilesystemObjectStore.writeBufferSize
            || pending.count == FilesystemObjectStore.maximumPendingSlices {
            try await flush()
        }
        if bytes.readableBytes >= FilesystemObjectStore.writeBufferSize {
            try await writeOut([bytes])
        } else {
            pending.append(bytes)
            pendingBytes += bytes.readableBytes
            pendingStorage += bytes.storageCapacity
        }
    }

    private func flush() async throws {
        guard pendingBytes > 0 else { return }
        let slices = pending
        pending = []
        pendingBytes = 0
        pendingStorage = 0
        try await writeOut(slices)
    }

    private func writeOut(_ slices: [ByteBuffer]) async throws {
        let fd = file
        let offset = storedLength
        let length = slices.reduce(0) { $0 + $1.readableBytes }
        try await BlockingPools.files.runIfActive {
            try FileOps.writeAll(fd, slices)
            FileOps.startWriteback(fd, offset: offset, length: length)
        }
        storedLength += Int64(length)
    }

    /// Closes and removes the temp file; nothing of the object remains.
    private func discard() async {
        guard open else { return }
        open = false
        pending = []
        pendingBytes = 0
        pendingStorage = 0
        encoder = nil
        let (dir, fd, temp) = (directory, file, tempName)
        close(fd)
        unlinkat(dir, temp, 0)
        close(dir)
    }
}

/// write(2); a free function because inside `FilesystemUpload` the name `write` is the upload's method.
private func posixWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, bytes, count)
}

/// writev(2), named apart like `posixWrite`.
private func posixWritev(_ fd: Int32, _ vectors: UnsafePointer<iovec>, _ count: Int32) -> Int {
    writev(fd, vectors, count)
}

/// Blocking file-system steps, run on `BlockingPools.files`.
enum FileOps {
    /// IOV_MAX on Linux and Darwin: the most vectors one `writev(2)` accepts.
    static let maximumVectorsPerCall = 1024

    /// Writes every readable byte of `slices`, in order, with as few `writev(2)` calls as the kernel takes
    /// (retrying short writes and EINTR).
    static func writeAll(_ fd: Int32, _ slices: [ByteBuffer]) throws {
        var vectors: [iovec] = []
        vectors.reserveCapacity(slices.count)
        var storages: [Unmanaged<AnyObject>] = []
        storages.reserveCapacity(slices.count)
        // Each slice's storage is retained until the writes are done, so its bytes stay where they are
        // after the closure that lent the pointer returns.
        defer { for storage in storages { storage.release() } }
        for slice in slices where slice.readableBytes > 0 {
            slice.withUnsafeReadableBytesWithStorageManagement { raw, storage in
                storages.append(storage.retain())
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: raw.baseAddress), iov_len: raw.count))
            }
        }
        try vectors.withUnsafeMutableBufferPointer { vectors in
            var first = 0
            while first < vectors.count {
                let count = Int32(min(vectors.count - first, Self.maximumVectorsPerCall))
                var written = posixWritev(fd, vectors.baseAddress! + first, count)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw FileOps.error("write", errno)
                }
                while written > 0 {
                    if written >= vectors[first].iov_len {
                        written -= vectors[first].iov_len
                        first += 1
                    } else {
                        vectors[first].iov_base = vectors[first].iov_base.map { $0 + written }
                        vectors[first].iov_len -= written
                        written = 0
                    }
                }
            }
        }
    }

    /// Writes every byte of `bytes` (retrying short writes and EINTR).
    static func writeAll(_ fd: Int32, _ bytes: ByteBuffer) throws {
        try bytes.withUnsafeReadableBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = posixWrite(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FileOps.error("write", errno)
                }
                offset += n
            }
        }
    }

    /// Starts writing `length` bytes at `offset` to the device without waiting for it
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`, Linux), for the part of an object written before its last
    /// bytes have arrived. The kernel would otherwise keep them dirty in memory (writeback starts at 10 % of
    /// RAM or after 30 s), and the `fsync` after the last byte would write the whole object at once: a 2 GB
    /// multiframe would hold its answer for the seconds that takes. Started early, writeback streams
    /// beside the receive and the final `fsync` waits for the tail only. Advisory: `fsync` still decides
    /// durability, so where the call fails (a file system without it) nothing changes but the timing.
    static func startWriteback(_ fd: Int32, offset: Int64, length: Int) {
        guard length > 0 else { return }
        _ = cfilesync_start_writeback(fd, offset, Int64(length))
    }

    /// Makes a written temp file the durable object: `fsync`, `rename` into place, `fsync` of the folder.
    static func commit(directory: Int32, file: Int32, tempName: String, finalName: String) throws {
        guard fsync(file) == 0 else { throw error("fsync", errno) }
        guard renameat(directory, tempName, directory, finalName) == 0 else { throw error("rename", errno) }
        guard fsync(directory) == 0 else { throw error("fsync folder", errno) }
    }

    static func error(_ operation: String, _ code: Int32) -> ObjectStoreError {
        let reason = String(cString: strerror(code))
        switch code {
        case ELOOP, ENOTDIR:
            return ObjectStoreError(.invalidKey, detail: "filesystem \(operation): a path component is a symlink or not a folder (\(reason))")
        case EACCES, EPERM, EROFS:
            return ObjectStoreError(.unauthorized, detail: "filesystem \(operation): \(reason)")
        case ENOENT:
            return ObjectStoreError(.notFound, detail: "filesystem \(operation): \(reason)")
        default:
            return ObjectStoreError(.unavailable, detail: "filesystem \(operation): \(reason)")
        }
    }

    /// Mode of the folders we create (owner only: they name studies and hold PHI).
    static let folderMode: mode_t = 0o700
    /// Mode of the objects we create.
    static let fileMode: mode_t = 0o600

    /// Opens (creating it and its parents when missing) the root folder.
    static func openRoot(_ root: String) throws -> Int32 {
        var fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 && errno == ENOENT {
            try createFolders(root)
            fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        }
        guard fd >= 0 else { throw Self.error("open root", errno) }
        return fd
    }

    /// `mkdir -p` of an absolute path, each new folder 0700 and synced into its parent.
    static func createFolders(_ path: String) throws {
        var dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { throw Self.error("open /", errno) }
        for segment in path.split(separator: "/").map(String.init) {
            let next: Int32
            do {
                next = try openOrCreateFolder(in: dir, segment, create: true)
            } catch {
                close(dir)
                throw error
            }
            close(dir)
            dir = next
        }
        close(dir)
    }

    /// Opens the folder `name` in `dir` without following a symlink; when `create` and it is missing,
    /// creates it (0700) and syncs `dir` so the new entry is durable. Does not close `dir`.
    static func openOrCreateFolder(in dir: Int32, _ name: String, create: Bool) throws -> Int32 {
        var next = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if next < 0 && errno == ENOENT && create {
            if mkdirat(dir, name, folderMode) == 0 {
                guard fsync(dir) == 0 else { throw Self.error("fsync folder", errno) }
            } else if errno != EEXIST {
                throw Self.error("mkdir", errno)
            }
            next = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        guard next >= 0 else { throw Self.error("open folder", errno) }
        return next
    }

    /// Walks the key's folders from the root without following symlinks, creating missing ones.
    static func openParent(root: String, key: String, create: Bool) throws -> (directory: Int32, name: String) {
        var segments = key.split(separator: "/").map(String.init)
        let name = segments.removeLast()
        var dir = try openRoot(root)
        for segment in segments {
            let next: Int32
            do {
                next = try openOrCreateFolder(in: dir, segment, create: create)
            } catch {
                close(dir)
                throw error
            }
            close(dir)
            dir = next
        }
        return (dir, name)
    }

    static func openForWrite(root: String, key: String) throws -> (directory: Int32, file: Int32, tempName: String, finalName: String) {
        let (dir, name) = try openParent(root: root, key: key, create: true)
        let tempName = ".\(name.prefix(100)).tmp-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
        let fd = openat(dir, tempName, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fileMode)
        guard fd >= 0 else {
            let code = errno
            close(dir)
            throw Self.error("create temp file", code)
        }
        return (dir, fd, tempName, name)
    }

    /// Unlinks the file of `key` and fsyncs its folder; returns the size it had (0 when it was already gone).
    @discardableResult
    static func delete(root: String, key: String) throws -> Int64 {
        let dir: Int32
        let name: String
        do {
            (dir, name) = try openParent(root: root, key: key, create: false)
        } catch let error as ObjectStoreError where error.code == .notFound {
            return 0
        }
        defer { close(dir) }
        var info = stat()
        let size = fstatat(dir, name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? Int64(info.st_size) : 0
        if unlinkat(dir, name, 0) != 0 && errno != ENOENT {
            throw Self.error("unlink", errno)
        }
        fsync(dir)
        return size
    }
}
