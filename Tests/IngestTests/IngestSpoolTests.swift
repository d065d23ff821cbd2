import Crypto
import Domain
import Foundation
@testable import Ingest
import Logging
import NIOCore
import ServiceLifecycle
import Storage
import Testing

/// A `spooled` listener's C-STORE, against the real SQLite catalog, filesystem spool and filesystem target:
/// the answer comes once the spool holds the instance and its row is committed `spooled`; a full spool
/// refuses before any byte; the forwarder then lands the instance in the target and marks the row `stored`.
@Suite("Ingest into the spool")
struct IngestSpoolTests {
    private struct FixedStores: ObjectStoreProvider {
        let store: any ObjectStore
        func objectStore(for target: StorageTarget) async throws -> any ObjectStore { store }
    }

    private func spooledSink(_ h: CommitHarness, spool: Spool, listener: ListenerConfig) throws -> IngestSink {
        try IngestSink(listener: listener, store: spool.store(for: listener.id, target: FilesystemObjectStore(root: h.root)),
                       recorder: h.catalog, serializer: h.serializer, spool: spool, logger: h.logger)
    }

    private func spooledListener(_ h: CommitHarness) -> ListenerConfig {
        var listener = h.listener
        listener.storage.ackMode = .spooled
        return listener
    }

    /// A 1 GiB spool beside the harness's target and a `spooled` listener in the catalog.
    private func spooledSetup(_ h: CommitHarness) async throws -> (root: String, spool: Spool, listener: ListenerConfig) {
        let root = URL(fileURLWithPath: h.root).deletingLastPathComponent().appendingPathComponent("spool").path
        let listener = spooledListener(h)
        try await h.catalog.createListener(listener)
        return (root, try Spool(root: root, maxBytes: 1 << 30), listener)
    }

