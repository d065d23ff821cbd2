import Domain
import Synchronization

/// Bounds catalog operations in time with one clock for all of them.
///
/// Racing every operation against a second child task in `Task.sleep` arms and cancels a dispatch timer
/// per catalog call (each a wake-up of dispatch's timer thread): about 6 % of the service's CPU on a
/// `GET /v1/studies`, more than the SQL text it sends. Here an operation runs in one child task while its
/// caller waits for whichever comes first: the operation's result, or `run()` finding its deadline passed.
/// `run()` wakes every `tick`, so an operation expires at most one tick after its deadline. While `run()`
/// is not running (before the catalog's service starts, after it stops) each operation gets its own timer.
///
/// On expiry the operation is cancelled and awaited (its transaction rolled back or its connection
/// closed) before `CatalogError(.unavailable)` is thrown, as a cancelled task group would.
final class CatalogDeadlines: Sendable {
    let tick: Duration
    private let state = Mutex(State())

    private struct State {
        /// `run()` loops running (0 or 1 in the service; tests may run more).
        var sweepers = 0
        var nextID = 0
        var pending: [Int: any ExpiringOperation] = [:]
    }

    init(tick: Duration = .milliseconds(100)) {
        self.tick = tick
    }

    /// Expires the operations past their deadline, every `tick`, until cancelled.
    func run() async {
        state.withLock { $0.sweepers += 1 }
        defer { state.withLock { $0.sweepers -= 1 } }
        while true {
            do {
                try await Task.sleep(for: tick)
            } catch {
                return
            }
            expire(at: .now)
        }
    }

    /// Settles every operation whose deadline is at or before `now` as expired.
    func expire(at now: ContinuousClock.Instant) {
        let expired = state.withLock { state in
            var expired: [any ExpiringOperation] = []
            for (id, operation) in state.pending where operation.deadline <= now {
                expired.append(operation)
                state.pending[id] = nil
            }
            return expired
        }
        for operation in expired { operation.expire() }
    }

    /// Operations waiting for their result or their deadline.
    var pendingCount: Int { state.withLock { $0.pending.count } }

    /// Whether a `run()` is sweeping (else each operation gets a timer of its own).
    var isSweeping: Bool { state.withLock { $0.sweepers > 0 } }

    /// `operation`'s result, or `CatalogError(.unavailable)` once `timeout` has passed.
    func withDeadline<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        let race = DeadlineRace<T>(deadline: ContinuousClock.now.advanced(by: timeout))
        let id: Int? = state.withLock { state in
            guard state.sweepers > 0 else { return nil }
            defer { state.nextID &+= 1 }
            state.pending[state.nextID] = race
            return state.nextID
        }
        guard let id else { return try await Self.withTimer(timeout, operation) }
        defer { _ = state.withLock { $0.pending.removeValue(forKey: id) } }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    race.settle(.finished(.success(try await operation())))
                } catch {
                    race.settle(.finished(.failure(error)))
                }
            }
            switch await race.outcome() {
            case .finished(let result):
                return try result.get()
            case .expired:
                group.cancelAll()
                throw Self.expired
            }
        }
    }

    static let expired = CatalogError(.unavailable, detail: "the catalog database did not answer in time")

    private enum TimerOutcome<T: Sendable>: Sendable {
        case done(T)
        case timedOut
    }

    /// The operation raced against a timer of its own, for calls while no `run()` is sweeping.
    private static func withTimer<T: Sendable>(_ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: TimerOutcome<T>.self) { group in
            group.addTask { .done(try await operation()) }
            group.addTask {
                try await Task.sleep(for: timeout)
                return .timedOut
            }
            defer { group.cancelAll() }
            switch try await group.next() {
            case .done(let value):
                return value
            case .timedOut, nil:
                throw expired
            }
        }
    }
}

/// An operation `CatalogDeadlines.run()` can expire.
private protocol ExpiringOperation: Sendable {
    var deadline: ContinuousClock.Instant { get }
    func expire()
}

/// The first of an operation's result and its expiry, handed once to the caller waiting for it.
private final class DeadlineRace<T: Sendable>: ExpiringOperation {
    enum Outcome: Sendable {
        case finished(Result<T, any Error>)
        case expired
    }

    private enum State {
        case pending
        case waiting(CheckedContinuation<Outcome, Never>)
        case settled(Outcome)
        case delivered
    }

    let deadline: ContinuousClock.Instant
    private let state = Mutex(State.pending)

    init(deadline: ContinuousClock.Instant) {
        self.deadline = deadline
    }

    func expire() { settle(.expired) }

    /// The first outcome wins; later ones are dropped.
    func settle(_ outcome: Outcome) {
        let waiter: CheckedContinuation<Outcome, Never>? = state.withLock { state in
            switch state {
            case .pending:
                state = .settled(outcome)
                return nil
            case .waiting(let continuation):
                state = .delivered
                return continuation
            case .settled, .delivered:
                return nil
            }
        }
        waiter?.resume(returning: outcome)
    }

    /// Waits for the first outcome (at once if it is already there). Called once.
    func outcome() async -> Outcome {
        await withCheckedContinuation { continuation in
            let ready: Outcome? = state.withLock { state in
                switch state {
                case .pending:
                    state = .waiting(continuation)
                    return nil
                case .settled(let outcome):
                    state = .delivered
                    return outcome
                case .waiting, .delivered:
                    preconditionFailure("DeadlineRace.outcome() called twice")
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
