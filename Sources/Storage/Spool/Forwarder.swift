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

/// Writes spooled instances to their listener's target and marks their rows `stored`.
///
/// Work is claimed from the catalog with a lease (`ForwardQueue`), a bounded number at a time; each
/// instance is streamed from its spool file through the target's `ObjectStore` (same keys, gzip,
/// metadata, storage class and encryption as a `stored` listener; multipart for large objects, so memory
/// stays at one part per upload), then the row is marked `stored` only if it still names the object that
/// was read (a later receive of the same UID supersedes it), and only then are the spool files removed.
/// A failed attempt gives the lease back with the time of the next try: exponential backoff with jitter,
/// without a limit of count — an acknowledged instance is never dropped; metrics and `/readyz` alert.
///
/// Recovery is the same loop: at start every spooled row is claimable again (a lease of this node's
/// previous life is released, another node's expires), a spooled row whose spool file is missing becomes
/// `lost` (counted and logged), and the sweep removes spool files no spooled row refers to (a crash
/// between the fsync and the catalog commit).
///
/// Graceful shutdown stops claiming; uploads in flight finish within the service group's grace period,
/// and whatever is left stays spooled for the next start (or another node).
public struct Forwarder: Service {
    public struct Options: Sendable {
        /// Uploads in flight at once.
        public var concurrency: Int = 32
        /// How long a claim is held before another node may take the row over.
        public var lease: Duration = .seconds(300)
        /// Identity of this node in leases (a restarted node releases the leases of its previous life).
        public var owner: String = ProcessInfo.processInfo.hostName
        /// Pause between looks at the queue while it is empty. A receive on this node that commits a
        /// spooled row ends the pause at once (`Spool.instanceSpooled()`); the poll finds the rows other
        /// nodes spool on a shared volume and the rows whose retry time has come.
        public var pollInterval: Duration = .milliseconds(250)
        /// First and largest backoff after a failed attempt.
        public var initialBackoff: Duration = .milliseconds(500)
        public var maximumBackoff: Duration = .seconds(60)
        /// A spool file without a spooled row is removed once it is this old: younger ones may belong to a
        /// receive (on this or another node) that has not committed its row yet.
        public var orphanAge: Duration = .seconds(60)
        /// A temp file is abandoned when untouched this long (a live receive keeps writing it).
        public var temporaryOrphanAge: Duration = .seconds(600)
        public var sweepInterval: Duration = .seconds(300)
        /// Bytes the uploads in flight may buffer at once (see `ForwardBudget`): with S3's 5 MiB parts,
        /// two multipart uploads of large instances, or about thirty small single-PUT objects.
        public var memoryBudget: Int64 = 24 << 20
        /// How long uploads in flight may run on after graceful shutdown begins; then they are cancelled
        /// and their rows stay spooled (the service's shutdown grace period).
        public var shutdownGrace: Duration = .seconds(25)
        /// How long a listener read from the catalog serves the forwards of its instances.
        public var listenerLifetime: Duration = .seconds(1)
        public init() {}
    }

    /// The catalog: the forward queue, and the instance lock and row reads of the receives.
    let queue: any ForwardQueue & IngestRecorder
    let listeners: any ListenerStore
    let stores: any ObjectStoreProvider
    let spool: Spool
    /// The target a listener's objects go to (fills the default filesystem root, as for `stored`).
    let resolveTarget: @Sendable (StorageTarget) -> StorageTarget
    let options: Options
    let logger: Logger
    /// The outcome of the latest attempts, for `/readyz` (which does not ask a target that only spooled
    /// listeners use: while it is away the spool stands in for it, and its requests would wait behind the
    /// forwarder's retries).
    public let status = ForwardStatus()
    let budget: ForwardBudget
    let listenerCache: ForwardListenerCache

