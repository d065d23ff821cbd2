import NIOCore
import Testing

@testable import Storage

/// The spool's in-memory handoff to the forwarder: an entry is handed over only for the SHA-256 and length
/// it was deposited with, at most once; receives and entries share one capacity, the oldest entries giving
/// way to a receive; a dropped or replaced path hands nothing stale over.
@Suite struct SpoolHandoffTests {
    private func handed(_ text: String, metadata: (String, String)? = nil) -> SpoolHandoff.Handed {
        let body = ByteBuffer(string: text)
        return SpoolHandoff.Handed(part10: [body], length: Int64(body.readableBytes),
                                   metadata: metadata.map { ($0.0, ByteBuffer(string: $0.1)) })
    }

    /// Reserves the bytes of `text` as a receive does, then deposits them.
    private func deposit(_ handoff: SpoolHandoff, path: String, sha256: String, _ text: String,
                         metadata: (String, String)? = nil) -> Bool {
        let entry = handed(text, metadata: metadata)
        guard handoff.reserve(entry.length) else { return false }
        handoff.deposit(path: path, sha256: sha256, handed: entry, reserved: entry.length)
        return true
    }

    @Test func anEntryIsHandedOverOnceForItsDigestAndLength() {
        let handoff = SpoolHandoff(capacity: 1_000, objectLimit: 100)
        #expect(deposit(handoff, path: "/s/a.dcm", sha256: "aa", "0123456789", metadata: ("/s/a.json", "{}")))
        #expect(handoff.inUse == 12)
        let taken = handoff.take(path: "/s/a.dcm", sha256: "aa", length: 10)
        #expect(taken?.part10.first.map { String(buffer: $0) } == "0123456789")
        #expect(taken?.metadata?.path == "/s/a.json")
        #expect(handoff.take(path: "/s/a.dcm", sha256: "aa", length: 10) == nil)
        #expect(handoff.inUse == 0)
    }

    @Test func anEntryOfAnotherInstanceIsDroppedNotHandedOver() {
        let handoff = SpoolHandoff(capacity: 1_000, objectLimit: 100)
        #expect(deposit(handoff, path: "/s/a.dcm", sha256: "aa", "0123456789"))
        // The row names other bytes (a later receive on another node wrote the file): nothing is handed
        // over, and the entry is gone.
        #expect(handoff.take(path: "/s/a.dcm", sha256: "bb", length: 10) == nil)
        #expect(handoff.take(path: "/s/a.dcm", sha256: "aa", length: 10) == nil)
        #expect(deposit(handoff, path: "/s/b.dcm", sha256: "cc", "0123456789"))
        #expect(handoff.take(path: "/s/b.dcm", sha256: "cc", length: 9) == nil)
        #expect(handoff.inUse == 0)
    }

    @Test func aDroppedOrReplacedPathHandsNothingStaleOver() {
        let handoff = SpoolHandoff(capacity: 1_000, objectLimit: 100)
        #expect(deposit(handoff, path: "/s/a.dcm", sha256: "aa", "first"))
        handoff.drop(path: "/s/a.dcm")
        #expect(handoff.take(path: "/s/a.dcm", sha256: "aa", length: 5) == nil)
        #expect(deposit(handoff, path: "/s/a.dcm", sha256: "aa", "first"))
        #expect(deposit(handoff, path: "/s/a.dcm", sha256: "bb", "other"))
        #expect(handoff.inUse == 5)
        #expect(handoff.take(path: "/s/a.dcm", sha256: "aa", length: 5) == nil)
        #expect(handoff.inUse == 0)
    }

    @Test func aReceiveEvictsTheOldestEntriesAndNeverExceedsTheCapacity() {
        let handoff = SpoolHandoff(capacity: 30, objectLimit: 30)
        #expect(deposit(handoff, path: "/s/1", sha256: "1", "0123456789"))
        #expect(deposit(handoff, path: "/s/2", sha256: "2", "0123456789"))
        #expect(deposit(handoff, path: "/s/3", sha256: "3", "0123456789"))
        // A receive needs 15 bytes: the two oldest entries make room.
        #expect(handoff.reserve(15))
        #expect(handoff.inUse == 25)
        #expect(handoff.take(path: "/s/1", sha256: "1", length: 10) == nil)
        #expect(handoff.take(path: "/s/2", sha256: "2", length: 10) == nil)
        // Receives in flight are never evicted: 15 more do not fit beside the 15 reserved.
        #expect(handoff.take(path: "/s/3", sha256: "3", length: 10) != nil)
        #expect(!handoff.reserve(16))
        handoff.release(15)
        #expect(handoff.inUse == 0)
    }

    @Test func theEvictionOrderStaysBoundedWhenEntriesAreTakenOutOfOrder() {
        let handoff = SpoolHandoff(capacity: 1 << 20, objectLimit: 100)
        // One entry is never taken (a row another node forwards); thousands behind it are.
        #expect(deposit(handoff, path: "/s/kept", sha256: "k", "kept"))
        for index in 0..<5_000 {
            #expect(deposit(handoff, path: "/s/\(index)", sha256: "\(index)", "x"))
            #expect(handoff.take(path: "/s/\(index)", sha256: "\(index)", length: 1) != nil)
        }
        #expect(handoff.orderCount <= 4 + 64 + 1)
        #expect(handoff.take(path: "/s/kept", sha256: "k", length: 4) != nil)
    }
}
