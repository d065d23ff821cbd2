import Domain
import Foundation
@testable import Ingest
import Logging
import NIOCore
import Storage
import Testing

/// Two nodes (two sinks, each with its own in-process serializer and its own `PostgresCatalog`) receiving
/// one SOP Instance UID at once: their commits serialise through the catalog's lock on the UID, against the
/// real PostgreSQL of TEST_POSTGRES_URL and a shared filesystem store (the object store of both nodes).
@Suite(.serialized) struct CrossNodeCommitTests {
    struct Node {
        let catalog: PostgresCatalog
        let sink: IngestSink
    }

    func withTwoNodes(_ body: (CommitHarness, Node, Node) async throws -> Void) async throws {
        guard let url = ProcessInfo.processInfo.environment["TEST_POSTGRES_URL"], !url.isEmpty else {
            throw CatalogUnavailable(description: "TEST_POSTGRES_URL is not set: this test needs a real PostgreSQL (scripts/services)")
        }
        let catalogURL = url.contains("?") ? url : url + "?sslmode=disable"
        try await withHarness { h in
            let logger = Logger(label: "cross-node-commit-tests")
            let catalogs = try (0..<2).map { _ in try PostgresCatalog(url: catalogURL, logger: logger) }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for catalog in catalogs { group.addTask { try await catalog.run() } }
                try await catalogs[0].migrate()
                let nodes = try catalogs.map { catalog in
                    Node(catalog: catalog, sink: try IngestSink(
                        listener: h.listener,
                        store: FaultInjectingStore(base: FilesystemObjectStore(root: h.root), faults: h.faults),
                        recorder: catalog, serializer: KeyedSerializer(), logger: logger))
                }
                do {
                    try await body(h, nodes[0], nodes[1])
                } catch {
                    group.cancelAll()
                    throw error
                }
                group.cancelAll()
            }
        }
    }

    struct CatalogUnavailable: Error, CustomStringConvertible {
        var description: String
    }

    /// One C-STORE of `CommitHarness.dataSet` through `node`'s sink, its association row in `node`'s catalog.
    func store(_ node: Node, uid: String, patientID: String) async throws -> StoreStatus {
        try await CommitHarness.store(uid: uid, patientID: patientID, sink: node.sink, catalog: node.catalog)
    }

    /// Without a lock shared by the nodes both would complete the same object at once, and the row could end
    /// up describing the other node's data set. With it, completions never overlap, the later receive
    /// either commits after the first or answers a retryable failure, and the row matches its object.
    @Test func sameUIDOnTwoNodesCommitsOneAtATime() async throws {
        try await withTwoNodes { h, a, b in
            let uid = "1.2.826.0.1.3680043.10.1" + String(UInt32.random(in: 1...UInt32.max)) + ".1"
            h.faults.holdFinish = true
            async let first = store(a, uid: uid, patientID: "NODEA")
            async let second = store(b, uid: uid, patientID: "NODEB")
            let statuses = try await [first, second]
            #expect(h.faults.maximumConcurrentFinishes == 1, "completions of one object overlapped across nodes")
            #expect(statuses.contains(.success), "\(statuses)")
            #expect(statuses.allSatisfy { $0 == .success || $0.code & 0xFF00 == 0xA700 }, "\(statuses)")
            let row = try #require(try await a.catalog.instance(sopInstanceUID: uid))
            try h.expectConsistent(uid: uid, patientID: row.patientID ?? "", row: row)
            // Only the row's objects remain.
            #expect(h.files().count == 2, "\(h.files())")
        }
    }
}