    public init(queue: any ForwardQueue & IngestRecorder, listeners: any ListenerStore, stores: any ObjectStoreProvider, spool: Spool,
                resolveTarget: @escaping @Sendable (StorageTarget) -> StorageTarget, options: Options = Options(), logger: Logger) {
        self.queue = queue
        self.listeners = listeners
        self.stores = stores
        self.spool = spool
        self.resolveTarget = resolveTarget
        self.options = options
        self.logger = logger
        self.budget = ForwardBudget(capacity: options.memoryBudget)
        self.listenerCache = ForwardListenerCache(lifetime: options.listenerLifetime)
    }

    public func run() async throws {
        await recover()
        var lastSweep = ContinuousClock.now
        var lastFigures = ContinuousClock.now - .seconds(60)
        // Children are uploads and poll ticks (`Child`): while uploads run, the queue is
        // still looked at every poll interval (or at once when a receive here spools an instance), so a
        // long upload does not hold back newly spooled instances. A finished upload looks again only when
        // the last claim came back full (more rows may wait), and then once a batch of slots is free, so
        // a backlog costs one claim per batch rather than one per instance.
        // Uploads were cancelled at the end of the shutdown grace period.
        var cutOff = false
        await withTaskGroup(of: Child.self) { group in
            var inFlight = 0
            var tickPending = false
            // A wake-up or poll tick came since the last claim: look whatever the free slots.
            var signalled = true
            // The last claim filled every free slot: the queue may hold more.
            var backlog = false
            let batch = max(1, options.concurrency / 4)
            while !Task.isCancelled && !Task.isShuttingDownGracefully {
                if ContinuousClock.now - lastFigures >= .seconds(2) {
                    lastFigures = .now
                    await publishFigures()
                }
                if ContinuousClock.now - lastSweep >= options.sweepInterval {
                    lastSweep = .now
                    await sweep()
                }
                let free = options.concurrency - inFlight
                if free > 0 && (signalled || (backlog && (free >= batch || inFlight == 0))) {
                    let claimed = await claim(limit: free)
                    signalled = false
                    backlog = claimed.count == free
                    for item in claimed {
                        inFlight += 1
                        group.addTask {
                            await forward(item)
                            return .upload
                        }
                    }
                }
                if inFlight == 0 && !tickPending {
                    await Self.pause(spool.wakeUp, upTo: options.pollInterval)
                    signalled = true
                    continue
                }
                if !tickPending && inFlight < options.concurrency {
                    tickPending = true
                    let interval = options.pollInterval
                    let wakeUp = spool.wakeUp
                    group.addTask {
                        await Self.pause(wakeUp, upTo: interval)
                        return .tick
                    }
                }
                switch await group.next() {
                case .upload?: inFlight -= 1
                case .tick?:
                    tickPending = false
                    signalled = true
                case .deadline?, nil: break
                }
            }
            // Shutdown: uploads in flight may finish within the grace period, then they are cancelled (a
            // cancelled attempt fails and leaves its row spooled); the rest stays spooled for the next start.
            if inFlight > 0 && !Task.isCancelled {
                let grace = options.shutdownGrace
                group.addTask {
                    do { try await Task.sleep(for: grace) } catch {}
                    return .deadline
                }
                while inFlight > 0, let child = await group.next() {
                    switch child {
                    case .upload: inFlight -= 1
                    case .tick: continue
                    case .deadline:
                        logger.notice("shutdown grace period over: cancelling uploads in flight", metadata: ["uploads": "\(inFlight)"])
                        group.cancelAll()
                        inFlight = 0
                        cutOff = true
                    }
                }
                group.cancelAll()
            }
            await group.waitForAll()
        }
        if cutOff {
            // The cancelled uploads' leases, handed back so that the next start or another node takes them at
            // once; if the catalog does not answer, they expire by themselves.
            do {
                try await queue.releaseClaims(owner: options.owner)
            } catch {
                logger.warning("could not release the leases of cancelled uploads", metadata: ["error": "\(error)"])
            }
        }
        await publishFigures()
    }

    /// What a child of the forwarder's task group was: an upload, a look at the queue, or the shutdown deadline.
    private enum Child: Sendable {
        case upload, tick, deadline
    }