    private func files(under root: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var out: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue,
               !path.hasSuffix(".spool-id") {
                out.append(path)
            }
        }
        return out.sorted()
    }

    @Test func answersFromTheSpoolThenTheForwarderStoresIt() async throws {
        try await withHarness { h in
            let (spoolRoot, spool, listener) = try await spooledSetup(h)
            let sink = try spooledSink(h, spool: spool, listener: listener)

            #expect(try await h.store(uid: "1.2.3.500", patientID: "SPOOLED", sink: sink) == .success)
            let row = try #require(try await h.catalog.instance(sopInstanceUID: "1.2.3.500"))
            #expect(row.storageState == .spooled && row.storedAt == nil && row.spoolID == spool.id)
            // The row names the target; the bytes are only in the spool so far.
            #expect(row.objectURI == FilesystemObjectStore(root: h.root).uri(for: "DICOM/1.2.3.500.dcm"))
            #expect(h.files().isEmpty)
            let folder = listener.id.uuidString.lowercased()
            #expect(files(under: spoolRoot) == ["\(folder)/DICOM/1.2.3.500.dcm", "\(folder)/METADATA/1.2.3.500.json"])

            let forwarder = Forwarder(queue: h.catalog, listeners: h.catalog, stores: FixedStores(store: FilesystemObjectStore(root: h.root)),
                                      spool: spool, resolveTarget: { $0 }, logger: h.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await forwarder.run() }
                for _ in 0..<200 {
                    if try await h.catalog.instance(sopInstanceUID: "1.2.3.500")?.storageState == .stored { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                group.cancelAll()
            }
            let stored = try #require(try await h.catalog.instance(sopInstanceUID: "1.2.3.500"))
            #expect(stored.storageState == .stored && stored.storedAt != nil && stored.spoolID == nil)
            try h.expectConsistent(uid: "1.2.3.500", patientID: "SPOOLED", row: stored)
            #expect(h.files() == ["DICOM/1.2.3.500.dcm", "METADATA/1.2.3.500.json"])
            #expect(files(under: spoolRoot).isEmpty)
        }
    }

    /// A target whose uploads never finish until their task is cancelled (an S3 that stopped answering).
    private struct StalledStore: ObjectStore {
        let root: String
        let started = AsyncStream<Void>.makeStream()
        private func stall() async throws -> Never {
            started.continuation.yield()
            try await Task.sleep(for: .seconds(3600))
            throw CancellationError()
        }
        func beginUpload(key: String, options: ObjectPutOptions) async throws -> any ObjectUpload { try await stall() }
        func put(key: String, body: ByteBuffer, options: ObjectPutOptions) async throws -> StoredObject { try await stall() }
        func delete(key: String) async throws {}
        func uri(for key: String) -> String { FilesystemObjectStore(root: root).uri(for: key) }
        func check() async throws {}
    }

    /// Graceful shutdown with an upload that does not end: the forwarder gives it the shutdown grace period,
    /// then cancels it and returns, and the instance stays spooled (not failed) for the next start.
    @Test func shutdownCancelsAStalledUploadAfterTheGracePeriod() async throws {
        try await withHarness { h in
            let (spoolRoot, spool, listener) = try await spooledSetup(h)
            #expect(try await h.store(uid: "1.2.3.700", patientID: "STALLED", sink: try spooledSink(h, spool: spool, listener: listener)) == .success)

            var options = Forwarder.Options()
            options.shutdownGrace = .milliseconds(300)
            let store = StalledStore(root: h.root)
            let forwarder = Forwarder(queue: h.catalog, listeners: h.catalog, stores: FixedStores(store: store),
                                      spool: spool, resolveTarget: { $0 }, options: options, logger: h.logger)
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [.init(service: forwarder)], logger: h.logger))
            let finished = try await withThrowingTaskGroup(of: Bool.self) { tasks in
                tasks.addTask {
                    try await group.run()
                    return true
                }
                var uploads = store.started.stream.makeAsyncIterator()
                await uploads.next()
                await group.triggerGracefulShutdown()
                // Bounded: a forwarder that waited for the stalled upload would still be running here.
                tasks.addTask {
                    try await Task.sleep(for: .seconds(20))
                    return false
                }
                let first = try await tasks.next() ?? false
                tasks.cancelAll()
                return first
            }
            #expect(finished, "the forwarder did not return within 20 s of graceful shutdown")
            let row = try #require(try await h.catalog.instance(sopInstanceUID: "1.2.3.700"))
            #expect(row.storageState == .spooled && row.spoolID == spool.id)
            #expect(files(under: spoolRoot).count == 2)
            // The lease was handed back and no failed attempt counted: another node claims it at once, as new.
            let now = Date()
            let claims = try await h.catalog.claimSpooled(spoolID: spool.id, owner: "next-start", limit: 10, now: now,
                                                          leaseUntil: now.addingTimeInterval(60))
            #expect(claims.map(\.record.sopInstanceUID) == ["1.2.3.700"])
            #expect(claims.map(\.failedAttempts) == [0])
        }
    }

    @Test func aFullSpoolRefusesBeforeAnyByte() async throws {
        try await withHarness { h in
            let base = URL(fileURLWithPath: h.root).deletingLastPathComponent()
            let spoolRoot = base.appendingPathComponent("spool").path
            let listener = spooledListener(h)
            // The quota is exactly what one instance takes (measured on a probe spool): the first fits to the
            // byte, and then the spool is full.
            let probe = try Spool(root: base.appendingPathComponent("probe").path, maxBytes: 1 << 30)
            #expect(try await h.store(uid: "1.2.3.599", patientID: "FIRST", sink: try spooledSink(h, spool: probe, listener: listener)) == .success)
            let spool = try Spool(root: spoolRoot, maxBytes: await probe.bytes())
            let sink = try spooledSink(h, spool: spool, listener: listener)
            #expect(try await h.store(uid: "1.2.3.600", patientID: "FIRST", sink: sink) == .success)
            let before = files(under: spoolRoot)

            await #expect {
                _ = try await h.store(uid: "1.2.3.601", patientID: "SECOND", sink: sink)
            } throws: { error in
                guard let failure = error as? StoreFailure else { return false }
                return failure.status.code == 0xA700 && failure.status.errorComment?.hasPrefix("Spool full") == true
            }
            #expect(try await h.catalog.instance(sopInstanceUID: "1.2.3.601") == nil)
            #expect(files(under: spoolRoot) == before)
            #expect(await spool.refusal() != nil)
        }
    }
}
