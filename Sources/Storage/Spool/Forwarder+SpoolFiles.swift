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

    /// Opens a spool file for reading without following symlinks; nil when it does not exist.
    static func open(folder: String, key: String) async throws -> Int32? {
        try ObjectKey.validate(key)
        return try await BlockingPools.files.runIfActive { () throws -> Int32? in
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
    }

    static func readWhole(folder: String, key: String) async throws -> ByteBuffer? {
        guard let fd = try await open(folder: folder, key: key) else { return nil }
        defer { close(fd) }
        var body = ByteBuffer()
        while true {
            var chunk = try await BlockingPools.files.runIfActive { try read(fd, upTo: chunkSize) }
            guard chunk.readableBytes > 0 else { break }
            body.writeBuffer(&chunk)
        }
        return body
    }

    /// read(2) of up to `count` bytes; an empty buffer at the end of the file.
    static func read(_ fd: Int32, upTo count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        _ = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw -> Int in
            while true {
                let n = posixRead(fd, raw.baseAddress, count)
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw FileOps.error("read spool file", errno) }
                return n
            }
        }
        return buffer
    }

    /// Unlinks a spool file (folder fsynced); returns its size (0 when it was already gone).
    static func remove(folder: String, key: String) throws -> Int64 {
        try FileOps.delete(root: folder, key: key)
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
