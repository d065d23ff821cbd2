import Domain
import Foundation
@testable import Listener
import Testing
import TestSupport

/// The DIMSE timeout (`limits.dimseTimeoutSeconds`) when the peer goes silent in the middle of a C-STORE data set.
/// (An idle, fully established association is covered by `AssociationLifecycleTests.idlePeerIsAbortedAfterTheDIMSETimeout`.)
@Suite("DIMSE timeout")
struct DIMSETimeoutTests {
    @Test func silentPeerMidInstanceIsAbortedAndTheStoreCancelled() async throws {
        let directory = try TemporaryDirectory()
        let (instances, _) = try await makeInstances(in: directory.path("in"), count: 1, pixelBytes: 100_000)
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.limits.dimseTimeoutSeconds = 1 }, sink: sink) { port, _ in
            // C-STORE-RQ and the first 4 KiB of the data set, then nothing; reports the PDUs until our close.
            let result = try await python("scu.py", ["awaitabort", "--port", "\(port)", "--file", instances[0].path])
            let lines = result.stdout.split(separator: "\n")
            let out = try #require(lines.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any],
                                   "scu.py awaitabort failed (needs python3 with pynetdicom, pydicom): \(result.stderr)")
            #expect(out["started"] as? Bool == true)
            #expect(out["received"] as? [Int] == [7], "A-ABORT, then close: \(out)")
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.begun.map(\.affectedSOPInstanceUID) == [instances[0].sopInstanceUID])
        #expect(sink.cancelled.map(\.affectedSOPInstanceUID) == [instances[0].sopInstanceUID])
        #expect(sink.stored.isEmpty)
        #expect(sink.ended.map(\.1) == [.aborted])
    }
}
