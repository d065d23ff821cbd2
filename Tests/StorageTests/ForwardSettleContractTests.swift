import Domain
import Foundation
import Storage
import Testing

/// `ForwardQueue.settleForwarded` over both catalogs: the forward's settle as one conditional update, which
/// marks a row `stored` only while the claim still owns it, it still names the object that was sent, and
/// it was received once; otherwise it changes nothing (the forwarder then settles under the instance lock).
@Suite("Forward settle contract")
struct ForwardSettleContractTests {
    @Test(arguments: CatalogKind.allCases)
    func settlesTheRowItsClaimOwns(kind: CatalogKind) async throws {
        try await withForwardQueue(kind) { queue in
            let row = try await queue.recordInstance(spooledInstance("5.1", uri: "s3://b/DICOM/5.1.dcm"))
            let claimed = try await queue.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10, now: at(10), leaseUntil: at(310))
            #expect(claimed.map(\.record.receiveCount) == [1])
            #expect(try await queue.settleForwarded(sopInstanceUID: "5.1", owner: "node-1", sha256: row.sha256, objectURI: row.objectURI,
                                                    storedBytes: 420, storedAt: at(20)))
            let settled = try await queue.instance(sopInstanceUID: "5.1")
            #expect(settled?.storageState == .stored && settled?.storedAt == at(20) && settled?.storedBytes == 420)
            #expect(settled?.spoolID == nil)
            // Its lease went with it: nothing is left to claim, even after the lease time.
            #expect(try await queue.claimSpooled(spoolID: "spool-1", owner: "node-2", limit: 10, now: at(1000), leaseUntil: at(1300)).isEmpty)
            #expect(try await queue.spoolFigures() == SpoolFigures.empty)
            // A second settle of the same forward finds nothing spooled.
            #expect(try await !queue.settleForwarded(sopInstanceUID: "5.1", owner: "node-1", sha256: row.sha256, objectURI: row.objectURI,
                                                     storedBytes: 420, storedAt: at(30)))
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func refusesARowAnotherNodeHasTakenOver(kind: CatalogKind) async throws {
        try await withForwardQueue(kind) { queue in
            let row = try await queue.recordInstance(spooledInstance("5.2", uri: "s3://b/DICOM/5.2.dcm"))
            _ = try await queue.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10, now: at(10), leaseUntil: at(310))
            // node-1's lease expired during a long upload and node-2 claimed the row.
            #expect(try await queue.claimSpooled(spoolID: "spool-1", owner: "node-2", limit: 10, now: at(400), leaseUntil: at(700)).count == 1)
            #expect(try await !queue.settleForwarded(sopInstanceUID: "5.2", owner: "node-1", sha256: row.sha256, objectURI: row.objectURI,
                                                     storedBytes: 420, storedAt: at(410)))
            #expect(try await queue.instance(sopInstanceUID: "5.2")?.storageState == .spooled)
            // The lease is still node-2's.
            #expect(try await queue.renewClaim(sopInstanceUID: "5.2", owner: "node-2", leaseUntil: at(800)))
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func refusesASupersededRow(kind: CatalogKind) async throws {
        try await withForwardQueue(kind) { queue in
            let first = try await queue.recordInstance(spooledInstance("5.3", sha: "a", uri: "s3://b/DICOM/5.3.dcm"))
            _ = try await queue.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10, now: at(10), leaseUntil: at(310))
            // A re-send into the other key slot supersedes the object being forwarded.
            _ = try await queue.recordInstance(spooledInstance("5.3", sha: "b", uri: "s3://b/DICOM/5.3~1.dcm", at: at(5)))
            #expect(try await !queue.settleForwarded(sopInstanceUID: "5.3", owner: "node-1", sha256: first.sha256,
                                                     objectURI: first.objectURI, storedBytes: 420, storedAt: at(20)))
            let row = try await queue.instance(sopInstanceUID: "5.3")
            #expect(row?.storageState == .spooled && row?.objectURI == "s3://b/DICOM/5.3~1.dcm")
        }
    }

    /// A row received twice may have an object of the earlier receive under the sibling key in the target:
    /// only the settle under the instance lock deletes it, so the one-statement settle leaves such a row
    /// alone even when it names the object that was sent.
    @Test(arguments: CatalogKind.allCases)
    func refusesARowReceivedMoreThanOnce(kind: CatalogKind) async throws {
        try await withForwardQueue(kind) { queue in
            let row = spooledInstance("5.4", uri: "s3://b/DICOM/5.4.dcm")
            _ = try await queue.recordInstance(row)
            let again = try await queue.recordInstance(row)
            #expect(again.receiveCount == 2)
            _ = try await queue.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10, now: at(10), leaseUntil: at(310))
            #expect(try await !queue.settleForwarded(sopInstanceUID: "5.4", owner: "node-1", sha256: row.sha256, objectURI: row.objectURI,
                                                     storedBytes: 420, storedAt: at(20)))
            #expect(try await queue.instance(sopInstanceUID: "5.4")?.storageState == .spooled)
            // The settle under the lock still applies to it.
            #expect(try await queue.markStored(sopInstanceUID: "5.4", sha256: row.sha256, objectURI: row.objectURI,
                                               storedBytes: 420, storedAt: at(20)))
        }
    }
}
