import Synchronization

/// The queue behind `SQLiteCatalogDatabase.write`: at most one batch runs at a time; whoever finds none
/// running leads, runs its own write with everything queued, and hands the lead to the next waiter.
final class GroupCommit: Sendable {
    typealias Body = @Sendable (any SQLSession) async throws -> any Sendable

    /// Writes per transaction at most; the rest wait for the next one.
    static let maximumBatch = 64

    private enum Signal {
        case done(Result<any Sendable, any Error>)
        case lead
    }

    private struct Waiter {
        let body: Body
        let continuation: CheckedContinuation<Signal, Never>
    }

    private struct State {
        var leading = false
        var waiting: [Waiter] = []
    }

    private let state = Mutex(State())

    func submit(_ body: @escaping Body,
                run: @Sendable ([Body]) async -> [Result<any Sendable, any Error>]) async throws -> any Sendable {
        let signal = await withCheckedContinuation { (continuation: CheckedContinuation<Signal, Never>) in
            let lead = state.withLock { state -> Bool in
                if state.leading {
                    state.waiting.append(Waiter(body: body, continuation: continuation))
                    return false
                }
                state.leading = true
                return true
            }
            if lead { continuation.resume(returning: .lead) }
        }
        switch signal {
        case .done(let result):
            return try result.get()
        case .lead:
            let others = state.withLock { state -> [Waiter] in
                let count = min(state.waiting.count, Self.maximumBatch - 1)
                defer { state.waiting.removeFirst(count) }
                return Array(state.waiting.prefix(count))
            }
            let results = await run([body] + others.map(\.body))
            for (waiter, result) in zip(others, results.dropFirst()) {
                waiter.continuation.resume(returning: .done(result))
            }
            // Hand the lead on (the next waiter runs its own write with whatever queued meanwhile), so
            // this caller answers now instead of serving later batches.
            let next = state.withLock { state -> Waiter? in
                if state.waiting.isEmpty {
                    state.leading = false
                    return nil
                }
                return state.waiting.removeFirst()
            }
            next?.continuation.resume(returning: .lead)
            return try results[0].get()
        }
    }
}
