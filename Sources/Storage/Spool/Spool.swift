public import Domain
public import Foundation
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The local durable stage of `spooled` listeners: one folder per listener under `root`, holding the
/// Part10 objects and JSON with the same keys as the listener's target, written by
/// `FilesystemObjectStore` (temp file, fsync, rename, fsync of the folder; files 0600, folders 0700).
///
/// The promise of a `spooled` success holds only when `root` is on a volume that survives the process
/// and the machine (EBS, EFS, a Kubernetes PersistentVolume), not on ephemeral storage.
///
/// `id` identifies the spool volume (a file `.spool-id` in `root`, created once): catalog rows name the
/// spool their files are in, so nodes sharing one volume all forward its rows and a node never takes
/// rows of a spool it cannot read.
public final class Spool: SpoolAdmission {
    public let root: String
    /// Refuse new instances once the spool holds this many bytes.
    public let maxBytes: Int64
    public let id: String
    let usage = SpoolUsage()

    /// The volume may be filled to this fraction at most, whatever `maxBytes` says.
    static let maximumVolumeFraction = 0.9
    static let identityFile = ".spool-id"

    public init(root: String, maxBytes: Int64) throws {
        self.root = FilesystemObjectStore(root: root).root
        self.maxBytes = maxBytes
        try FileOps.createFolders(self.root)
        self.id = try Self.identity(in: self.root)
    }

    /// The spool folder of one listener.
    public func folder(for listenerID: UUID) -> String {
        root + "/" + listenerID.uuidString.lowercased()
    }

    /// The store a `spooled` listener writes to: files in its spool folder, URIs of its target.
    public func store(for listenerID: UUID, target: any ObjectStore) -> any ObjectStore {
        SpoolObjectStore(files: FilesystemObjectStore(root: folder(for: listenerID)), target: target, usage: usage)
    }

    public func refusal() async -> String? {
        let used = await usage.bytes
        if used >= maxBytes {
            return "Spool full (\(used) of \(maxBytes) bytes); retry later"
        }
        var info = statvfs()
        if statvfs(root, &info) == 0, info.f_blocks > 0 {
            let total = Double(info.f_blocks)
            let available = Double(info.f_bavail)
            if (total - available) / total >= Self.maximumVolumeFraction {
                return "Spool volume over 90% full; retry later"
            }
        }
        return nil
    }

    /// Bytes of files in the spool as last counted (recounted by `recount`, kept current in between).
    public func bytes() async -> Int64 { await usage.bytes }

    /// Counts the files under `root` again (another node sharing the volume also writes and deletes).
    func recount() async throws {
        let root = self.root
        let total = try await BlockingPools.files.runIfActive { () throws -> Int64 in
            var total: Int64 = 0
            for file in try Self.files(under: root) { total += file.size }
            return total
        }
        await usage.set(total)
    }

    struct SpoolFile: Sendable {
        /// Path relative to `root`: `<listener id>/<key>`.
        var relativePath: String
        var size: Int64
        var modified: Date
        var isTemporary: Bool
    }

    /// Every regular file below the listener folders (blocking; run on `BlockingPools.files`).
    static func files(under root: String) throws -> [SpoolFile] {
        let manager = FileManager.default
        guard let enumerator = manager.enumerator(at: URL(fileURLWithPath: root, isDirectory: true),
                                                  includingPropertiesForKeys: [.isRegularFileKey, .fileSizeKey, .contentModificationDateKey])
        else { return [] }
        var out: [SpoolFile] = []
        let prefix = URL(fileURLWithPath: root, isDirectory: true).standardizedFileURL.path
        for case let url as URL in enumerator {
            let values = try url.resourceValues(forKeys: [.isRegularFileKey, .fileSizeKey, .contentModificationDateKey])
            guard values.isRegularFile == true else { continue }
            var path = url.standardizedFileURL.path
            guard path.hasPrefix(prefix + "/") else { continue }
            path.removeFirst(prefix.count + 1)
            guard path.contains("/") else { continue }  // `.spool-id` and other files at the top
            let name = path.split(separator: "/").last.map(String.init) ?? path
            out.append(SpoolFile(relativePath: path, size: Int64(values.fileSize ?? 0),
                                 modified: values.contentModificationDate ?? Date(),
                                 isTemporary: name.hasPrefix(".") && name.contains(".tmp-")))
        }
        return out
    }

    /// Reads `.spool-id`, creating it when missing. Created as a synced temp file linked into place, so two
    /// nodes starting at once on one volume agree on one identity.
    static func identity(in root: String) throws -> String {
        let path = root + "/" + identityFile
        if FileManager.default.fileExists(atPath: path) {
            let existing = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            if !existing.isEmpty { return existing }
        }
        let temp = root + "/.spool-id.tmp-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileOps.error("create spool identity", errno) }
        defer { unlink(temp) }
        let fresh = UUID().uuidString.lowercased()
        let written = Array(fresh.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == fresh.utf8.count, synced == 0 else { throw FileOps.error("write spool identity", errno) }
        if link(temp, path) != 0 && errno != EEXIST { throw FileOps.error("link spool identity", errno) }
        let directory = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            fsync(directory)
            close(directory)
        }
        let stored = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !stored.isEmpty else { throw ObjectStoreError(.unavailable, detail: "spool identity file is empty") }
        return stored
    }
}

/// Bytes the spool holds, kept current by the spool store's writes and the forwarder's deletes.
actor SpoolUsage {
    private(set) var bytes: Int64 = 0

    func add(_ delta: Int64) { bytes = max(0, bytes + delta) }
    func set(_ value: Int64) { bytes = value }
}
