public import Domain
public import Foundation
import NIOPosix
import Synchronization

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
    /// Rung after each `spooled` commit on this node; the forwarder waits on it between looks at the queue.
    let wakeUp = ForwardWakeUp()

    /// The volume may be filled to this fraction at most, whatever `maxBytes` says.
    static let maximumVolumeFraction = 0.9
    static let identityFile = ".spool-id"

    /// Size and free space of a volume in bytes, nil when unknown.
    public typealias VolumeSpace = @Sendable (String) -> (total: Int64, available: Int64)?
    let volumeSpace: VolumeSpace

    /// How long one `statvfs` reading of the volume is used for reservations (it is refreshed sooner once
    /// `volumeReadingBytes` have been granted since): reservations are taken per PDV fragment, and on a
    /// network volume (EFS) every `statvfs` is a round trip.
    static let volumeReadingAge: Duration = .seconds(1)
    static let volumeReadingBytes: Int64 = 64 << 20

    public init(root: String, maxBytes: Int64, volumeSpace: @escaping VolumeSpace = Spool.statvfsSpace) throws {
        self.root = FilesystemObjectStore(root: root).root
        self.maxBytes = maxBytes
        self.volumeSpace = volumeSpace
        try FileOps.createFolders(self.root)
        self.id = try Self.identity(in: self.root)
    }

    /// `statvfs(3)` of the volume holding `path`: bytes in all, and bytes an unprivileged writer may still use.
    @Sendable public static func statvfsSpace(_ path: String) -> (total: Int64, available: Int64)? {
        var info = statvfs()
        guard statvfs(path, &info) == 0, info.f_blocks > 0 else { return nil }
        let unit = Int64(clamping: UInt64(info.f_frsize))
        let (total, overflowTotal) = Int64(clamping: UInt64(info.f_blocks)).multipliedReportingOverflow(by: unit)
        let (available, overflowAvailable) = Int64(clamping: UInt64(info.f_bavail)).multipliedReportingOverflow(by: unit)
        guard !overflowTotal, !overflowAvailable else { return nil }
        return (total, available)
    }

    /// The spool folder of one listener.
    public func folder(for listenerID: UUID) -> String {
        root + "/" + listenerID.uuidString.lowercased()
    }

    /// The store a `spooled` listener writes to: files in its spool folder, URIs of its target.
    public func store(for listenerID: UUID, target: any ObjectStore) -> any ObjectStore {
        SpoolObjectStore(files: FilesystemObjectStore(root: folder(for: listenerID)), target: target, spool: self)
    }

    public func instanceSpooled() {
        wakeUp.signal()
    }

    public func refusal() async -> String? {
        let used = usage.inUse
        if used >= maxBytes {
            return Self.quotaReason(used: used, maxBytes: maxBytes)
        }
        if let space = volumeSpace(root), Double(space.total - space.available) >= Double(space.total) * Self.maximumVolumeFraction {
            return Self.volumeReason
        }
        return nil
    }

    /// The spool's state for `/readyz`: `refusal()`, and also full while the last reservation was refused
    /// and no bytes have been freed since. A spool that refuses the instances senders send is full for
    /// them, although an instance never takes it to its quota.
    public func readinessRefusal() async -> String? {
        if let refusal = await refusal() { return refusal }
        return usage.lastRefusal
    }

    /// Reserves room for `needed` more bytes of a write in flight, or throws `SpoolFull` when they do not
    /// fit under `maxBytes` (files plus every reservation) or would take the volume beyond 90 %. The check
    /// and the grant are one step of the `SpoolUsage` actor, so concurrent writes cannot jointly overshoot.
    /// On the volume, bytes of writes in flight at the time of a `statvfs` reading are counted twice (by
    /// the reading and as reservations): near the volume limit a refusal comes early, never late.
    func reserve(_ needed: Int64) throws {
        let root = self.root
        let volumeSpace = self.volumeSpace
        let reading: @Sendable () -> Int64? = {
            volumeSpace(root).map { Int64(Double($0.total) * Self.maximumVolumeFraction) - ($0.total - $0.available) }
        }
        let reason: String
        switch usage.reserve(needed, maxBytes: maxBytes, volumeHeadroom: reading) {
        case .granted:
            return
        case .overQuota(let used):
            reason = Self.quotaReason(used: used, maxBytes: maxBytes)
        case .overVolume:
            reason = Self.volumeReason
        }
        usage.refused(reason)
        throw SpoolFull(reason: reason)
    }

    static func quotaReason(used: Int64, maxBytes: Int64) -> String {
        "Spool full (\(used) of \(maxBytes) bytes); retry later"
    }

    static let volumeReason = "Spool volume over 90% full; retry later"

    /// Bytes reserved by writes in flight (their temp files), not yet counted in `bytes()`.
    public func reservedBytes() async -> Int64 { usage.reserved }

    /// Bytes of files in the spool as last counted (recounted by `recount`, kept current in between).
    public func bytes() async -> Int64 { usage.bytes }

    /// Counts the files under `root` again (another node sharing the volume also writes and deletes).
    func recount() async throws {
        let root = self.root
        let total = try await BlockingPools.files.runIfActive { () throws -> Int64 in
            var total: Int64 = 0
            // Temp files of writes in flight are counted by their reservations.
            for file in try Self.files(under: root) where !file.isTemporary { total += file.size }
            return total
        }
        usage.set(total)
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

/// Bytes the spool holds, kept current by the spool store's writes and the forwarder's deletes, and the
/// bytes reserved by writes in flight.
///
/// A `Mutex` rather than an actor: every PDV fragment of a spooled C-STORE takes a reservation, and a
/// lock held for a few additions costs less than a hop to another executor per fragment.
final class SpoolUsage: Sendable {
    private struct State {
        /// Bytes of complete spool files.
        var bytes: Int64 = 0
        /// Bytes granted to writes in flight and not yet settled into `bytes` or released.
        var reserved: Int64 = 0
        var volume: VolumeReading?
        /// Why the last reservation was refused, until bytes are freed.
        var lastRefusal: String?
    }

    /// The last `statvfs` reading: room below 90 % of the volume at `at`, with the bytes then reserved
    /// (possibly already on disk, so counted in the reading as well) and those granted since.
    private struct VolumeReading {
        var headroom: Int64
        var at: ContinuousClock.Instant
        var reservedThen: Int64
        var grantedSince: Int64 = 0
        var room: Int64 { headroom - reservedThen - grantedSince }
    }

    private let state = Mutex(State())

    var bytes: Int64 { state.withLock { $0.bytes } }
    var reserved: Int64 { state.withLock { $0.reserved } }
    var inUse: Int64 { state.withLock { $0.bytes + $0.reserved } }
    var lastRefusal: String? { state.withLock { $0.lastRefusal } }

    enum Reservation: Equatable {
        case granted
        /// The quota would be exceeded; the bytes in use (files plus reservations) at the refusal.
        case overQuota(used: Int64)
        case overVolume
    }

    func refused(_ reason: String) { state.withLock { $0.lastRefusal = reason } }

    func add(_ delta: Int64) {
        state.withLock { state in
            if delta < 0 { state.lastRefusal = nil }
            state.bytes = max(0, state.bytes + delta)
        }
    }

    func set(_ value: Int64) {
        state.withLock { state in
            if value < state.bytes { state.lastRefusal = nil }
            state.bytes = value
        }
    }

    /// Grants `needed` bytes within both limits, or refuses. `volumeHeadroom` reads the volume (nil when
    /// unknown); it is called, under the lock, only when the last reading is stale (once a second).
    func reserve(_ needed: Int64, maxBytes: Int64, volumeHeadroom: () -> Int64?) -> Reservation {
        state.withLock { state in
            guard needed <= maxBytes - state.bytes - state.reserved else { return .overQuota(used: state.bytes + state.reserved) }
            let now = ContinuousClock.now
            if state.volume.map({ now - $0.at >= Spool.volumeReadingAge || $0.grantedSince >= Spool.volumeReadingBytes }) ?? true {
                state.volume = volumeHeadroom().map { VolumeReading(headroom: $0, at: now, reservedThen: state.reserved) }
            }
            if let volume = state.volume, needed > volume.room { return .overVolume }
            state.reserved += needed
            state.volume?.grantedSince += needed
            return .granted
        }
    }

    /// Gives back a reservation whose write was abandoned (its temp file is gone).
    func release(_ granted: Int64) {
        state.withLock { state in
            state.reserved = max(0, state.reserved - granted)
            guard var reading = state.volume else { return }
            let sinceReading = min(granted, reading.grantedSince)
            reading.grantedSince -= sinceReading
            reading.reservedThen = max(0, reading.reservedThen - (granted - sinceReading))
            state.volume = reading
        }
    }

    /// Turns a reservation into the bytes of the file that was written.
    func settle(granted: Int64, stored: Int64) {
        state.withLock { state in
            state.reserved = max(0, state.reserved - granted)
            state.bytes = max(0, state.bytes + stored)
        }
    }
}
