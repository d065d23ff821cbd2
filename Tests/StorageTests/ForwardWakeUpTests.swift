@testable import Storage
import Testing

/// The signal a `spooled` commit gives the forwarder: kept when nobody waits, coalesced, and a wait
/// ends on a signal, on its interval, or on cancellation.
@Suite("Forwarder wake-up", .timeLimit(.minutes(1)))
struct ForwardWakeUpTests {
    /// Waits (bounded) until `count` waits are parked on `wakeUp`.
    private func waitUntilWaiting(_ wakeUp: ForwardWakeUp, count: Int) async throws {
        for _ in 0..<2_000 where wakeUp.waiting < count {
            try await Task.sleep(for: .milliseconds(5))
        }
        try #require(wakeUp.waiting == count)
    }

    @Test func aSignalWithNobodyWaitingEndsTheNextWait() async {
        let wakeUp = ForwardWakeUp()
        wakeUp.signal()
        // Without the kept signal this wait would last until the suite's time limit.
        await wakeUp.wait()
        #expect(wakeUp.waiting == 0)
    }

    @Test func aSignalEndsAWaitInProgress() async throws {
        let wakeUp = ForwardWakeUp()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await wakeUp.wait(upTo: .seconds(3600)) }
            try await waitUntilWaiting(wakeUp, count: 1)
            wakeUp.signal()
            try await group.waitForAll()
        }
        #expect(wakeUp.waiting == 0)
    }

    @Test func signalsBeforeAWaitCountAsOne() async throws {
        let wakeUp = ForwardWakeUp()
        wakeUp.signal()
        wakeUp.signal()
        await wakeUp.wait()
        // The second signal was folded into the first: this wait parks until a new one.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await wakeUp.wait() }
            try await waitUntilWaiting(wakeUp, count: 1)
            wakeUp.signal()
            try await group.waitForAll()
        }
    }

    @Test func aWaitEndsAfterItsIntervalWithoutASignal() async {
        let wakeUp = ForwardWakeUp()
        await wakeUp.wait(upTo: .milliseconds(10))
        #expect(wakeUp.waiting == 0)
        // The interval's end consumed nothing: a later signal is still kept for the next wait.
        wakeUp.signal()
        await wakeUp.wait()
    }

    @Test func cancellationEndsAWait() async throws {
        let wakeUp = ForwardWakeUp()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await wakeUp.wait() }
            try await waitUntilWaiting(wakeUp, count: 1)
            group.cancelAll()
            try await group.waitForAll()
        }
        #expect(wakeUp.waiting == 0)
    }
}
