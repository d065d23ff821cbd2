import Domain
import Foundation
@testable import Ingest
import Logging
@testable import Storage
import Testing

/// A `spooled` commit wakes the forwarder of its node: the instance is forwarded without waiting for the
/// forwarder's next look at the queue (here an hour away); and a backlog larger than the forwarder's
/// concurrency is claimed batch after batch as uploads finish, not at the next poll.
@Suite("Spooled commit wakes the forwarder", .timeLimit(.minutes(2)))
struct IngestSpoolWakeUpTests {
    private struct FixedStores: ObjectStoreProvider {
        let store: any ObjectStore
        func objectStore(for target: StorageTarget) async throws -> any ObjectStore { store }
    }

    /// A `spooled` listener of the harness's catalog: its spool next to the target root, and its sink.
    private func spooledSink(_ h: CommitHarness) async throws -> (Spool, FilesystemObjectStore, IngestSink) {
        let spoolRoot = URL(fileURLWithPath: h.root).deletingLastPathComponent().appendingPathComponent("spool").path
        let spool = try Spool(root: spoolRoot, maxBytes: 1 << 30)
        var listener = h.listener
        listener.storage.ackMode = .spooled
        try await h.catalog.createListener(listener)
        let target = FilesystemObjectStore(root: h.root)
        let sink = try IngestSink(listener: listener, store: spool.store(for: listener.id, target: target),
                                  recorder: h.catalog, serializer: h.serializer, spool: spool, logger: h.logger)
        return (spool, target, sink)
    }

    @Test func aSpooledInstanceIsForwardedBeforeThePollComesRound() async throws {
        try await withHarness { h in
            let (spool, target, sink) = try await spooledSink(h)
            var options = Forwarder.Options()
            options.pollInterval = .seconds(3600)
            let forwarder = Forwarder(queue: h.catalog, listeners: h.catalog, stores: FixedStores(store: target),
                                      spool: spool, resolveTarget: { $0 }, options: options, logger: h.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await forwarder.run() }
                // The forwarder found the queue empty and waits for its next look, an hour away.
                for _ in 0..<2_000 where spool.wakeUp.waiting == 0 {
                    try await Task.sleep(for: .milliseconds(5))
                }
                try #require(spool.wakeUp.waiting == 1)

                #expect(try await h.store(uid: "1.2.3.700", patientID: "WAKE", sink: sink) == .success)
                for _ in 0..<600 {
                    if try await h.catalog.instance(sopInstanceUID: "1.2.3.700")?.storageState == .stored { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                group.cancelAll()
            }
            let row = try #require(try await h.catalog.instance(sopInstanceUID: "1.2.3.700"))
            #expect(row.storageState == .stored && row.storedAt != nil)
            try h.expectConsistent(uid: "1.2.3.700", patientID: "WAKE", row: row)
            #expect(h.files() == ["DICOM/1.2.3.700.dcm", "METADATA/1.2.3.700.json"])
        }
    }

    @Test func aBacklogBeyondTheConcurrencyIsDrainedWithoutThePoll() async throws {
        try await withHarness { h in
            let (spool, target, sink) = try await spooledSink(h)
            let uids = (0..<7).map { "1.2.3.71\($0)" }
            for uid in uids {
                #expect(try await h.store(uid: uid, patientID: "BACKLOG", sink: sink) == .success)
            }
            var options = Forwarder.Options()
            options.pollInterval = .seconds(3600)
            options.concurrency = 2
            let forwarder = Forwarder(queue: h.catalog, listeners: h.catalog, stores: FixedStores(store: target),
                                      spool: spool, resolveTarget: { $0 }, options: options, logger: h.logger)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await forwarder.run() }
                for _ in 0..<600 {
                    if try await h.catalog.spoolFigures().instances == 0 { break }
                    try await Task.sleep(for: .milliseconds(50))
                }
                group.cancelAll()
            }
            for uid in uids {
                let row = try #require(try await h.catalog.instance(sopInstanceUID: uid))
                #expect(row.storageState == .stored)
                try h.expectConsistent(uid: uid, patientID: "BACKLOG", row: row)
            }
        }
    }
}
