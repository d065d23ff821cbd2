public import Domain
public import Logging
public import NIOCore
import NIOPosix
public import ServiceLifecycle
public import Foundation

/// Runs one `DICOMListener` per enabled listener of the catalog and keeps them in step with it.
///
/// `run()` polls the store every `pollInterval` and reconciles, and reconciles at once whenever `changes`
/// (a shared catalog's notifications) reports a change made on any node; `reconcileNow()` asks the running
/// loop to reconcile at once and returns when every listener has reached its new state. All changes
/// are applied by the one loop inside `run()`, so two reconciles never interleave.
///
/// Per listener: enabled → bound and `running`; bind failure → `failed` with the reason (others
/// unaffected, retried at every poll); disabled or deleted → port closed, `stopped`. A change of
/// `port`, `bindAddress` or `tls` rebinds; any other change (AE rules, allowed peers, limits, storage)
/// applies to associations accepted afterwards. Stopping closes the port at once, lets running
/// associations finish within the grace period, then aborts them.
public actor ListenerSupervisor: Service, ListenerControl {
    private let store: any ListenerStore
    private let changes: (any ListenerChanges)?
    private let makeSink: @Sendable (ListenerConfig) async throws -> any InstanceSink
    private let pollInterval: Duration
    private let shutdownGracePeriod: Duration
    private let logger: Logger
    private let eventLoopGroup: any EventLoopGroup

    private var listeners: [UUID: DICOMListener] = [:]
    /// The last state written per listener id, so a steady catalog costs no writes.
    private var reported: [UUID: Reported] = [:]
    /// Listeners whose bind failed, with the config that failed: retried at each reconcile.
    private var failed: [UUID: ListenerConfig] = [:]

    private let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation

    private struct Reported: Equatable {
        var state: ListenerState
        var error: String?
    }

    private enum Event: Sendable {
        case poll
        case reconcileNow(CheckedContinuation<Void, Never>)
        case shutdown
    }

    public init(
        store: any ListenerStore,
        makeSink: @escaping @Sendable (ListenerConfig) async throws -> any InstanceSink,
        pollInterval: Duration = .seconds(5),
        shutdownGracePeriod: Duration = .seconds(30),
        changes: (any ListenerChanges)? = nil,
        logger: Logger
    ) {
        self.init(store: store, makeSink: makeSink, pollInterval: pollInterval,
                  shutdownGracePeriod: shutdownGracePeriod, eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
                  changes: changes, logger: logger)
    }

    public init(
        store: any ListenerStore,
        makeSink: @escaping @Sendable (ListenerConfig) async throws -> any InstanceSink,
        pollInterval: Duration = .seconds(5),
        shutdownGracePeriod: Duration = .seconds(30),
        eventLoopGroup: any EventLoopGroup,
        changes: (any ListenerChanges)? = nil,
        logger: Logger
    ) {
        self.store = store
        self.changes = changes
        self.makeSink = makeSink
        self.pollInterval = pollInterval
        self.shutdownGracePeriod = shutdownGracePeriod
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        (self.events, self.eventSink) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .unbounded)
    }

    /// Requests a reconcile from the loop in `run()` and waits for it. Returns at once (doing
    /// nothing) after `run()` has ended; waits for `run()` to start if it has not yet.
    public func reconcileNow() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            if case .terminated = eventSink.yield(.reconcileNow(continuation)) {
                continuation.resume()
            }
        }
    }

    /// Where a running listener is bound (useful with port 0); nil when it is not running.
    public func localAddress(listenerID: UUID) -> SocketAddress? {
        listeners[listenerID]?.localAddress
    }

    public func run() async throws {
        let eventSink = self.eventSink
        let pollInterval = self.pollInterval
        await withDiscardingTaskGroup { group in
            group.addTask {
                while !Task.isCancelled {
                    do { try await Task.sleep(for: pollInterval) } catch { return }
                    eventSink.yield(.poll)
                }
            }
            if let changes {
                group.addTask {
                    await changes.watchListenerChanges { eventSink.yield(.poll) }
                }
            }
            await withGracefulShutdownHandler {
                await self.reconcile(group: &group)
                for await event in self.events {
                    switch event {
                    case .poll:
                        await self.reconcile(group: &group)
                    case .reconcileNow(let continuation):
                        await self.reconcile(group: &group)
                        continuation.resume()
                    case .shutdown:
                        return
                    }
                }
            } onGracefulShutdown: {
                eventSink.yield(.shutdown)
            }
            // Graceful shutdown or cancellation: stop every listener, then end the poll ticker.
            eventSink.finish()
            for await event in self.events {
                if case .reconcileNow(let continuation) = event { continuation.resume() }
            }
            let grace = Task.isCancelled ? Duration.zero : shutdownGracePeriod
            await stop(Array(listeners.keys), grace: grace, reason: "shutdown")
            group.cancelAll()
        }
        logger.info("listener supervisor stopped")
    }

    // MARK: Reconcile

    private func reconcile(group: inout DiscardingTaskGroup) async {
        let desired: [ListenerConfig]
        do {
            desired = try await store.listListeners()
        } catch {
            logger.warning("cannot read listeners; keeping the current ones", metadata: ["error": "\(error)"])
            return
        }
        let plan = ReconcilePlan(desired: desired, running: listeners.mapValues(\.config))

        // Stop first (closing ports), so a port handed from one listener to another is free to bind.
        await stop(plan.stop, grace: shutdownGracePeriod, reason: "configuration")
        for id in plan.stop where !plan.start.contains(where: { $0.id == id }) {
            await report(id, .stopped, nil)
        }
        for id in failed.keys where !desired.contains(where: { $0.id == id && $0.enabled }) {
            failed[id] = nil
            await report(id, .stopped, nil)
        }

        for config in plan.update {
            guard let listener = listeners[config.id] else { continue }
            do {
                // A new sink for the new rules: it may depend on any field (name, AE title, storage).
                try listener.update(config: config, sink: try await makeSink(config))
                logger.info("listener updated", metadata: ["listener": "\(config.name)"])
            } catch {
                // A rule that cannot be applied must not leave the old, looser one in force.
                logger.error("listener update failed; stopping it", metadata: ["listener": "\(config.name)", "error": "\(error)"])
                await stop([config.id], grace: shutdownGracePeriod, reason: "update failed")
                failed[config.id] = config
                await report(config.id, .failed, "\(error)")
            }
        }

        for config in plan.start {
            await start(config, group: &group)
        }
    }

    private func start(_ config: ListenerConfig, group: inout DiscardingTaskGroup) async {
        do {
            let sink = try await makeSink(config)
            let listener = try await DICOMListener.bind(config: config, sink: sink, group: eventLoopGroup, logger: logger)
            listeners[config.id] = listener
            failed[config.id] = nil
            group.addTask { await listener.run() }
            logger.info("listener running", metadata: [
                "listener": "\(config.name)", "address": "\(listener.localAddress.map { "\($0)" } ?? "?")",
            ])
            await report(config.id, .running, nil)
        } catch {
            failed[config.id] = config
            logger.error("listener failed to start", metadata: ["listener": "\(config.name)", "error": "\(error)"])
            await report(config.id, .failed, Self.describe(error))
        }
    }

    /// Closes the ports at once, then waits for the listeners' associations (up to `grace`, then aborted).
    private func stop(_ ids: [UUID], grace: Duration, reason: String) async {
        let stopping = ids.compactMap { id in listeners.removeValue(forKey: id) }
        guard !stopping.isEmpty else { return }
        await withDiscardingTaskGroup { group in
            for listener in stopping {
                logger.info("stopping listener", metadata: ["listener": "\(listener.config.name)", "reason": "\(reason)"])
                group.addTask { await listener.stop(gracePeriod: grace) }
            }
        }
    }

    private func report(_ id: UUID, _ state: ListenerState, _ error: String?) async {
        let next = Reported(state: state, error: error)
        guard reported[id] != next else { return }
        do {
            try await store.setListenerState(id: id, state: state, error: error)
            reported[id] = next
        } catch let error as CatalogError where error.code == .notFound {
            reported[id] = nil  // deleted: nothing to report to
        } catch {
            logger.warning("cannot record listener state", metadata: ["listenerId": "\(id)", "error": "\(error)"])
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? IOError {
            return "cannot bind: \(error.description)"
        }
        return "\(error)"
    }
}

