import Synchronization

/// The bytes the forwarder's uploads may hold in memory at once. A forward buffers up to one read chunk
/// and, towards S3, the object (a single PUT) or two parts (the one being filled and the one in flight),
/// so without a budget the forwarder's memory grows with `concurrency` × part size when large instances
/// queue up. Each forward takes its share before it reads a byte and gives it back when it ends; a share
/// larger than the whole budget takes the whole budget, so one forward can always run.
///
/// A class around a `Mutex` rather than an actor: a cancelled waiter must be resumed from the synchronous
/// cancellation handler.
final class ForwardBudget: Sendable {
    private struct Waiter {
        var id: Int
        var bytes: Int64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var available: Int64
        var waiters: [Waiter] = []
        var nextID = 0
        /// Waiters cancelled before they were queued.
        var cancelled = Set<Int>()
    }

    let capacity: Int64
    private let state: Mutex<State>

    init(capacity: Int64) {
        self.capacity = max(1, capacity)
        self.state = Mutex(State(available: max(1, capacity)))
    }

    /// Waits until `bytes` (at most the capacity) are free and takes them; returns the bytes taken, or nil
    /// when the task was cancelled while waiting (then nothing is taken).
    func acquire(_ bytes: Int64) async -> Int64? {
        let wanted = min(max(0, bytes), capacity)
        let id: Int? = state.withLock { state in
            if state.waiters.isEmpty && state.available >= wanted {
                state.available -= wanted
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return wanted }
        let granted = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let queued = state.withLock { state -> Bool in
                    if state.cancelled.remove(id) != nil { return false }
                    state.waiters.append(Waiter(id: id, bytes: wanted, continuation: continuation))
                    return true
                }
                if !queued { continuation.resume(returning: false) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
                    state.cancelled.insert(id)
                    return nil
                }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(returning: false)
        }
        // A cancellation that came after the grant left its id behind: drop it.
        state.withLock { _ = $0.cancelled.remove(id) }
        return granted ? wanted : nil
    }

    func release(_ bytes: Int64) {
        let ready = state.withLock { state -> [Waiter] in
            state.available = min(capacity, state.available + bytes)
            // First come, first served: a large share at the head is not overtaken by small ones behind it.
            var ready: [Waiter] = []
            while let first = state.waiters.first, state.available >= first.bytes {
                state.waiters.removeFirst()
                state.available -= first.bytes
                ready.append(first)
            }
            return ready
        }
        for waiter in ready { waiter.continuation.resume(returning: true) }
    }

    var available: Int64 { state.withLock { $0.available } }
    var waiting: Int { state.withLock { $0.waiters.count } }
}
