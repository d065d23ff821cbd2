import AWS
import API
import AsyncHTTPClient
import Domain
import Events
import Foundation
import Ingest
import Listener
import Logging
import Metrics
import NIOCore
import NIOPosix
import Prometheus
import ServiceLifecycle
import Storage
import UnixSignals

/// Composition root: the only place that wires concrete types together. Service order is
/// catalog → forwarder → listener supervisor → REST API, so graceful shutdown stops the API first, then lets
/// the listeners drain (into the spool, for `spooled` listeners), then lets the forwarder finish its uploads, and closes the catalog last.
struct Application {
    let configuration: ServiceConfiguration

    func run() async throws {
        let logger = bootstrapLogging()
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        var httpConfiguration = HTTPClient.Configuration()
        httpConfiguration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.s3MaxConnections)
        // Short connect timeout: an unreachable store must turn into a retryable A700 well within the
        // sender's DIMSE timeout (pynetdicom's default is 30 s), not hang the association.
        httpConfiguration.timeout = .init(connect: .seconds(3), read: .seconds(30))
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfiguration)

        do {
            try await runServices(logger: logger, registry: registry, httpClient: httpClient)
        } catch {
            do {
                try await httpClient.shutdown()
            } catch let shutdownError {
                logger.warning("HTTP client shutdown failed", metadata: ["error": "\(shutdownError)"])
            }
            throw error
        }
        try await httpClient.shutdown()
    }

    private func runServices(logger: Logger, registry: PrometheusCollectorRegistry, httpClient: HTTPClient) async throws {
        let configuration = self.configuration
        // The data directory holds the catalog and, by default, the objects: PHI, so owner-only (0700).
        try FileManager.default.createDirectory(atPath: configuration.dataDirectory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])

        let eventConfiguration = try EventConfiguration.dispatcher(environment: ProcessInfo.processInfo.environment)
        let catalog: any Catalog & ForwardQueue & EventStore & EventFanOut & HealthImagingImportStore
        var catalogServices: [any Service] = []
        // Nodes sharing a PostgreSQL catalog hear of each other's listener changes; SQLite serves one node.
        var listenerChanges: (any ListenerChanges)?
        if let url = configuration.databaseURL {
            let postgres = try PostgresCatalog(url: url, logger: logger, eventSource: eventConfiguration.source)
            catalog = postgres
            listenerChanges = postgres
            catalogServices.append(postgres)
        } else {
            let sqlite = try SQLiteCatalog(path: configuration.dataDirectory + "/catalog.sqlite", logger: logger,
                                           eventSource: eventConfiguration.source)
            catalog = sqlite
            catalogServices.append(sqlite)  // closes the database after everything else has stopped
        }
        // Environment → EKS web identity → ECS task role → EC2 IMDSv2, cached and refreshed before expiry;
        // one chain for the object stores and the AWS event sinks.
        let credentials = DefaultCredentialsChain.provider(httpClient: httpClient)
        let environment = ProcessInfo.processInfo.environment
        let awsEvents = AWSServiceClient(httpClient: httpClient, credentials: credentials, environment: environment)
        // HealthImaging imports: the transport starts a job per study event, the poller follows it to its end.
        let healthImaging = HealthImagingClient(httpClient: httpClient, credentials: credentials, environment: environment)
        let healthImagingTransport = HealthImagingTransport(
            client: healthImaging, store: catalog,
            listenerStorage: { id in try await catalog.listener(id: id)?.storage },
            limits: try EventConfiguration.healthImagingLimits(environment: environment),
            firstPollDelay: try EventConfiguration.healthImagingPoller(environment: environment).interval)
        // Announces stable studies and delivers events from the catalog's outbox; stops before the catalog.
        let dispatcher = EventDispatcher(
            store: catalog,
            transports: [
                .webhook: WebhookTransport(httpClient: httpClient),
                .eventbridge: EventBridgeTransport(client: awsEvents),
                .sns: SNSTransport(client: awsEvents),
                .healthimaging: healthImagingTransport,
            ],
            configuration: eventConfiguration,
            logger: Logger(label: "dicom-ingest.events"))

        let stores = DefaultObjectStoreProvider(
            httpClient: httpClient, credentials: credentials, defaultRegion: configuration.awsRegion,
            defaultEndpoint: configuration.s3Endpoint, logger: logger,
            retry: S3RetryPolicy(maxAttempts: 6, maxTotalTime: .seconds(20), attemptTimeout: .seconds(20)))
        let defaultRoot = configuration.dataDirectory + "/objects"
        let resolveTarget: @Sendable (StorageTarget) -> StorageTarget = { target in
            var target = target
            if target.backend == .filesystem, target.path == nil { target.path = defaultRoot }
            return target
        }
        // Spooled acknowledgement: the local durable stage and the service that empties it.
        let spool = try Spool(root: configuration.spool.directory, maxBytes: configuration.spool.maxBytes)
        var forwarderOptions = Forwarder.Options()
        forwarderOptions.concurrency = configuration.spool.forwardConcurrency
        forwarderOptions.lease = .seconds(configuration.spool.leaseSeconds)
        forwarderOptions.owner = configuration.spool.nodeID
        forwarderOptions.shutdownGrace = configuration.shutdownGracePeriod
        let forwarder = Forwarder(queue: catalog, listeners: catalog, stores: stores, spool: spool, resolveTarget: resolveTarget,
                                  options: forwarderOptions, logger: Logger(label: "dicom-ingest.forwarder"))
        // Reads a HealthImaging job's failure manifest from the output bucket through the S3 object store.
        let healthImagingPoller = HealthImagingJobPoller(
            client: healthImaging, store: catalog, sinks: catalog,
            readObject: { bucket, key in
                try await S3TextReader.read(bucket: bucket, key: key, stores: stores)
            },
            configuration: try EventConfiguration.healthImagingPoller(environment: environment),
            logger: Logger(label: "dicom-ingest.healthimaging"))
        let serializer = KeyedSerializer()
        let supervisor = ListenerSupervisor(
            store: catalog,
            makeSink: { listener in
                var target = listener.storage
                if target.backend == .filesystem, target.path == nil { target.path = defaultRoot }
                var effective = listener
                effective.storage = target
                let targetStore = try await stores.objectStore(for: target)
                // A `spooled` listener writes into its spool folder, with the target's keys and URIs.
                let store = target.ackMode == .spooled ? spool.store(for: listener.id, target: targetStore) : targetStore
                return try IngestSink(listener: effective, store: store, recorder: catalog, serializer: serializer,
                                      spool: spool, logger: Logger(label: "dicom-ingest.ingest"))
            },
            pollInterval: configuration.listenerPollInterval,
            shutdownGracePeriod: configuration.shutdownGracePeriod,
            changes: listenerChanges,
            logger: Logger(label: "dicom-ingest.listener"))

        var adminTokens = configuration.adminTokens
        var httpHost = configuration.httpHost
        if adminTokens.isEmpty && configuration.readTokens.isEmpty {
            let token = Self.generateToken()
            adminTokens.insert(token)
            if configuration.httpHostIsDefault { httpHost = "127.0.0.1" }
            try GeneratedToken.hand(token, dataDirectory: configuration.dataDirectory, httpHost: httpHost, logger: logger)
        }
        // Roots are compared with the paths a store will really use, symlinks followed.
        var storageAccess = configuration.storageAccess
        storageAccess.roots = storageAccess.roots?.map(resolvedStoragePath)
        var apiConfiguration = APIConfiguration(
            host: httpHost, port: configuration.httpPort,
            tls: configuration.httpTLS.map { APIConfiguration.TLS(certificateFile: $0.certificateFile, privateKeyFile: $0.privateKeyFile) },
            adminTokens: adminTokens, readTokens: configuration.readTokens,
            writeTimeout: configuration.httpWriteTimeout, maxConnections: configuration.httpMaxConnections,
            storageAccess: storageAccess, defaultAckMode: configuration.spool.defaultAckMode)
        apiConfiguration.awsEventSinks = try EventConfiguration.awsSinkPolicy(environment: ProcessInfo.processInfo.environment)
        // The spool's backlog as `/readyz` reports it: what waits for the targets, and how old the oldest is.
        let spoolBacklog: @Sendable () async -> String = {
            let inUse = await spool.bytes() + spool.reservedBytes()
            var failing = ""
            if let failure = await forwarder.status.failingSince {
                let seconds = min(max(0, Date().timeIntervalSince(failure.at)), 1e12)
                failing = "; last forward failed \(Int(seconds)) s ago (\(failure.reason))"
            }
            do {
                let figures = try await catalog.spoolFigures()
                let age = figures.oldestReceivedAt.map { min(max(0, Date().timeIntervalSince($0)), 1e12) } ?? 0
                return "\(figures.instances) instances spooled (\(figures.bytes) bytes), oldest \(Int(age)) s; "
                    + "\(inUse) of \(spool.maxBytes) bytes in use" + failing
            } catch {
                return "\(inUse) of \(spool.maxBytes) bytes in use; backlog unknown (\(error))" + failing
            }
        }
        let api = APIServer(
            configuration: apiConfiguration, catalog: catalog, listeners: supervisor,
            readiness: {
                var checks: [ReadinessCheck] = []
                do {
                    try await catalog.ping()
                    checks.append(ReadinessCheck(name: "catalog", error: nil))
                } catch {
                    checks.append(ReadinessCheck(name: "catalog", error: "\(error)"))
                    return checks
                }
                let listeners: [ListenerConfig]
                do {
                    listeners = try await catalog.listListeners()
                } catch {
                    checks.append(ReadinessCheck(name: "catalog", error: "listing listeners failed: \(error)"))
                    return checks
                }
                if listeners.contains(where: { $0.enabled && $0.storage.ackMode == .spooled }) {
                    checks.append(ReadinessCheck(name: "spool", error: await spool.readinessRefusal(), detail: await spoolBacklog()))
                }
                // One check per target a `stored` listener uses. A target only `spooled` listeners use is not
                // asked: while it is away the spool stands in for it (its quota is the spool check's, and the
                // backlog and the forwarder's last failure are in that check's detail).
                var targets: [StorageTarget] = []
                var usedByStored = Set<StorageTarget>()
                for listener in listeners where listener.enabled {
                    var target = listener.storage
                    if target.backend == .filesystem, target.path == nil { target.path = defaultRoot }
                    // The same target in both modes is one check.
                    target.ackMode = .stored
                    if !targets.contains(target) { targets.append(target) }
                    if listener.storage.ackMode == .stored { usedByStored.insert(target) }
                }
                for target in targets {
                    let name = target.backend == .s3 ? "s3://\(target.bucket ?? "")" : "file://\(target.path ?? "")"
                    guard usedByStored.contains(target) else {
                        checks.append(ReadinessCheck(name: name, error: nil,
                                                     detail: "used by spooled listeners only: not asked, the spool stands in for it"))
                        continue
                    }
                    do {
                        try await stores.objectStore(for: target).check()
                        checks.append(ReadinessCheck(name: name, error: nil))
                    } catch {
                        checks.append(ReadinessCheck(name: name, error: "\(error)"))
                    }
                }
                return checks
            },
            metrics: { registry.emitToString() },
            events: catalog,
            imports: catalog,
            logger: Logger(label: "dicom-ingest.api"))

        // The forwarder starts before the listeners and stops after them, so instances that finish into the
        // spool during the drain still find it running.
        let startup = Startup(configuration: configuration, catalog: catalog, services: [forwarder, supervisor, dispatcher, healthImagingPoller, api], logger: logger)
        var groupConfiguration = ServiceGroupConfiguration(
            services: catalogServices.map { .init(service: $0) } + [.init(service: startup)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger)
        // A shutdown that outlives the associations' grace period by this much (a catalog that vanished
        // mid-shutdown, say) is turned into cancellation, so SIGTERM always ends the process.
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGracePeriod + .seconds(15)
        let group = ServiceGroup(configuration: groupConfiguration)
        try await group.run()
    }

    private func bootstrapLogging() -> Logger {
        let level = configuration.logLevel
        switch configuration.logFormat {
        case .text:
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardOutput(label: label)
                handler.logLevel = level
                return EscapingLogHandler(wrapping: handler)
            }
        case .json:
            LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        }
        return Logger(label: "dicom-ingest")
    }

    static func generateToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }
}

