import Domain
import Foundation
@testable import Listener
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing

@Suite("ReconcilePlan")
struct ReconcilePlanTests {
    let a = ListenerConfig(name: "a", port: 11112)
    let b = ListenerConfig(name: "b", port: 11113)

    @Test func startsEnabledListenersThatAreNotRunning() {
        var disabled = b
        disabled.enabled = false
        let plan = ReconcilePlan(desired: [a, disabled], running: [:])
        #expect(plan.start.map(\.id) == [a.id])
        #expect(plan.stop.isEmpty && plan.update.isEmpty)
    }

    @Test func stopsDisabledAndDeleted() {
        var disabled = a
        disabled.enabled = false
        let plan = ReconcilePlan(desired: [disabled], running: [a.id: a, b.id: b])
        #expect(Set(plan.stop) == [a.id, b.id])
        #expect(plan.start.isEmpty && plan.update.isEmpty)
    }

    @Test("a change of port, bind address or TLS rebinds", arguments: [0, 1, 2])
    func bindingChangeRebinds(field: Int) {
        var changed = a
        switch field {
        case 0: changed.port = 4242
        case 1: changed.bindAddress = "127.0.0.1"
        default: changed.tls = TLSSettings(certificateFile: "/c.pem", privateKeyFile: "/k.pem")
        }
        let plan = ReconcilePlan(desired: [changed], running: [a.id: a])
        #expect(plan.stop == [a.id])
        #expect(plan.start == [changed])
        #expect(plan.update.isEmpty)
    }

    @Test func ruleChangesUpdateInPlace() {
        var changed = a
        changed.aeTitle = "OTHER"
        changed.allowedCallingAETitles = ["MOD1"]
        changed.limits.maxAssociations = 3
        changed.storage.gzip = false
        let plan = ReconcilePlan(desired: [changed], running: [a.id: a])
        #expect(plan.update == [changed])
        #expect(plan.stop.isEmpty && plan.start.isEmpty)
    }

    @Test func stateAndTimestampsAreNotChanges() {
        var same = a
        same.state = .running
        same.error = "x"
        same.updatedAt = Date(timeIntervalSinceNow: 60)
        let plan = ReconcilePlan(desired: [same], running: [a.id: a])
        #expect(plan == ReconcilePlan(desired: [], running: [:]))
    }
}

