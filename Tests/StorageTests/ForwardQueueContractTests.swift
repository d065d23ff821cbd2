import Domain
import Foundation
import Storage
import Testing

/// The forwarder's queue (`ForwardQueue`) over both catalogs: leases, takeover after expiry, retry times,
/// and state changes that only apply while the row still names the object that was read.
@Suite("Forward queue contract")
struct ForwardQueueContractTests {
    @Test(arguments: CatalogKind.allCases)
    func leasesAreExclusiveUntilTheyExpire(kind: CatalogKind) async throws {
        try await withForwardQueue(kind) { queue in
            let a = try await queue.recordInstance(spooledInstance("1.1", at: at(0)))
            _ = try await queue.recordInstance(spooledInstance("1.2", spool: "spool-2", at: at(1)))
            _ = try await queue.recordInstance(makeInstance(sop: "1.3", at: at(2)))  // stored
            #expect(a.storageState == .spooled && a.storedAt == nil && a.spoolID == "spool-1")

            let first = try await queue.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10, now: at(10), leaseUntil: at(310))
            #expect(first.map(\.record.sopInstanceUID) == ["1.1"])
            #expect(first.first?.failedAttempts == 0)
            #expect(try await queue.claimSpooled(spoolID: "spool-1", owner: "node-2", limit: 10, now: at(20), leaseUntil: at(320)).isEmpty)
            // A live node renews its lease during a long upload; only the holder can.
            #expect(try await queue.renewClaim(sopInstanceUID: "1.1", owner: "node-1", leaseUntil: at(400)))
            #expect(try await !queue.renewClaim(sopInstanceUID: "1.1", owner: "node-2", leaseUntil: at(900)))
            #expect(try await queue.claimSpooled(spoolID: "spool-1", owner: "node-2", limit: 10, now: at(311), leaseUntil: at(611)).isEmpty)
            // A dead node's lease expires: another node takes the row over.
            let takeover = try await queue.claimSpooled(spoolID: "spool-1", owner: "node-2", limit: 10, now: at(400), leaseUntil: at(700))
            #expect(takeover.map(\.record.sopInstanceUID) == ["1.1"])

            let figures = try await queue.spoolFigures()
            #expect(figures.instances == 2 && figures.bytes == 2000 && figures.oldestReceivedAt == at(0) && figures.lost == 0)
            #expect(try await queue.stats().spool == figures)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func markStoredOnlyWhileTheRowNamesTheObject(kind: CatalogKind) async throws {
        try await withForwardQueue(kind) { queue in
            let first = try await queue.recordInstance(spooledInstance("2.1", sha: "a", uri: "s3://b/DICOM/2.1.dcm"))
            _ = try await queue.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10, now: at(10), leaseUntil: at(310))
            // A later receive of the same UID supersedes the spooled one (the other key slot).
            _ = try await queue.recordInstance(spooledInstance("2.1", sha: "b", uri: "s3://b/DICOM/2.1~1.dcm", at: at(5)))
            #expect(try await !queue.markStored(sopInstanceUID: "2.1", sha256: first.sha256, objectURI: first.objectURI,
                                                storedBytes: 10, storedAt: at(20)))
            #expect(try await queue.instance(sopInstanceUID: "2.1")?.storageState == .spooled)
            // The re-send kept the lease: only its holder gives it back, then the newest version is claimed.
            #expect(try await queue.claimSpooled(spoolID: "spool-1", owner: "node-2", limit: 10, now: at(30), leaseUntil: at(330)).isEmpty)
            try await queue.releaseClaim(sopInstanceUID: "2.1", owner: "node-1", retryAt: at(30), failed: false)
            let again = try await queue.claimSpooled(spoolID: "spool-1", owner: "node-2", limit: 10, now: at(30), leaseUntil: at(330))
            #expect(again.map(\.record.sha256) == [String(repeating: "b", count: 64)])
            #expect(try await queue.markStored(sopInstanceUID: "2.1", sha256: String(repeating: "b", count: 64),
                                               objectURI: "s3://b/DICOM/2.1~1.dcm", storedBytes: 400, storedAt: at(40)))
            let row = try await queue.instance(sopInstanceUID: "2.1")
            #expect(row?.storageState == .stored && row?.storedAt == at(40) && row?.storedBytes == 400 && row?.spoolID == nil)
            #expect(try await queue.claimSpooled(spoolID: "spool-1", owner: "node-2", limit: 10, now: at(1000), leaseUntil: at(1300)).isEmpty)
            #expect(try await queue.spoolFigures() == SpoolFigures.empty)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func failedAttemptsWaitForTheirRetryTime(kind: CatalogKind) async throws {
        try await withForwardQueue(kind) { queue in
            _ = try await queue.recordInstance(spooledInstance("3.1"))
            _ = try await queue.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10, now: at(10), leaseUntil: at(310))
            try await queue.releaseClaim(sopInstanceUID: "3.1", owner: "node-1", retryAt: at(15), failed: true)
            #expect(try await queue.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10, now: at(14), leaseUntil: at(314)).isEmpty)
            let retried = try await queue.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10, now: at(15), leaseUntil: at(315))
            #expect(retried.first?.failedAttempts == 1)
            // A restarted node releases what its previous life held.
            try await queue.releaseClaims(owner: "node-1")
            #expect(try await queue.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10, now: at(16), leaseUntil: at(316)).count == 1)
            #expect(try await queue.spooledLocations(spoolID: "spool-1").map(\.objectURI) == ["file:///data/DICOM/3.1.dcm"])
            #expect(try await queue.spooledLocations(spoolID: "spool-2").isEmpty)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func lostRowsAreKeptAndCounted(kind: CatalogKind) async throws {
        try await withForwardQueue(kind) { queue in
            let row = try await queue.recordInstance(spooledInstance("4.1"))
            #expect(try await !queue.markLost(sopInstanceUID: "4.1", sha256: String(repeating: "f", count: 64), objectURI: row.objectURI))
            #expect(try await queue.markLost(sopInstanceUID: "4.1", sha256: row.sha256, objectURI: row.objectURI))
            #expect(try await queue.instance(sopInstanceUID: "4.1")?.storageState == .lost)
            #expect(try await queue.spoolFigures().lost == 1)
            #expect(try await queue.claimSpooled(spoolID: "spool-1", owner: "node-1", limit: 10, now: at(10), leaseUntil: at(310)).isEmpty)
        }
    }
}
