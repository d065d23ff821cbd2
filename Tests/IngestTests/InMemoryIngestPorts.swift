import Crypto
import Domain
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// An `ObjectStore` held in memory, with faults a test switches on per step. Objects are kept as sent
/// (no compression), so a row's sha256 can be checked against the bytes its URI names.
final class InMemoryObjectStore: ObjectStore, @unchecked Sendable {
    // @unchecked: every stored property is guarded by `lock`.
    enum Step: Hashable, Sendable {
        case beginUpload, write, finish, put, delete
    }

    private let lock = NIOLock()
    private var _objects: [String: [UInt8]] = [:]
    private var _openUploads = 0
    private var _failing: Set<Step> = []
    /// Whether the store names its objects when they are finished (as files renamed into place are), so the
    /// commit chooses the key slot; otherwise the receive reads the row before the upload begins.
    let uploadsAreRenamable: Bool

    init(renamable: Bool = false) {
        uploadsAreRenamable = renamable
    }

    /// Steps that throw `ObjectStoreError(.unavailable)` from now on.
    var failing: Set<Step> {
        get { lock.withLock { _failing } }
        set { lock.withLock { _failing = newValue } }
    }
    /// Completed objects by key.
    var objects: [String: [UInt8]] { lock.withLock { _objects } }
    var keys: [String] { objects.keys.sorted() }
    /// Every object's SHA-256 by key: what a test compares before and after (readable when it differs).
    var digests: [String: String] {
        objects.mapValues { SHA256.hash(data: $0).map { String(format: "%02x", $0) }.joined() }
    }
    /// Uploads begun and neither finished nor aborted: after a C-STORE ends there must be none.
    var openUploads: Int { lock.withLock { _openUploads } }

    func fails(_ step: Step) -> Bool { lock.withLock { _failing.contains(step) } }

    func beginUpload(key: String, options: ObjectPutOptions) async throws -> any ObjectUpload {
        if fails(.beginUpload) { throw ObjectStoreError(.unavailable, detail: "injected: begin upload") }
        lock.withLock { _openUploads += 1 }
        return Upload(store: self, key: key)
    }

    func put(key: String, body: ByteBuffer, options: ObjectPutOptions) async throws -> StoredObject {
        if fails(.put) { throw ObjectStoreError(.unavailable, detail: "injected: put") }
        let bytes = Array(body.readableBytesView)
        lock.withLock { _objects[key] = bytes }
        return StoredObject(key: key, uri: uri(for: key), contentLength: Int64(bytes.count), storedLength: Int64(bytes.count))
    }

    func delete(key: String) async throws {
        if fails(.delete) { throw ObjectStoreError(.unavailable, detail: "injected: delete") }
        _ = lock.withLock { _objects.removeValue(forKey: key) }
    }

    func uri(for key: String) -> String { "mem://bucket/" + key }
    func check() async throws {}

    /// The object a row's URI names, if it exists.
    func object(at uri: String) -> [UInt8]? {
        guard uri.hasPrefix("mem://bucket/") else { return nil }
        return objects[String(uri.dropFirst("mem://bucket/".count))]
    }

    fileprivate func complete(_ key: String, _ bytes: [UInt8]) {
        lock.withLock {
            _objects[key] = bytes
            _openUploads -= 1
        }
    }

    fileprivate func close() { lock.withLock { _openUploads -= 1 } }

    /// One streaming write. A failed `finish` ends it too (nothing of the object remains), as the stores do.
    final class Upload: RenamableUpload, @unchecked Sendable {
        // @unchecked: every stored property is guarded by `lock`.
        private let lock = NIOLock()
        private let store: InMemoryObjectStore
        private let key: String
        private var bytes: [UInt8] = []
        private var open = true

        init(store: InMemoryObjectStore, key: String) {
            self.store = store
            self.key = key
        }

        func write(_ chunk: ByteBuffer) async throws {
            if store.fails(.write) { throw ObjectStoreError(.unavailable, detail: "injected: write") }
            try lock.withLock {
                guard open else { throw ObjectStoreError(.aborted, detail: "write after end") }
                bytes += chunk.readableBytesView
            }
        }

        func finish() async throws -> StoredObject {
            try await finish(renamingTo: key)
        }

