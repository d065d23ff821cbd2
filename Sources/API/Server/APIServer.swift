public import Domain
import Foundation
public import Logging
import Metrics
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
public import ServiceLifecycle
import Synchronization

/// The REST control plane: our HTTP/1.1 server (NIOHTTP1 codec, one child task per connection in a
/// discarding task group) in front of the frozen router.
///
/// Graceful shutdown stops accepting, lets each connection finish the request it is on (and any it has
/// already received), then closes it; idle connections close at once.
public actor APIServer: Service {
    private let configuration: APIConfiguration
    private let responder: Responder
    private let logger: Logger
    private var port: Int?

    public init(
        configuration: APIConfiguration,
        catalog: any Catalog,
        listeners: any ListenerControl,
        readiness: @escaping @Sendable () async -> [ReadinessCheck],
        metrics: @escaping @Sendable () async -> String,
        events: (any EventStore)? = nil,
        imports: (any HealthImagingImportStore)? = nil,
        logger: Logger
    ) {
        self.configuration = configuration
        self.logger = logger
        self.responder = APIServer.makeResponder(
            configuration: configuration, catalog: catalog, listeners: listeners, readiness: readiness,
            metrics: metrics, events: events, imports: imports, logger: logger)
    }

    /// The router with every route of openapi.yaml (used by the server, and by tests without a socket).
    static func makeResponder(
        configuration: APIConfiguration, catalog: any Catalog, listeners: any ListenerControl,
        readiness: @escaping @Sendable () async -> [ReadinessCheck], metrics: @escaping @Sendable () async -> String,
        events: (any EventStore)? = nil, imports: (any HealthImagingImportStore)? = nil, logger: Logger,
        metricsFactory: (any MetricsFactory)? = nil
    ) -> Responder {
        var router = RouterBuilder()
        APIRoutes(catalog: catalog, listeners: listeners, readiness: readiness, metrics: metrics,
                  storageAccess: configuration.storageAccess, defaultAckMode: configuration.defaultAckMode, events: events,
                  imports: imports).register(in: &router)
        if let events { EventRoutes(events: events, awsPolicy: configuration.awsEventSinks, catalog: catalog).register(in: &router) }
        return Responder(
            routes: router.routes,
            authenticator: TokenAuthenticator(adminTokens: configuration.adminTokens, readTokens: configuration.readTokens),
            logger: logger, metricsFactory: metricsFactory)
    }

    /// The port actually bound (useful with port 0), once `run()` has bound it.
    public var boundPort: Int? { port }

    public func run() async throws {
        let sslContext = try configuration.tls.map { try NIOSSLContext(configuration: Self.tlsConfiguration($0)) }
        let configuration = self.configuration
        let limits = {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = configuration.maxHeaderFieldSize
            limits.maxHeaderListSize = configuration.maxHeaderListSize
            limits.maxHeaderFieldCount = configuration.maxHeaderCount
            return limits
        }()
        let serverChannel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // TCP_NODELAY is an IPPROTO_TCP option: at SOL_SOCKET level its number is SO_DEBUG, which
            // needs CAP_NET_ADMIN, so an unprivileged process failed every accepted connection.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: false)
            .bind(host: configuration.host, port: configuration.port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    if let sslContext {
                        try sync.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try sync.addHandler(ConnectionTimeoutHandler(
                        idleTimeout: TimeAmount(configuration.idleTimeout),
                        requestTimeout: TimeAmount(configuration.requestTimeout),
                        writeTimeout: TimeAmount(configuration.writeTimeout)))
                    try sync.addHandler(HTTPResponseEncoder())
                    try sync.addHandler(ByteToMessageHandler(HTTPRequestDecoder(
                        leftOverBytesStrategy: .dropBytes, informationalResponseStrategy: .drop, limitConfiguration: limits)))
                    try sync.addHandler(HTTPConnectionHandler(maxBodySize: configuration.maxBodySize))
                    // Nothing is read until the connection's task wraps the channel (see `serve`): an
                    // accepted connection that never gets a task (shutdown) is then dropped safely and
                    // closed by its idle timer instead of tripping NIOAsyncChannel's unfinished-writer check.
                    try channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
                    return channel
                }
            }
        port = serverChannel.channel.localAddress?.port
        logger.info("REST API listening", metadata: [
            "host": .string(configuration.host), "port": .stringConvertible(port ?? -1),
            "tls": .stringConvertible(configuration.tls != nil),
        ])
        let responder = self.responder
        let logger = self.logger
        let open = OpenConnections(limit: configuration.maxConnections)
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                try await serverChannel.executeThenClose { inbound in
                    for try await connection in inbound {
                        guard open.admit() else {
                            // Over the cap: closed before a byte is read, so a flood of connections costs a
                            // file descriptor for a moment, not a task and buffers each. Counted, and logged
                            // only at debug level, so a flood cannot flood the log as well.
                            Counter(label: "http_connections_refused_total").increment()
                            logger.debug("REST connection refused: connection limit reached",
                                         metadata: ["limit": .stringConvertible(configuration.maxConnections)])
                            connection.close(promise: nil)
                            continue
                        }
                        group.addTask {
                            await APIServer.serve(connection, responder: responder, logger: logger)
                            open.release()
                        }
                    }
                }
            }
        } onGracefulShutdown: {
            serverChannel.channel.close(promise: nil)
        }
        logger.info("REST API stopped")
    }

    /// TLS 1.2 or newer; for TLS 1.2 only the forward-secret AEAD suites RFC 9325 §4.2 recommends (the
    /// TLS 1.3 suites are all AEAD). No renegotiation.
    static func tlsConfiguration(_ tls: APIConfiguration.TLS) throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateFile).map { NIOSSLCertificateSource.certificate($0) }
        let key = try NIOSSLPrivateKey(file: tls.privateKeyFile, format: .pem)
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        configuration.cipherSuiteValues = tlsCipherSuites
        configuration.renegotiationSupport = .none
        return configuration
    }

    /// `TLSPolicy`'s suites, as the DIMSE listeners use them.
    static let tlsCipherSuites: [NIOTLSCipher] = TLSPolicy.tls12CipherSuites.map(NIOTLSCipher.init(rawValue:))

    /// One connection: requests are answered strictly in order (pipelining keeps its order for free).
    static func serve(_ channel: any Channel, responder: Responder, logger: Logger) async {
        var logger = logger
        if let remote = channel.remoteAddress { logger[metadataKey: "peer"] = .string("\(remote)") }
        do {
            let connection = try await channel.eventLoop.submit {
                let connection = try NIOAsyncChannel<HTTPInbound, HTTPOutbound>(wrappingChannelSynchronously: channel)
                try channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
                return connection
            }.get()
            try await withGracefulShutdownHandler {
                try await connection.executeThenClose { inbound, outbound in
                    for try await item in inbound {
                        switch item {
                        case .request(var request):
                            request.requestID = RequestID.choose(from: request.headers)
                            var response = await responder.respond(to: request)
                            let close = !request.keepAlive
                            finalize(&response, close: close, keepAliveHTTP10: !close && request.version.minor == 0)
                            try await outbound.write(HTTPOutbound(response: response, close: close, omitBody: request.method == .HEAD))
                            if close {
                                try await channel.closeFuture.get()
                                return
                            }
                        case .failure(let problem, let method, _):
                            let requestID = RequestID.generate()
                            var response = problem.response(requestID: requestID)
                            response.headers.replaceOrAdd(name: "X-Request-Id", value: requestID)
                            finalize(&response, close: true, keepAliveHTTP10: false)
                            var requestLogger = logger
                            requestLogger[metadataKey: "request_id"] = .string(requestID)
                            Responder.record(method: method, route: Responder.unmatchedRoute, status: problem.status, elapsed: .zero,
                                             logger: requestLogger, metricsFactory: responder.metricsFactory)
                            try await outbound.write(HTTPOutbound(response: response, close: true, omitBody: false))
                            try await channel.closeFuture.get()
                            return
                        }
                    }
                }
            } onGracefulShutdown: {
                channel.triggerUserOutboundEvent(ConnectionEvent.gracefulShutdown, promise: nil)
            }
        } catch {
            logger.debug("connection ended with an error", metadata: ["error": .string(String(describing: error))])
        }
    }

    private static func finalize(_ response: inout APIResponse, close: Bool, keepAliveHTTP10: Bool) {
        if response.status != .noContent && response.status != .notModified {
            response.headers.replaceOrAdd(name: "Content-Length", value: String(response.body.readableBytes))
        } else {
            response.body.clear()
        }
        if close {
            response.headers.replaceOrAdd(name: "Connection", value: "close")
        } else if keepAliveHTTP10 {
            response.headers.replaceOrAdd(name: "Connection", value: "keep-alive")
        }
    }
}

/// The number of connections being served, against the configured cap.
final class OpenConnections: Sendable {
    private let count = Mutex(0)
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    /// Counts one more connection, unless the cap is reached.
    func admit() -> Bool {
        count.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func release() {
        count.withLock { $0 -= 1 }
    }
}
