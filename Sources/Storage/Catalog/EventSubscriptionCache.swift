import Domain
import Foundation
import Synchronization

/// The catalog's in-memory copy of which events some sink wants, and of listener names, so that the
/// C-STORE and association-end transactions decide whether to write an event without a query (a listener
/// that no sink listens to pays one lock and a set lookup per instance).
///
/// Kept fresh by: every sink change through this catalog (at once), `SQLCatalog.refreshEventSubscriptions()`
/// (the dispatcher calls it every round, which is how sink changes made on another node arrive), and the
/// first use (loaded before it is trusted). Refreshes are numbered when they start reading, and a refresh
/// that started before the one already applied is dropped, so a slow read never puts back an older set.
final class EventSubscriptionCache: Sendable {
    struct Snapshot: Sendable {
        var subscriptions: EventSubscriptionSet
        var listenerNames: [UUID: String]
    }

    private struct State {
        var snapshot: Snapshot?
        var started = 0
        var applied = 0
    }

    private let state = Mutex(State())
    /// The CloudEvents `source` of the events the catalog writes on the ingest path.
    let source: String

    init(source: String) {
        self.source = source
    }

    /// Nil until the first refresh has been applied.
    var snapshot: Snapshot? {
        state.withLock { $0.snapshot }
    }

    /// A ticket to pass to `apply` once the data it read is in hand: take it before reading.
    func beginRefresh() -> Int {
        state.withLock { state in
            state.started += 1
            return state.started
        }
    }

    func apply(_ snapshot: Snapshot, ticket: Int) {
        state.withLock { state in
            guard ticket > state.applied else { return }
            state.applied = ticket
            state.snapshot = snapshot
        }
    }
}