    /// Waits for a spooled instance of this node, the poll interval, or graceful shutdown, whichever comes first.
    private static func pause(_ wakeUp: ForwardWakeUp, upTo interval: Duration) async {
        await withGracefulShutdownHandler {
            await wakeUp.wait(upTo: interval)
        } onGracefulShutdown: {
            wakeUp.signal()
        }
    }

    // MARK: - One instance

    private func claim(limit: Int) async -> [ForwardClaim] {
        let now = Date()
        do {
            return try await queue.claimSpooled(spoolID: spool.id, owner: options.owner, limit: limit, now: now,
                                                leaseUntil: now.addingTimeInterval(options.lease.seconds))
        } catch {
            Counter(label: "dicom_forward_failures_total", dimensions: [("reason", "catalog")]).increment()
            logger.warning("could not claim spooled instances", metadata: ["error": "\(error)"])
            return []
        }
    }

    enum Outcome {
        case stored(StoredObject)
        /// The row names another object now: nothing to do for this one.
        case superseded
        /// Graceful shutdown began while this forward waited for its memory share: it stays spooled for
        /// the next start (or another node) rather than starting an upload the grace period may cut off.
        case notStarted
        /// The spool file is missing or does not hold the bytes the row describes.
        case missing(String)
    }

    struct Failure: Error, CustomStringConvertible {
        var reason: String
        var detail: String
        var description: String { "\(reason): \(detail)" }
    }

