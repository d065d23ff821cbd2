import Domain
import Foundation
@testable import Listener
import Testing
import TestSupport

/// `limits.cstoreDelayMs` (the seed's throttle): the association sleeps that long before it writes each
/// C-STORE-RSP (after the sink has answered), in its own task. C-ECHO responses are not delayed, and other
/// associations are not held up.
@Suite("C-STORE response delay", .serialized)
struct CStoreDelayTests {
    /// Lower bounds only: each response arrives no earlier than the delay after its request started.
    @Test("the C-STORE-RSP waits cstoreDelayMs", arguments: [400, 0])
    func responseWaitsForTheDelay(delayMs: Int) async throws {
        let directory = try TemporaryDirectory()
        let (instances, manifest) = try await makeInstances(in: directory.path("in"), count: 2)
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.limits.cstoreDelayMs = delayMs }, sink: sink) { port, _ in
            let result = try await python("scu.py", ["store", "--port", "\(port)", "--files", manifest])
            let out = try #require(result.jsonObject, "\(result.stderr)")
            #expect(out["statuses"] as? [Int] == [0, 0], "\(out)")
            let storeMs = try #require(out["storeMs"] as? [Double], "\(out)")
            #expect(storeMs.count == 2)
            if delayMs > 0 {
                #expect(storeMs.allSatisfy { $0 >= Double(delayMs) }, "\(storeMs)")
            }
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.stored.map(\.request.affectedSOPInstanceUID) == instances.map(\.sopInstanceUID))
        #expect(sink.ended.map(\.1) == [.released])
    }

    /// With the longest delay the rules allow (60 s), one association waits on its C-STORE-RSP while a second
    /// association's C-ECHO completes; the first one still has no response when the listener stops (A-ABORT
    /// only). Ordering, not timing: a shared or echo-wide delay would make the echo wait 60 s, past the point
    /// where the first response would have gone out.
    @Test func delayHoldsOnlyItsOwnAssociationAndNotEchoes() async throws {
        let directory = try TemporaryDirectory()
        let (instances, _) = try await makeInstances(in: directory.path("in"), count: 1, pixelBytes: 20_000)
        let sink = RecordingSink()
        let config = listenerConfig { $0.limits.cstoreDelayMs = ListenerValidation.cstoreDelayMsRange.upperBound }
        try await withListener(config, sink: sink, grace: .zero) { port, listener in
            let waiting = try PeerProcess(["storewait", "--port", "\(port)", "--file", instances[0].path],
                                          directory: directory.url.path)
            // The sink has answered: the association is now in its delay before the response.
            #expect(await eventually { sink.stored.count == 1 })

            let echo = try await python("scu.py", ["echo", "--port", "\(port)"])
            let out = try #require(echo.jsonObject, "\(echo.stderr)")
            #expect(out["status"] as? Int == 0, "\(out)")
            #expect(out["released"] as? Bool == true)
            #expect(await eventually { sink.ended.count == 1 })
            #expect(waiting.process.isRunning)

            await listener.stop(gracePeriod: .zero)
            let result = try #require(await waiting.result())
            // No P-DATA-TF (the C-STORE-RSP) before the A-ABORT of the shutdown.
            #expect(result["received"] as? [[String: Int]] == [["type": 7, "source": 0, "reason": 0]], "\(result)")
        }
        #expect(sink.stored.map(\.request.affectedSOPInstanceUID) == [instances[0].sopInstanceUID])
        #expect(sink.ended.map(\.1).sorted { $0.rawValue < $1.rawValue } == [.aborted, .released])
    }
}