        func finish(renamingTo key: String) async throws -> StoredObject {
            let (wasOpen, body) = lock.withLock { () -> (Bool, [UInt8]) in
                defer { open = false }
                return (open, bytes)
            }
            guard wasOpen else { throw ObjectStoreError(.aborted, detail: "finish after end") }
            if store.fails(.finish) {
                store.close()
                throw ObjectStoreError(.unavailable, detail: "injected: finish")
            }
            store.complete(key, body)
            return StoredObject(key: key, uri: store.uri(for: key), contentLength: Int64(body.count), storedLength: Int64(body.count))
        }

        func abort() async {
            let wasOpen = lock.withLock { () -> Bool in
                defer { open = false }
                return open
            }
            if wasOpen { store.close() }
        }
    }
}

/// An `IngestRecorder` held in memory with the upsert rules of the catalog port (a repeat keeps
/// `receivedAt` and counts `receiveCount`; another listener's UID is a `listenerID` conflict), and faults.
final class InMemoryRecorder: IngestRecorder, @unchecked Sendable {
    // @unchecked: every stored property is guarded by `lock`.
    enum RecordFault: Sendable {
        /// Throws before anything is written.
        case unavailable
        /// A value refused for good.
        case invalidValue(field: String)
        /// The row commits, then the answer is lost (a connection dropped after COMMIT).
        case committedThenLost
    }

    private let lock = NIOLock()
    private var _rows: [String: InstanceRecord] = [:]
    private var _recordFault: RecordFault?
    private var _reads = 0
    private var _failReadsFrom: Int?
    private var _rowBeforeRead: [Int: InstanceRecord] = [:]
    private var _failures = 0

    var rows: [String: InstanceRecord] { lock.withLock { _rows } }
    var recordFault: RecordFault? {
        get { lock.withLock { _recordFault } }
        set { lock.withLock { _recordFault = newValue } }
    }
    /// `instance(sopInstanceUID:)` throws from this (1-based) read on.
    var failReadsFrom: Int? {
        get { lock.withLock { _failReadsFrom } }
        set { lock.withLock { _failReadsFrom = newValue } }
    }
    /// Rows that appear just before the read with that (1-based) number, as a concurrent commit would.
    var rowBeforeRead: [Int: InstanceRecord] {
        get { lock.withLock { _rowBeforeRead } }
        set { lock.withLock { _rowBeforeRead = newValue } }
    }
    /// `recordFailure` calls: failed instances counted on the association.
    var failures: Int { lock.withLock { _failures } }
    var reads: Int { lock.withLock { _reads } }

    func startAssociation(_ association: AssociationRecord) async throws {}
    func endAssociation(id: UUID, outcome: AssociationOutcome, endedAt: Date) async throws {}
    func addRejectedAttempts(associationID: UUID, count: Int) async throws {}
    func recordFailure(associationID: UUID) async throws { lock.withLock { _failures += 1 } }

    func recordInstance(_ instance: InstanceRecord) async throws -> InstanceRecord {
        try lock.withLock {
            switch _recordFault {
            case .unavailable?: throw CatalogError(.unavailable, detail: "injected")
            case .invalidValue(let field)?: throw CatalogError(.invalidValue, field: field, detail: "injected")
            case .committedThenLost?, nil: break
            }
            var row = instance
            if let existing = _rows[instance.sopInstanceUID] {
                guard existing.listenerID == instance.listenerID else {
                    throw CatalogError(.conflict, field: "listenerId", detail: "held by another listener")
                }
                row.receivedAt = existing.receivedAt
                row.lastReceivedAt = instance.receivedAt
                row.receiveCount = existing.receiveCount + 1
            }
            _rows[instance.sopInstanceUID] = row
            if case .committedThenLost? = _recordFault { throw CatalogError(.unavailable, detail: "injected: lost after commit") }
            return row
        }
    }

    func instance(sopInstanceUID: String) async throws -> InstanceRecord? {
        try lock.withLock {
            _reads += 1
            if let row = _rowBeforeRead[_reads] { _rows[row.sopInstanceUID] = row }
            if let from = _failReadsFrom, _reads >= from { throw CatalogError(.unavailable, detail: "injected: read") }
            return _rows[sopInstanceUID]
        }
    }

    func insert(_ row: InstanceRecord) { lock.withLock { _rows[row.sopInstanceUID] = row } }
}