    func forward(_ claim: ForwardClaim) async {
        let row = claim.record
        var logger = self.logger
        logger[metadataKey: "listener_id"] = "\(row.listenerID)"
        logger[metadataKey: "object"] = "\(row.objectURI)"
        let started = ContinuousClock.now
        do {
            let uploadLogger = logger
            switch try await withLeaseRenewed(row, { try await upload(row, logger: uploadLogger) }) {
            case .stored(let object):
                let elapsed = ContinuousClock.now - started
                Metrics.Timer(label: "dicom_forward_duration_seconds").recordNanoseconds(elapsed.nanoseconds)
                Counter(label: "dicom_instances_forwarded_total").increment()
                logger.info("forwarded spooled instance", metadata: [
                    "bytes": "\(row.sizeBytes)", "stored_bytes": "\(object.storedLength)", "attempts": "\(claim.failedAttempts + 1)",
                ])
            case .superseded, .notStarted:
                try await queue.releaseClaim(sopInstanceUID: row.sopInstanceUID, owner: options.owner, retryAt: Date(), failed: false)
            case .missing(let why):
                if try await queue.markLost(sopInstanceUID: row.sopInstanceUID, sha256: row.sha256, objectURI: row.objectURI) {
                    Counter(label: "dicom_spool_lost_total").increment()
                    logger.error("spooled instance lost: its spool file is gone", metadata: ["why": "\(why)"])
                } else {
                    try await queue.releaseClaim(sopInstanceUID: row.sopInstanceUID, owner: options.owner, retryAt: Date(), failed: false)
                }
            }
        } catch where Task.isCancelled {
            // Shutdown cut the upload off after its grace period: not a failure of the target, so no attempt is
            // counted. Its lease is handed back by `run` once every upload has ended (the catalog refuses work
            // for a cancelled task).
            logger.notice("upload cancelled at shutdown; the instance stays spooled", metadata: ["error": "\(error)"])
        } catch {
            let reason = (error as? Failure)?.reason ?? (error is CatalogError ? "catalog" : "target")
            Counter(label: "dicom_forward_failures_total", dimensions: [("reason", reason)]).increment()
            await status.failed(reason: reason)
            let delay = Self.backoff(attempt: claim.failedAttempts, initial: options.initialBackoff, maximum: options.maximumBackoff)
            logger.warning("forwarding failed; will retry", metadata: [
                "error": "\(error)", "attempt": "\(claim.failedAttempts + 1)", "retry_in_seconds": "\(delay)",
            ])
            do {
                try await queue.releaseClaim(sopInstanceUID: row.sopInstanceUID, owner: options.owner,
                                             retryAt: Date().addingTimeInterval(delay), failed: true)
            } catch {
                // The lease expires by itself; the row is retried then.
                logger.warning("could not release a forwarding lease", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Runs `body` while renewing this node's lease of `row` every third of the lease, so an upload that
    /// outlasts one lease is not taken over by another node in the middle.
    private func withLeaseRenewed<T: Sendable>(_ row: InstanceRecord, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let lease = options.lease
        let owner = options.owner
        let queue = self.queue
        let logger = self.logger
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                while true {
                    try await Task.sleep(for: lease / 3)
                    do {
                        _ = try await queue.renewClaim(sopInstanceUID: row.sopInstanceUID, owner: owner,
                                                       leaseUntil: Date().addingTimeInterval(lease.seconds))
                    } catch {
                        logger.warning("could not renew a forwarding lease", metadata: ["error": "\(error)"])
                    }
                }
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            throw CancellationError()
        }
    }

    /// Full jitter over an exponential step: spreads the retries of many instances after an outage.
    static func backoff(attempt: Int, initial: Duration, maximum: Duration) -> Double {
        let step = min(maximum.seconds, initial.seconds * pow(2, Double(min(attempt, 30))))
        return Double.random(in: (step / 2)...max(step / 2, step))
    }

    private func upload(_ row: InstanceRecord, logger: Logger) async throws -> Outcome {
        guard let listener = try await listenerCache.listener(id: row.listenerID, from: listeners) else {
            throw Failure(reason: "listener-missing", detail: "the listener of this instance was deleted; kept spooled")
        }
        let target = resolveTarget(listener.storage)
        let store = try await stores.objectStore(for: target)
        guard let key = Self.key(of: row.objectURI, in: store) else {
            throw Failure(reason: "target-changed", detail: "the listener's target no longer holds this object's URI; kept spooled")
        }
        var metadataKey: String?
        if let uri = row.metadataURI {
            guard let resolved = Self.key(of: uri, in: store) else {
                throw Failure(reason: "target-changed", detail: "the listener's target no longer holds the metadata URI; kept spooled")
            }
            metadataKey = resolved
        }
        // The memory this upload buffers: one read chunk, and the object (single PUT) or two parts.
        let singleRequestLimit = (store as? any IncompleteUploadCleanup)?.singleRequestLimit
        let share = min(row.sizeBytes, Int64(Self.chunkSize)) + (singleRequestLimit.map { min(row.sizeBytes, 2 * $0) } ?? 0)
        guard let taken = await budget.acquire(share) else { throw CancellationError() }
        defer { budget.release(taken) }
        if Task.isShuttingDownGracefully { return .notStarted }
        let folder = spool.folder(for: row.listenerID)
        let options = ObjectPutOptions(contentType: ObjectPutOptions.dicomContentType,
                                       gzipLevel: target.gzip ? target.gzipLevel : nil, storageClass: target.storageClass,
                                       serverSideEncryption: target.serverSideEncryption, kmsKeyID: target.kmsKeyID)

        // One blocking job opens the Part10 file and reads the metadata whole (small); a missing file is
        // known before the upload starts.
        let opened: SpoolFiles
        switch try await Self.openSpoolFiles(folder: folder, key: key, metadataKey: metadataKey) {
        case .opened(let files): opened = files
        case .missing(let what): return .missing(what)
        }
        let file = opened.part10
        // A previous attempt cut off by a crash may have left a multipart upload of this key: this node
        // holds the row's lease, so no live upload of the key is ended.
        if let cleanup = store as? any IncompleteUploadCleanup, row.sizeBytes > cleanup.singleRequestLimit {
            do {
                let aborted = try await cleanup.abortIncompleteUploads(key: key)
                if aborted > 0 { logger.notice("aborted multipart uploads left by an interrupted attempt", metadata: ["count": "\(aborted)"]) }
            } catch {
                close(file)
                throw error
            }
        }
        let upload: any ObjectUpload
        do {
            upload = try await store.beginUpload(key: key, options: options)
        } catch {
            close(file)
            throw error
        }
        var hasher = SHA256()
        var length: Int64 = 0
        do {
            var atEnd = false
            while !atEnd {
                let chunk: ByteBuffer
                (chunk, atEnd) = try await BlockingPools.files.runIfActive { try Self.readChunk(file, upTo: Self.chunkSize) }
                guard chunk.readableBytes > 0 else { break }
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                length += Int64(chunk.readableBytes)
                try await upload.write(chunk)
            }
        } catch {
            close(file)
            await upload.abort()
            throw error
        }
        close(file)
        let digest = LowercaseHex.string(hasher.finalize())
        guard digest == row.sha256, length == row.sizeBytes else {
            await upload.abort()
            return .missing("spool file does not hold the bytes the row describes")
        }
        // The objects are completed outside the instance lock (each completion is a round trip to the
        // target, and receives wait for the same lock); then the row is settled. The metadata PUT runs
        // beside the Part10's completion (for an object below the single-PUT threshold, its only request),
        // so the two round trips to the target overlap.
        let stored: StoredObject
        if let metadataKey, let metadataBody = opened.metadata {
            let metadataOptions = ObjectPutOptions(
                contentType: ObjectPutOptions.dicomJSONContentType, gzipLevel: options.gzipLevel,
                storageClass: options.storageClass, serverSideEncryption: options.serverSideEncryption, kmsKeyID: options.kmsKeyID)
            async let metadataStored = store.put(key: metadataKey, body: metadataBody, options: metadataOptions)
            stored = try await upload.finish()
            _ = try await metadataStored
        } else {
            stored = try await upload.finish()
        }
        let outcome = try await settle(row, stored: stored, store: store, key: key, metadataKey: metadataKey, logger: logger)
        guard case .stored(let stored) = outcome else { return outcome }
        // The attempt succeeded once the row is `stored`: `/readyz` says so before the spool files go.
        await status.succeeded()
        // The row is `stored`: the spool copies are garbage now.
        let spoolKeys = [key] + (metadataKey.map { [$0] } ?? [])
        do {
            let removed = try await BlockingPools.files.runIfActive { Self.removeForwarded(folder: folder, keys: spoolKeys) }
            spool.usage.add(-removed.freed)
            if let failure = removed.failure { throw failure }
        } catch {
            logger.warning("could not remove a forwarded spool file; the sweep will", metadata: ["error": "\(error)"])
        }
        return .stored(stored)
    }

    /// Marks the row `stored` once its objects are complete in the target. A row received once and still
    /// leased by this node is settled by one conditional update (`settleForwarded`), without the instance
    /// lock: the lock makes `Finishing`'s read, sibling delete and mark one step against receives, and such
    /// a row has no sibling object to delete, while the update checks and changes the row under the row's
    /// own lock. (A receive of the UID that commits after it makes the row a repeat, whose forward deletes
    /// this object as its sibling; one that committed before it leaves the row unmatched.) Every other row,
    /// or one this update no longer matches, is settled by `Finishing` under the lock, as before.
    private func settle(_ row: InstanceRecord, stored: StoredObject, store: any ObjectStore, key: String, metadataKey: String?,
                        logger: Logger) async throws -> Outcome {
        if row.receiveCount == 1,
           try await queue.settleForwarded(sopInstanceUID: row.sopInstanceUID, owner: options.owner, sha256: row.sha256,
                                           objectURI: row.objectURI, storedBytes: stored.storedLength, storedAt: Date()) {
            return .stored(stored)
        }
        let finishing = Finishing(row: row, stored: stored, store: store, key: key, metadataKey: metadataKey,
                                  queue: queue, logger: logger)
        return try await queue.withInstanceLock(sopInstanceUID: row.sopInstanceUID) { await finishing.run() }.get()
    }

    static let chunkSize = 1 << 20
}
