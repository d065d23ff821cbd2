/// Serialises the commit step (object completion, metadata write, catalog upsert) of receives that share
/// a SOP Instance UID or an object: two concurrent receives of one instance, or two instances whose keys
/// resolve to the same object, end with one consistent object and row instead of interleaved writes.
public actor KeyedSerializer {
    private var tails: [String: Int] = [:]
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    public init() {}

    public func withLock<T: Sendable>(_ key: String, _ body: @Sendable () async throws -> T) async rethrows -> T {
        try await withLocks([key], body)
    }

    /// Holds every key of `keys` while `body` runs. Keys are taken in sorted order, so two callers that
    /// share several keys can never wait for each other in a cycle.
    public func withLocks<T: Sendable>(_ keys: [String], _ body: @Sendable () async throws -> T) async rethrows -> T {
        let ordered = Array(Set(keys)).sorted()
        for key in ordered { await acquire(key) }
        defer { for key in ordered.reversed() { release(key) } }
        return try await body()
    }

    private func acquire(_ key: String) async {
        if tails[key, default: 0] == 0 {
            tails[key] = 1
            return
        }
        tails[key, default: 0] += 1
        await withCheckedContinuation { continuation in
            waiters[key, default: []].append(continuation)
        }
    }

    private func release(_ key: String) {
        let remaining = tails[key, default: 1] - 1
        if remaining == 0 {
            tails[key] = nil
            waiters[key] = nil
        } else {
            tails[key] = remaining
            if var queue = waiters[key], !queue.isEmpty {
                let next = queue.removeFirst()
                waiters[key] = queue
                next.resume()
            }
        }
    }
}
