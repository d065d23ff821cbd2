import Domain
import Foundation
@testable import Listener
import Logging
import NIOConcurrencyHelpers
import Testing

/// Notifications of a shared catalog (`ListenerChanges`) make the supervisor reconcile at once; polling is
/// set to an hour here, so nothing else can explain a change being applied.
@Suite(.serialized) struct ListenerSupervisorNotificationTests {
    /// Driven by the test: `notify()` calls every watcher, as a committed listener change does.
    final class ManualListenerChanges: ListenerChanges {
        private let watchers = NIOLockedValueBox<[@Sendable () -> Void]>([])

        func watchListenerChanges(_ changed: @escaping @Sendable () -> Void) async {
            watchers.withLockedValue { $0.append(changed) }
            while !Task.isCancelled {
                do { try await Task.sleep(for: .seconds(3600)) } catch { return }
            }
        }

        func notify() {
            for watcher in watchers.withLockedValue({ $0 }) { watcher() }
        }

        var isWatched: Bool { watchers.withLockedValue { !$0.isEmpty } }
    }

    struct NotReached: Error, CustomStringConvertible {
        var description: String
    }

    /// Polls `condition` every 20 ms; fails after a generous bound instead of hanging.
    func waitUntil(_ what: String, _ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while ContinuousClock.now < deadline {
            if await condition() { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw NotReached(description: "not reached: \(what)")
    }

    @Test func aNotifiedChangeIsAppliedWithoutWaitingForThePoll() async throws {
        let store = InMemoryListenerStore()
        let changes = ManualListenerChanges()
        let supervisor = ListenerSupervisor(
            store: store, makeSink: { _ in RecordingSink() }, pollInterval: .seconds(3600), shutdownGracePeriod: .seconds(5),
            changes: changes, logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await supervisor.run() }
            await supervisor.reconcileNow()
            try await waitUntil("the supervisor watching for changes") { changes.isWatched }

            // Another node creates a listener: this node's catalog row appears, then the notification.
            let config = ListenerConfig(name: "notified", port: 0, bindAddress: "127.0.0.1")
            try await store.createListener(config)
            changes.notify()
            try await waitUntil("the listener bound") { await supervisor.localAddress(listenerID: config.id) != nil }

            try await store.deleteListener(id: config.id)
            changes.notify()
            try await waitUntil("the listener stopped") { await supervisor.localAddress(listenerID: config.id) == nil }
            group.cancelAll()
        }
    }
}
