import Crypto
public import Domain
import Foundation
public import Logging
import Metrics
import NIOCore
import NIOPosix
public import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif


/// The spool files of one instance: open, read in chunks, remove (with the folder fsynced).
extension Forwarder {
    /// The key of `uri` in `store`: the key whose URI it is, nil when it belongs elsewhere.
    static func key(of uri: String, in store: any ObjectStore) -> String? {
        let prefix = store.uri(for: "")
        guard uri.hasPrefix(prefix) else { return nil }
        let rest = String(uri.dropFirst(prefix.count))
        if store.uri(for: rest) == uri { return rest }
        if let decoded = rest.removingPercentEncoding, store.uri(for: decoded) == uri { return decoded }
        return nil
    }

    /// The spool files of one forward: the Part10 file open for reading, and the metadata read whole.
    struct SpoolFiles: Sendable {
        var part10: Int32
        var metadata: ByteBuffer?
    }

    enum OpenedSpoolFiles: Sendable {
        case opened(SpoolFiles)
        /// Which file is missing.
        case missing(String)
    }

    /// Opens the Part10 file and reads the metadata file (when there is one) in one blocking job, without
    /// following symlinks.
    static func openSpoolFiles(folder: String, key: String, metadataKey: String?) async throws -> OpenedSpoolFiles {
        try ObjectKey.validate(key)
        if let metadataKey { try ObjectKey.validate(metadataKey) }
        return try await BlockingPools.files.runIfActive { () throws -> OpenedSpoolFiles in
            var metadata: ByteBuffer?
            if let metadataKey {
                guard let fd = try openFile(folder: folder, key: metadataKey) else { return .missing("metadata file missing") }
                defer { close(fd) }
                var body = ByteBuffer()
                var atEnd = false
                while !atEnd {
                    var chunk: ByteBuffer
                    (chunk, atEnd) = try readChunk(fd, upTo: chunkSize)
                    body.writeBuffer(&chunk)
                }
                metadata = body
            }
            guard let part10 = try openFile(folder: folder, key: key) else { return .missing("Part10 file missing") }
            return .opened(SpoolFiles(part10: part10, metadata: metadata))
        }
    }

    /// Opens a spool file for reading without following symlinks; nil when it does not exist (blocking).
    private static func openFile(folder: String, key: String) throws -> Int32? {
        let parent: (directory: Int32, name: String)
        do {
            parent = try FileOps.openParent(root: folder, key: key, create: false)
        } catch let error as ObjectStoreError where error.code == .notFound {
            return nil
        }
        defer { close(parent.directory) }
        let fd = openat(parent.directory, parent.name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw FileOps.error("open spool file", errno)
        }
        return fd
    }

    /// Up to `count` bytes from the file's position, read(2) repeated until the buffer is full or the file
    /// ends; `atEnd` once read(2) returned 0, so a file shorter than `count` takes one call, not two.
    static func readChunk(_ fd: Int32, upTo count: Int) throws -> (ByteBuffer, atEnd: Bool) {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var atEnd = false
        _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw -> Int in
            var filled = 0
            while filled < count {
                let n = posixRead(fd, raw.baseAddress.map { $0 + filled }, count - filled)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw FileOps.error("read spool file", errno) }
                if n == 0 {
                    atEnd = true
                    break
                }
                filled += n
            }
            return filled
        }
        return (buffer, atEnd)
    }

    /// Unlinks a spool file (folder fsynced); returns its size (0 when it was already gone).
    static func remove(folder: String, key: String) throws -> Int64 {
        try FileOps.delete(root: folder, key: key)
    }

    /// Unlinks the spool files of a forwarded instance; returns the bytes freed. The folders are not
    /// fsynced: the row is `stored` already, so a file an unsynced unlink brings back after a crash is one
    /// no spooled row refers to, and the spool sweep removes it. Every key is tried; the first failure is
    /// returned beside the bytes the others freed.
    static func removeForwarded(folder: String, keys: [String]) -> (freed: Int64, failure: (any Error)?) {
        var freed: Int64 = 0
        var failure: (any Error)?
        for key in keys {
            do {
                try ObjectKey.validate(key)
                let parent: (directory: Int32, name: String)
                do {
                    parent = try FileOps.openParent(root: folder, key: key, create: false)
                } catch let error as ObjectStoreError where error.code == .notFound {
                    continue
                }
                defer { close(parent.directory) }
                var info = stat()
                let size = fstatat(parent.directory, parent.name, &info, AT_SYMLINK_NOFOLLOW) == 0 ? Int64(info.st_size) : 0
                if unlinkat(parent.directory, parent.name, 0) != 0 {
                    if errno == ENOENT { continue }
                    throw FileOps.error("unlink spool file", errno)
                }
                freed += size
            } catch {
                if failure == nil { failure = error }
            }
        }
        return (freed, failure)
    }
}

/// read(2); a free function because inside `Forwarder` the name `read` is a static method.
private func posixRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