/// Runs the schema migrations, applies the listeners the environment asks for, then runs the supervisor and
/// the REST API as an inner group (so they shut down before the catalog does).
struct Startup: Service {
    let configuration: ServiceConfiguration
    let catalog: any Catalog
    let services: [any Service]
    let logger: Logger

    func run() async throws {
        try await migrateWithRetry()
        try await applyConfiguredListeners()
        let inner = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) }, logger: logger))
        try await inner.run()
    }

    private func migrateWithRetry() async throws {
        var attempt = 0
        while true {
            do {
                if let postgres = catalog as? PostgresCatalog {
                    try await postgres.migrate()
                } else if let sqlite = catalog as? SQLiteCatalog {
                    try await sqlite.migrate()
                }
                return
            } catch let error as CatalogError where error.code == .schemaMismatch {
                logger.critical("catalog schema does not match this binary", metadata: ["error": "\(error)"])
                throw error
            } catch {
                attempt += 1
                if attempt >= 30 { throw error }
                logger.warning("catalog not reachable yet; retrying", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func applyConfiguredListeners() async throws {
        let existing = try await catalog.listListeners()
        for wanted in configuration.seedListeners {
            if var current = existing.first(where: { $0.name == wanted.name }) {
                let id = current.id
                let created = current.createdAt
                current = wanted
                current.id = id
                current.createdAt = created
                current.updatedAt = Date()
                try await catalog.updateListener(current)
                logger.info("listener updated from the environment", metadata: ["listener": "\(wanted.name)", "port": "\(wanted.port)"])
            } else {
                try await catalog.createListener(wanted)
                logger.info("listener created from the environment", metadata: ["listener": "\(wanted.name)", "port": "\(wanted.port)"])
            }
        }
        if configuration.wantsEmbeddedDefaultListener && existing.isEmpty {
            let listener = configuration.embeddedDefaultListener()
            try await catalog.createListener(listener)
            logger.info("embedded default: listener 'default' on port 11112 storing under \(listener.storage.path ?? "")")
        }
    }
}
