import Domain
import Foundation
import Synchronization

/// The listeners the forwarder read lately, by id, each kept for `lifetime`: a burst of spooled instances
/// of one listener asks the catalog once instead of once per instance. An edit of the listener's target
/// reaches the forwarder within `lifetime`; until then an upload still goes to the target the row's
/// object URI names (the forwarder checks every URI against the target it uploads to).
final class ForwardListenerCache: Sendable {
    private struct Entry {
        var listener: ListenerConfig?
        var readAt: ContinuousClock.Instant
    }

    let lifetime: Duration
    private let entries = Mutex<[UUID: Entry]>([:])

    init(lifetime: Duration) {
        self.lifetime = lifetime
    }

    /// The listener `id` as read within `lifetime`, or read now from `store`.
    func listener(id: UUID, from store: any ListenerStore) async throws -> ListenerConfig? {
        let now = ContinuousClock.now
        let lifetime = self.lifetime
        let cached = entries.withLock { entries -> Entry? in
            guard let entry = entries[id], now - entry.readAt < lifetime else { return nil }
            return entry
        }
        if let cached { return cached.listener }
        let listener = try await store.listener(id: id)
        entries.withLock { entries in
            // Listeners are few; entries of deleted ones go when they age.
            entries = entries.filter { now - $0.value.readAt < lifetime }
            entries[id] = Entry(listener: listener, readAt: now)
        }
        return listener
    }
}
