public import Domain
import Foundation
public import Logging
import Metrics
public import ServiceLifecycle

/// The outbox's consumer, one per node: gives the events written on the ingest path (`instance.stored`,
/// `association.ended`) their deliveries, finds studies that have been quiet for their listener's period
/// and announces them (`study.stable`, then `study.updated` per later revision), then delivers due events
/// to their sinks. Each round also reloads the catalog's subscription set, which is how a sink changed on
/// another node reaches this node's ingest path.
///
/// Delivery is at least once: a delivery row is leased before the attempt and settled after it, so a node
/// that dies mid-attempt leaves a lease that runs out and another node (or this one after a restart)
/// attempts it again. The CloudEvents `id` is the same on every attempt, so receivers deduplicate by it.
/// With PostgreSQL, leases are claimed with `FOR UPDATE SKIP LOCKED`: nodes never wait on each other and
/// each event is attempted by one node at a time.
public struct EventDispatcher: Service {
    public struct Configuration: Sendable {
        /// How often the outbox is scanned when idle.
        public var pollInterval: Duration = .seconds(1)
        /// How long a claimed delivery belongs to this node; longer than one attempt's timeout.
        public var leaseSeconds: Int = 60
        /// Deliveries claimed (and attempted concurrently) per round.
        public var batchSize: Int = 16
        /// After this many failed attempts a delivery is `failed` (redeliver starts it over).
        public var maxAttempts: Int = 20
        public var backoff = Backoff()
        /// The CloudEvents `source`: the same URI on every node.
        public var source: String = "urn:dicom-ingest"
        /// Names this node's leases (host and process).
        public var owner: String = "\(ProcessInfo.processInfo.hostName)/\(UUID().uuidString.lowercased())"

        public init() {}
    }

    let store: any EventStore & EventFanOut
    let transports: [EventSinkKind: any EventTransport]
    let configuration: Configuration
    let logger: Logger

    public init(store: any EventStore & EventFanOut, transports: [EventSinkKind: any EventTransport], configuration: Configuration,
                logger: Logger) {
        self.store = store
        self.transports = transports
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        logger.info("event dispatcher started", metadata: ["owner": "\(configuration.owner)"])
        while !Task.isShuttingDownGracefully {
            var busy = false
            do {
                try await store.refreshEventSubscriptions()
                let fannedOut = try await fanOutIngestEvents()
                try await announceStableStudies()
                busy = try await deliverDueEvents() || fannedOut
                try await updatePendingGauge()
            } catch is CancellationError {
                return
            } catch {
                logger.warning("event dispatcher round failed", metadata: ["error": "\(error)"])
            }
            if busy { continue }
            do {
                try await cancelWhenGracefulShutdown {
                    try await Task.sleep(for: configuration.pollInterval)
                }
            } catch {
                return
            }
        }
    }

    /// Gives one batch of ingest events their deliveries. Returns whether the batch was full.
    func fanOutIngestEvents(now: Date = Date()) async throws -> Bool {
        let limit = 500
        let events = try await store.fanOutEvents(now: now, limit: limit)
        for event in events {
            Counter(label: "events_created_total", dimensions: [("type", event.type)]).increment()
        }
        return events.count >= limit
    }

    /// Announces every dirty study whose last instance is older than its listener's quiet period.
    func announceStableStudies(now: Date = Date()) async throws {
        for study in try await store.dirtyStudies(limit: 500) {
            guard let seconds = study.stableSeconds else {
                try await store.clearDirtyStudy(study)
                continue
            }
            guard now.timeIntervalSince(study.lastInstanceAt) >= TimeInterval(seconds) else { continue }
            if let event = try await store.announceStudy(study, source: configuration.source, now: now) {
                Counter(label: "events_created_total", dimensions: [("type", event.type)]).increment()
                logger.info("study announced", metadata: [
                    "event_id": "\(event.id.uuidString.lowercased())", "type": "\(event.type)", "revision": "\(event.revision)",
                ])
            }
        }
    }

    /// Claims one batch of due deliveries and attempts them concurrently. Returns whether the batch was
    /// full (more may be due).
    func deliverDueEvents() async throws -> Bool {
        let claimed = try await store.claimDeliveries(owner: configuration.owner, now: Date(),
                                                      leaseSeconds: configuration.leaseSeconds, limit: configuration.batchSize)
        guard !claimed.isEmpty else { return false }
        await withTaskGroup(of: Void.self) { group in
            for delivery in claimed {
                group.addTask { await self.attempt(delivery) }
            }
        }
        return claimed.count >= configuration.batchSize
    }

    private func attempt(_ delivery: ClaimedDelivery) async {
        let sinkID = delivery.sink.id.uuidString.lowercased()
        let startedAt = Date()
        let clock = ContinuousClock()
        let start = clock.now
        var outcome: DeliveryOutcome
        do {
            guard let transport = transports[delivery.sink.kind] else {
                throw DeliveryError("no transport for sink kind \(delivery.sink.kind.rawValue)")
            }
            try await transport.deliver(delivery)
            outcome = .delivered
        } catch {
            let detail = (error as? DeliveryError)?.detail ?? "\(type(of: error))"
            let attempts = delivery.attempts + 1
            if (error as? DeliveryError)?.isPermanent == true || attempts >= configuration.maxAttempts {
                outcome = .failed(error: detail)
            } else {
                var generator = SystemRandomNumberGenerator()
                let wait = configuration.backoff.delay(afterAttempt: attempts, using: &generator)
                outcome = .retry(at: Date().addingTimeInterval(wait.seconds), error: detail)
            }
        }
        let duration = clock.now - start
        switch outcome {
        case .delivered:
            Metrics.Timer(label: "event_delivery_latency_seconds", dimensions: [("sink", sinkID)])
                .recordSeconds(Date().timeIntervalSince(delivery.createdAt))
        case .retry(_, let error), .failed(let error):
            Counter(label: "event_delivery_failures_total", dimensions: [("sink", sinkID)]).increment()
            logger.warning("event delivery failed", metadata: [
                "event_id": "\(delivery.eventID.uuidString.lowercased())", "sink_id": "\(sinkID)",
                "attempt": "\(delivery.attempts + 1)", "error": "\(error)",
            ])
        }
        do {
            try await store.recordAttempt(delivery, startedAt: startedAt, duration: duration,
                                          outcome: outcome)
        } catch {
            // The lease runs out and the delivery is attempted again: at least once, never lost.
            logger.warning("recording a delivery attempt failed", metadata: ["error": "\(error)", "sink_id": "\(sinkID)"])
        }
    }

    private func updatePendingGauge() async throws {
        let pending = try await store.pendingDeliveries()
        var total = 0
        // Every sink gets a value, so one that caught up reads 0 rather than its last backlog.
        for sink in try await store.listEventSinks() {
            let count = pending[sink.id] ?? 0
            total += count
            Gauge(label: "events_pending", dimensions: [("sink", sink.id.uuidString.lowercased())]).record(count)
        }
        Gauge(label: "events_pending_total").record(total)
    }
}
