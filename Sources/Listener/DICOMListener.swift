import DICOM
import Domain
import Foundation
import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// One bound DIMSE listener: a server socket, its accept loop, and one child task per association.
///
/// The binding (port, address, TLS context) is fixed for the life of the value; the rules (AE titles,
/// allowed peers, limits, sink) can be replaced with `update`, and apply to connections accepted
/// afterwards. The supervisor owns the value: `bind` → `run()` in a task → `stop(gracePeriod:)`.
final class DICOMListener: Sendable {
    let id: UUID
    let localAddress: SocketAddress?

    private let serverChannel: NIOAsyncChannel<AcceptedConnection, Never>
    private let shared: NIOLockedValueBox<Shared>
    private let stopRequests: AsyncStream<Duration>
    private let stopRequester: AsyncStream<Duration>.Continuation
    private let finished: EventLoopPromise<Void>
    private let logger: Logger
    /// Where the listener's metrics go; nil: the global `MetricsSystem` factory.
    private let metricsFactory: (any MetricsFactory)?

    /// What the accept loop and the associations read at each new connection.
    struct Rules: Sendable {
        var config: ListenerConfig
        var sink: any InstanceSink
        var peerPolicy: PeerPolicy
        var metrics: ListenerMetrics
        /// Verification and the Storage SOP classes of `config.allowedSOPClasses` (all of the registry when empty).
        var acceptableAbstractSyntaxes: Set<String>
    }

    private struct Shared: Sendable {
        var rules: Rules
        /// Associations accepted (A-ASSOCIATE-AC sent) and not yet ended: `maxAssociations` counts these.
        var activeAssociations: Int = 0
        /// Connections accepted by the socket but not yet taken by a task: closed if the accept loop ends
        /// (cancellation) before it reaches them.
        var unclaimed: [ObjectIdentifier: any Channel] = [:]
        /// Connections without an accepted association yet, bounded per listener and per peer address.
        var unassociated = UnassociatedConnections()
        /// The inbound side of every connection being served, to wake it when the listener drains.
        var serving: [ObjectIdentifier: PDUInbound] = [:]
        /// `stop` was called: connections served from now on are told to drain at once.
        var draining = false
    }

    /// A connection as the child channel initializer leaves it: reading is off (and stays off: the
    /// association's `PDUInbound` issues every read), so nothing is read before the peer check and nothing
    /// is lost before the inbound bridge is installed by the task that runs the association.
    enum AcceptedConnection: Sendable {
        /// Admitted by the peer policy: TLS (if any) and the PDU codec installed.
        case association(any Channel, peer: PeerInfo, rules: Rules, ticket: UnassociatedTicket)
        /// Outside `allowedPeers`, or over the unassociated-connection bounds: closed and reported with `reason`.
        case refused(any Channel, peer: PeerInfo, rules: Rules, reason: String)
    }

    var config: ListenerConfig { shared.withLockedValue { $0.rules.config } }
    var sink: any InstanceSink { shared.withLockedValue { $0.rules.sink } }
    var activeAssociations: Int { shared.withLockedValue { $0.activeAssociations } }

    private init(id: UUID, serverChannel: NIOAsyncChannel<AcceptedConnection, Never>, shared: NIOLockedValueBox<Shared>,
                 logger: Logger, metricsFactory: (any MetricsFactory)?) {
        self.id = id
        self.metricsFactory = metricsFactory
        self.serverChannel = serverChannel
        self.localAddress = serverChannel.channel.localAddress
        self.shared = shared
        (self.stopRequests, self.stopRequester) = AsyncStream.makeStream(of: Duration.self, bufferingPolicy: .bufferingNewest(1))
        self.finished = serverChannel.channel.eventLoop.makePromise(of: Void.self)
        self.logger = logger
    }