@Suite("ListenerSupervisor", .serialized)
struct ListenerSupervisorTests {
    /// Runs a supervisor over `store` while `body` runs, then cancels it.
    func withSupervisor(
        _ store: InMemoryListenerStore, sink: RecordingSink = RecordingSink(), grace: Duration = .seconds(5),
        _ body: (ListenerSupervisor) async throws -> Void
    ) async throws {
        let supervisor = ListenerSupervisor(
            store: store, makeSink: { _ in sink }, pollInterval: .seconds(3600), shutdownGracePeriod: grace, logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await supervisor.run() }
            await supervisor.reconcileNow()
            try await body(supervisor)
            group.cancelAll()
        }
    }

    func port(_ supervisor: ListenerSupervisor, _ id: UUID) async throws -> Int {
        try #require(await supervisor.localAddress(listenerID: id)?.port)
    }

    @Test func enabledListenerIsBoundAndRunning() async throws {
        let config = ListenerConfig(name: "one", port: 0, bindAddress: "127.0.0.1")
        let store = InMemoryListenerStore([config])
        try await withSupervisor(store) { supervisor in
            let state = await store.state(config.id)
            #expect(state?.0 == .running)
            #expect(state?.1 == nil)
            let port_config = try await port(supervisor, config.id)
            #expect(await canConnect(port: port_config))
        }
    }

    @Test func disabledAndDeletedListenersCloseTheirPort() async throws {
        let one = ListenerConfig(name: "one", port: 0, bindAddress: "127.0.0.1")
        let two = ListenerConfig(name: "two", port: 0, bindAddress: "127.0.0.1")
        let store = InMemoryListenerStore([one, two])
        try await withSupervisor(store) { supervisor in
            let portOne = try await port(supervisor, one.id)
            let portTwo = try await port(supervisor, two.id)
            var disabled = one
            disabled.enabled = false
            try await store.updateListener(disabled)
            try await store.deleteListener(id: two.id)
            await supervisor.reconcileNow()
            #expect(await store.state(one.id)?.0 == .stopped)
            #expect(await supervisor.localAddress(listenerID: one.id) == nil)
            #expect(await supervisor.localAddress(listenerID: two.id) == nil)
            #expect(await !canConnect(port: portOne))
            #expect(await !canConnect(port: portTwo))

            disabled.enabled = true
            try await store.updateListener(disabled)
            await supervisor.reconcileNow()
            #expect(await store.state(one.id)?.0 == .running)
        }
    }

    @Test func bindFailureFailsOnlyThatListener() async throws {
        // Hold a port so the listener cannot bind it.
        let blocker = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).get()
        let taken = try #require(blocker.localAddress?.port)
        let bad = ListenerConfig(name: "bad", port: taken, bindAddress: "127.0.0.1")
        let good = ListenerConfig(name: "good", port: 0, bindAddress: "127.0.0.1")
        let store = InMemoryListenerStore([bad, good])
        try await withSupervisor(store) { supervisor in
            let badState = try #require(await store.state(bad.id))
            #expect(badState.0 == .failed)
            #expect(badState.1?.contains("bind") == true)
            #expect(await store.state(good.id)?.0 == .running)
            let port_good = try await port(supervisor, good.id)
            #expect(await canConnect(port: port_good))

            // Unchanged failure: retried, but the state is not rewritten.
            let writes = await store.stateWriteCount(bad.id)
            await supervisor.reconcileNow()
            #expect(await store.stateWriteCount(bad.id) == writes)

            // Once the port is free, the next reconcile binds it.
            try await blocker.close()
            await supervisor.reconcileNow()
            #expect(await store.state(bad.id)?.0 == .running)
            #expect(await store.state(bad.id)?.1 == nil)
        }
    }

    @Test("unusable configurations fail the listener", arguments: [0, 1, 2])
    func unusableConfiguration(kind: Int) async throws {
        var config = ListenerConfig(name: "broken", port: 0, bindAddress: "127.0.0.1")
        switch kind {
        case 0: config.allowedPeers = ["10.0.0.0/40"]
        case 1: config.tls = TLSSettings(certificateFile: "/nonexistent/cert.pem", privateKeyFile: "/nonexistent/key.pem")
        default: config.bindAddress = "not-an-address.invalid"
        }
        let store = InMemoryListenerStore([config])
        try await withSupervisor(store) { supervisor in
            let state = try #require(await store.state(config.id))
            #expect(state.0 == .failed)
            #expect(state.1?.isEmpty == false)
            #expect(await supervisor.localAddress(listenerID: config.id) == nil)
        }
    }

    @Test func portChangeRebindsAndRuleChangeDoesNot() async throws {
        let config = ListenerConfig(name: "one", port: 0, bindAddress: "127.0.0.1")
        let store = InMemoryListenerStore([config])
        try await withSupervisor(store) { supervisor in
            let first = try await port(supervisor, config.id)

            var rules = config
            rules.aeTitle = "NEWTITLE"
            rules.limits.maxAssociations = 2
            try await store.updateListener(rules)
            await supervisor.reconcileNow()
            #expect(try await port(supervisor, config.id) == first)

            let blocker = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .bind(host: "127.0.0.1", port: 0).get()
            let newPort = try #require(blocker.localAddress?.port)
            try await blocker.close()
            var moved = rules
            moved.port = newPort
            try await store.updateListener(moved)
            await supervisor.reconcileNow()
            #expect(try await port(supervisor, config.id) == newPort)
            #expect(await !canConnect(port: first))
            #expect(await canConnect(port: newPort))
            #expect(await store.state(config.id)?.0 == .running)
        }
    }

    @Test func gracefulShutdownStopsListenersAndReturns() async throws {
        let config = ListenerConfig(name: "one", port: 0, bindAddress: "127.0.0.1")
        let store = InMemoryListenerStore([config])
        let supervisor = ListenerSupervisor(
            store: store, makeSink: { _ in RecordingSink() }, pollInterval: .seconds(3600),
            shutdownGracePeriod: .seconds(5), logger: testLogger)
        let group = ServiceGroup(configuration: .init(services: [supervisor], logger: testLogger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            await supervisor.reconcileNow()
            let port = try #require(await supervisor.localAddress(listenerID: config.id)?.port)
            #expect(await canConnect(port: port))
            await group.triggerGracefulShutdown()
            try await tasks.next()
            #expect(await !canConnect(port: port))
        }
    }
}
