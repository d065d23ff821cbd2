import Synchronization

/// Tells the forwarder that a receive on this node committed a `spooled` row, so it claims the row at
/// once instead of at its next look at the queue (`Forwarder.Options.pollInterval`). The poll stays: rows
/// spooled by another node sharing the volume, and rows whose backoff ran out, are found by it.
///
/// Signals do not queue up: any number of them before the next `wait` end that one wait, since one claim
/// takes every row committed so far. A signal that arrives while nobody waits is kept for the next wait,
/// so a row committed between a claim and the wait that follows it is not left for the poll.
///
/// A class around a `Mutex` rather than an actor: `signal()` is called on the receive path after each
/// commit, and a cancelled wait must be resumed from the synchronous cancellation handler. Not an
/// `AsyncStream` (`bufferingNewest(1)` would keep signals the same way): cancelling its pending `next()`,
/// which `wait(upTo:)` does whenever the interval ends first, finishes the stream for good.
final class ForwardWakeUp: Sendable {
    private struct State {
        var pending = false
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextID = 0
        /// Waits cancelled before their continuation was stored.
        var cancelled = Set<Int>()
    }

    private let state = Mutex(State())

    /// Waits parked now (tests use it to know the forwarder has found the queue empty).
    var waiting: Int { state.withLock { $0.waiters.count } }

    /// Ends every wait in progress, or the next one when nobody waits.
    func signal() {
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.waiters.isEmpty else {
                state.pending = true
                return []
            }
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for continuation in woken { continuation.resume() }
    }

    /// Returns at the next signal (at once when one came since the last wait), or when the task is cancelled.
    func wait() async {
        let id: Int? = state.withLock { state in
            if state.pending {
                state.pending = false
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let stored = state.withLock { state -> Bool in
                    if state.cancelled.remove(id) != nil { return false }
                    state.waiters[id] = continuation
                    return true
                }
                if !stored { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let waiter = state.waiters.removeValue(forKey: id) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return waiter
            }
            waiter?.resume()
        }
        // A cancellation that came after the signal left its id behind: drop it.
        state.withLock { _ = $0.cancelled.remove(id) }
    }

    /// Returns at the next signal or after `interval`, whichever comes first.
    func wait(upTo interval: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.wait() }
            group.addTask {
                do { try await Task.sleep(for: interval) } catch {}
            }
            await group.next()
            group.cancelAll()
        }
    }
}