    /// Validates the rules, loads the TLS files and binds. Throws (and binds nothing) on any of them.
    /// - Parameter metricsFactory: where the listener's metrics go (tests); nil: the global `MetricsSystem` factory.
    static func bind(config: ListenerConfig, sink: any InstanceSink, group: any EventLoopGroup, logger: Logger,
                     metricsFactory: (any MetricsFactory)? = nil) async throws -> DICOMListener {
        let rules = try Rules(config: config, sink: sink, metricsFactory: metricsFactory)
        let tlsContext = try config.tls.map(ListenerTLS.makeContext)
        let shared = NIOLockedValueBox(Shared(rules: rules))
        var logger = logger
        logger[metadataKey: "listener"] = "\(config.name)"

        let serverChannel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // TCP_NODELAY is an IPPROTO_TCP option: at SOL_SOCKET level its number is SO_DEBUG, which
            // needs CAP_NET_ADMIN, so an unprivileged process failed every accepted connection.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.socketOption(.so_keepalive), value: 1)
            .bind(host: config.bindAddress, port: config.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.syncOptions?.setOption(.autoRead, value: false)
                    let peer = PeerInfo(channel.remoteAddress)
                    let peerKey = peer.ipAddress.map { "\($0)" } ?? peer.address
                    let (rules, counted) = shared.withLockedValue { shared in
                        shared.unclaimed[ObjectIdentifier(channel)] = channel
                        let admitted = shared.rules.peerPolicy.admits(peer.ipAddress)
                        return (shared.rules, admitted && shared.unassociated.open(peer: peerKey))
                    }
                    guard rules.peerPolicy.admits(peer.ipAddress) else {
                        return AcceptedConnection.refused(channel, peer: peer, rules: rules, reason: RejectReason.peerNotAllowed)
                    }
                    guard counted else {
                        return AcceptedConnection.refused(channel, peer: peer, rules: rules, reason: RejectReason.tooManyUnassociated)
                    }
                    let ticket = UnassociatedTicket {
                        shared.withLockedValue { $0.unassociated.close(peer: peerKey) }
                    }
                    do {
                        try AssociationPipeline.configure(channel, tls: tlsContext, limits: rules.config.limits, metrics: rules.metrics)
                    } catch {
                        ticket.release()
                        throw error
                    }
                    return AcceptedConnection.association(channel, peer: peer, rules: rules, ticket: ticket)
                }
            }
        return DICOMListener(id: config.id, serverChannel: serverChannel, shared: shared, logger: logger,
                             metricsFactory: metricsFactory)
    }

    /// Replaces the rules for connections accepted from now on. The binding must not change.
    func update(config: ListenerConfig, sink: any InstanceSink) throws {
        let rules = try Rules(config: config, sink: sink, metricsFactory: metricsFactory)
        shared.withLockedValue { $0.rules = rules }
    }

    /// Serves until `stop` (or cancellation): accepts connections, then drains the associations.
    func run() async {
        enum Phase: Sendable { case served, stopRequested(Duration?), graceExpired }
        let stopRequests = self.stopRequests
        await withTaskGroup(of: Phase.self) { group in
            group.addTask { await self.serve(); return .served }
            group.addTask {
                for await grace in stopRequests { return .stopRequested(grace) }
                return .stopRequested(nil)  // cancelled
            }
            var served = false
            while let phase = await group.next() {
                switch phase {
                case .served:
                    served = true
                    group.cancelAll()
                case .stopRequested(let grace):
                    serverChannel.channel.close(promise: nil)
                    // Associations between instances end now (A-ABORT); one with an instance in flight
                    // ends as soon as it is answered. So the process exits when the last instance is
                    // stored, not at the end of the grace period.
                    let serving = shared.withLockedValue { shared in
                        shared.draining = true
                        return Array(shared.serving.values)
                    }
                    for inbound in serving { inbound.requestDrain() }
                    if let grace, grace > .zero, !Task.isCancelled {
                        group.addTask {
                            do { try await Task.sleep(for: grace) } catch { return .graceExpired }
                            return .graceExpired
                        }
                    } else {
                        group.cancelAll()
                    }
                case .graceExpired:
                    if !served {
                        let remaining = self.activeAssociations
                        logger.notice("grace period over; aborting associations", metadata: ["associations": "\(remaining)"])
                        group.cancelAll()
                    }
                }
            }
        }
        let (metrics, unclaimed) = shared.withLockedValue { shared in
            defer { shared.unclaimed = [:] }
            return (shared.rules.metrics, Array(shared.unclaimed.values))
        }
        for channel in unclaimed { channel.close(promise: nil) }
        metrics.activeAssociations(0)
        finished.succeed()
    }

    /// Closes the port now, ends idle associations at once and the others as soon as their instance in
    /// flight is answered, for up to `gracePeriod`; then aborts what is left (A-ABORT, in-flight C-STOREs
    /// cancelled). Returns when everything has ended.
    func stop(gracePeriod: Duration) async {
        stopRequester.yield(gracePeriod)
        stopRequester.finish()
        // `run()` may never have been started (bind raced with shutdown): close the port regardless.
        serverChannel.channel.close(promise: nil)
        do {
            try await finished.futureResult.get()
        } catch {
            logger.debug("listener finished with error", metadata: ["error": "\(error)"])
        }
    }

    private func serve() async {
        await withDiscardingTaskGroup { group in
            do {
                try await serverChannel.executeThenClose { inbound in
                    for try await connection in inbound {
                        group.addTask { await self.handle(connection) }
                    }
                }
            } catch is CancellationError {
            } catch {
                logger.debug("accept loop ended", metadata: ["error": "\(error)"])
            }
        }
    }

    private func claim(_ channel: any Channel) {
        shared.withLockedValue { _ = $0.unclaimed.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    private func handle(_ connection: AcceptedConnection) async {
        switch connection {
        case .refused(let channel, let peer, let rules, let reason):
            claim(channel)
            var logger = self.logger
            logger[metadataKey: "peer"] = "\(peer.address)"
            logger.notice("connection refused", metadata: ["reason": "\(reason)"])
            rules.metrics.associationRejected(reason: reason)
            do { try await channel.close() } catch { logger.debug("close failed", metadata: ["error": "\(error)"]) }
            await rules.sink.associationRejected(RejectedAssociation(
                listener: rules.config, callingAETitle: "", calledAETitle: "", peerAddress: peer.address,
                reason: reason))
        case .association(let channel, let peer, let rules, let ticket):
            claim(channel)
            defer { ticket.release() }
            let inbound: PDUInbound
            do {
                inbound = try await channel.eventLoop.submit {
                    try AssociationPipeline.wrap(channel)
                }.get()
            } catch {
                logger.debug("connection lost before it was served", metadata: ["error": "\(error)"])
                channel.close(promise: nil)
                return
            }
            let key = ObjectIdentifier(inbound)
            let draining = shared.withLockedValue { shared in
                shared.serving[key] = inbound
                return shared.draining
            }
            if draining { inbound.requestDrain() }
            defer { _ = shared.withLockedValue { $0.serving.removeValue(forKey: key) } }
            let admission = ConnectionAdmission(listener: self, ticket: ticket)
            let association = Association(channel: channel, inbound: inbound, peer: peer, rules: rules, admission: admission, logger: logger)
            // The association runs on its channel's event loop: each PDU the loop reads resumes it on the
            // same thread, and each answer is written in place, instead of two thread wake-ups per PDU.
            await EventLoopTaskExecutor.run(on: channel.eventLoop) { await association.run() }
        }
    }
}

extension DICOMListener: AssociationAdmission {
    func admit() -> Bool {
        let (admitted, count, metrics) = shared.withLockedValue { shared in
            guard shared.activeAssociations < max(shared.rules.config.limits.maxAssociations, 0) else {
                return (false, shared.activeAssociations, shared.rules.metrics)
            }
            shared.activeAssociations += 1
            return (true, shared.activeAssociations, shared.rules.metrics)
        }
        if admitted { metrics.activeAssociations(count) }
        return admitted
    }

    func release() {
        let (count, metrics) = shared.withLockedValue { shared in
            shared.activeAssociations -= 1
            return (shared.activeAssociations, shared.rules.metrics)
        }
        metrics.activeAssociations(count)
    }
}

extension DICOMListener.Rules {
    init(config: ListenerConfig, sink: any InstanceSink, metricsFactory: (any MetricsFactory)? = nil) throws {
        self.config = config
        self.sink = RejectionCoalescingSink(base: sink)
        self.peerPolicy = try PeerPolicy(allowedPeers: config.allowedPeers)
        self.metrics = ListenerMetrics(listenerName: config.name, factory: metricsFactory)
        self.acceptableAbstractSyntaxes = NegotiationPolicy.storageSCPAbstractSyntaxes(
            allowedStorageSOPClasses: config.allowedSOPClasses)
    }
}

/// The peer of one connection, as logs and the sink show it.
struct PeerInfo: Sendable, Hashable {
    /// `host:port`, IPv6 in brackets; `unknown` when the socket has no remote address.
    var address: String
    var ipAddress: IPAddress?

    init(_ socketAddress: SocketAddress?) {
        guard let socketAddress, let ip = socketAddress.ipAddress else {
            self.address = "unknown"
            self.ipAddress = nil
            return
        }
        let port = socketAddress.port.map(String.init) ?? "0"
        switch socketAddress {
        case .v6: self.address = "[\(ip)]:\(port)"
        default: self.address = "\(ip):\(port)"
        }
        self.ipAddress = IPAddress(ip)
    }
}

/// Stable reason strings for rejections (logs, metrics, `RejectedAssociation.reason`).
enum RejectReason {
    static let peerNotAllowed = "peer-not-allowed"
    static let tlsHandshakeFailed = "tls-handshake-failed"
    /// Over `UnassociatedConnectionLimits` (per listener or per peer address): closed before any read.
    static let tooManyUnassociated = "too-many-unassociated-connections"
}
