// Listener benchmark peer: the DIMSE runtime with a discarding instance sink, so a sender's
// throughput measures the listener alone (PDU decoding, DIMSE reassembly, backpressure, responses).
//
//   swift run -c release listener-bench PORT     # serves until SIGTERM/SIGINT
//
// scripts/bench listener sends to it and to DCMTK storescp (tmpfs) in the same run.
import Domain
import Foundation
import Listener
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

actor SingleListenerStore: ListenerStore {
    private var config: ListenerConfig

    init(config: ListenerConfig) { self.config = config }

    func listListeners() async throws -> [ListenerConfig] { [config] }
    func listener(id: UUID) async throws -> ListenerConfig? { id == config.id ? config : nil }
    func createListener(_ listener: ListenerConfig) async throws { config = listener }
    func updateListener(_ listener: ListenerConfig) async throws { config = listener }
    func deleteListener(id: UUID) async throws {}
    func setListenerState(id: UUID, state: ListenerState, error: String?) async throws {
        config.state = state
        config.error = error
    }
}

/// Accepts every instance and keeps nothing.
struct DiscardingSink: InstanceSink {
    struct Receiver: InstanceReceiver {
        func receive(_ fragment: ByteBuffer) async throws {}
        func finish() async -> StoreStatus { .success }
        func cancel() async {}
    }

    func beginStore(_ request: StoreRequest) async throws -> any InstanceReceiver { Receiver() }
}

let arguments = CommandLine.arguments
guard arguments.count == 2, let port = Int(arguments[1]) else {
    FileHandle.standardError.write(Data("usage: listener-bench PORT\n".utf8))
    exit(2)
}
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}
let logger = Logger(label: "listener-bench")
let config = ListenerConfig(name: "bench", port: port, bindAddress: "127.0.0.1",
                            limits: ListenerLimits(maxAssociations: 64))
let supervisor = ListenerSupervisor(
    store: SingleListenerStore(config: config), makeSink: { _ in DiscardingSink() },
    pollInterval: .seconds(3600), shutdownGracePeriod: .seconds(5), logger: logger)
let group = ServiceGroup(configuration: .init(
    services: [.init(service: supervisor)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
try await group.run()