/// What a reconcile does, as a pure function of the catalog and the running listeners.
struct ReconcilePlan: Equatable {
    /// Running listeners to stop: deleted, disabled, or rebinding (then also in `start`).
    var stop: [UUID] = []
    /// Listeners to bind: enabled and not running, or rebinding.
    var start: [ListenerConfig] = []
    /// Running listeners whose non-binding fields changed.
    var update: [ListenerConfig] = []

    init(desired: [ListenerConfig], running: [UUID: ListenerConfig]) {
        let enabled = Dictionary(desired.filter(\.enabled).map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        for (id, current) in running.sorted(by: { $0.key.uuidString < $1.key.uuidString }) {
            guard let wanted = enabled[id] else {
                stop.append(id)
                continue
            }
            if wanted.bindingIdentity != current.bindingIdentity {
                stop.append(id)
                start.append(wanted)
            } else if Self.rules(of: wanted) != Self.rules(of: current) {
                update.append(wanted)
            }
        }
        for config in desired where config.enabled && running[config.id] == nil && !start.contains(where: { $0.id == config.id }) {
            start.append(config)
        }
    }

    /// The fields that matter to running listeners; state, error and timestamps do not.
    private static func rules(of config: ListenerConfig) -> ListenerConfig {
        var config = config
        config.state = .stopped
        config.error = nil
        config.createdAt = Date(timeIntervalSince1970: 0)
        config.updatedAt = Date(timeIntervalSince1970: 0)
        return config
    }
}
