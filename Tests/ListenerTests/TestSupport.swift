import Domain
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// The listener store port held in memory: enough to drive the supervisor with configurations.
actor InMemoryListenerStore: ListenerStore {
    private var rows: [UUID: ListenerConfig] = [:]
    private var order: [UUID] = []
    /// Every `setListenerState` call, in order.
    private(set) var stateWrites: [(UUID, ListenerState, String?)] = []

    init(_ listeners: [ListenerConfig] = []) {
        for listener in listeners {
            rows[listener.id] = listener
            order.append(listener.id)
        }
    }

    func listListeners() async throws -> [ListenerConfig] { order.compactMap { rows[$0] } }
    func listener(id: UUID) async throws -> ListenerConfig? { rows[id] }
    func createListener(_ listener: ListenerConfig) async throws {
        rows[listener.id] = listener
        order.append(listener.id)
    }
    func updateListener(_ listener: ListenerConfig) async throws {
        guard let old = rows[listener.id] else { throw CatalogError(.notFound, detail: "no listener") }
        var new = listener
        new.state = old.state
        new.error = old.error
        new.updatedAt = Date()
        rows[listener.id] = new
    }
    func deleteListener(id: UUID) async throws {
        rows[id] = nil
        order.removeAll { $0 == id }
    }
    func setListenerState(id: UUID, state: ListenerState, error: String?) async throws {
        guard rows[id] != nil else { throw CatalogError(.notFound, detail: "no listener") }
        rows[id]?.state = state
        rows[id]?.error = error
        stateWrites.append((id, state, error))
    }

    func state(_ id: UUID) -> (ListenerState, String?)? { rows[id].map { ($0.state, $0.error) } }
    func stateWriteCount(_ id: UUID) -> Int { stateWrites.filter { $0.0 == id }.count }
}

/// A sink that records what the listener hands it, and keeps or discards the bytes.
final class RecordingSink: InstanceSink, @unchecked Sendable {
    // @unchecked: every stored property is guarded by `lock`.
    private let lock = NIOLock()
    private var _accepted: [AssociationContext] = []
    private var _ended: [(AssociationContext, AssociationOutcome)] = []
    private var _rejected: [RejectedAssociation] = []
    private var _stored: [StoredInstance] = []
    private var _cancelled: [StoreRequest] = []
    private var _begun: [StoreRequest] = []
    private var _onEventLoop: [Bool] = []
    let keepBytes: Bool
    /// Status answered by `finish()` (success by default).
    let status: @Sendable (StoreRequest) -> StoreStatus
    /// Thrown by `beginStore` when set.
    let refuse: (@Sendable (StoreRequest) -> StoreFailure?)?
    /// Thrown by `receive` (given the request and the 1-based fragment number) when set.
    let failReceive: (@Sendable (StoreRequest, Int) -> StoreFailure?)?

    struct StoredInstance: Sendable {
        var request: StoreRequest
        var bytes: ByteBuffer?
        var byteCount: Int
        var fragments: Int
    }

    init(keepBytes: Bool = true, status: @escaping @Sendable (StoreRequest) -> StoreStatus = { _ in .success },
         refuse: (@Sendable (StoreRequest) -> StoreFailure?)? = nil,
         failReceive: (@Sendable (StoreRequest, Int) -> StoreFailure?)? = nil) {
        self.keepBytes = keepBytes
        self.status = status
        self.refuse = refuse
        self.failReceive = failReceive
    }

    var accepted: [AssociationContext] { lock.withLock { _accepted } }
    var ended: [(AssociationContext, AssociationOutcome)] { lock.withLock { _ended } }
    var rejected: [RejectedAssociation] { lock.withLock { _rejected } }
    var stored: [StoredInstance] { lock.withLock { _stored } }
    var cancelled: [StoreRequest] { lock.withLock { _cancelled } }
    var begun: [StoreRequest] { lock.withLock { _begun } }
    /// For each `receive` and `finish` call, whether it ran on a NIO event loop thread.
    var onEventLoop: [Bool] { lock.withLock { _onEventLoop } }

    func beginStore(_ request: StoreRequest) async throws -> any InstanceReceiver {
        lock.withLock { _begun.append(request) }
        if let failure = refuse?(request) { throw failure }
        return Receiver(sink: self, request: request)
    }
    func associationAccepted(_ context: AssociationContext) async { lock.withLock { _accepted.append(context) } }
    func associationEnded(_ context: AssociationContext, outcome: AssociationOutcome) async {
        lock.withLock { _ended.append((context, outcome)) }
    }
    func associationRejected(_ rejection: RejectedAssociation) async { lock.withLock { _rejected.append(rejection) } }

    fileprivate func record(_ instance: StoredInstance) { lock.withLock { _stored.append(instance) } }
    fileprivate func recordCancel(_ request: StoreRequest) { lock.withLock { _cancelled.append(request) } }
    fileprivate func recordThread() {
        let onLoop = MultiThreadedEventLoopGroup.currentEventLoop != nil
        lock.withLock { _onEventLoop.append(onLoop) }
    }

    final class Receiver: InstanceReceiver, @unchecked Sendable {
        // @unchecked: every stored property is guarded by `lock`.
        private let lock = NIOLock()
        private let sink: RecordingSink
        private let request: StoreRequest
        private var bytes = ByteBuffer()
        private var count = 0
        private var fragments = 0

        init(sink: RecordingSink, request: StoreRequest) {
            self.sink = sink
            self.request = request
        }

        func receive(_ fragment: ByteBuffer) async throws {
            sink.recordThread()
            let number = lock.withLock { fragments + 1 }
            if let failure = sink.failReceive?(request, number) { throw failure }
            lock.withLock {
                count += fragment.readableBytes
                fragments += 1
                if sink.keepBytes {
                    var fragment = fragment
                    bytes.writeBuffer(&fragment)
                }
            }
        }

        func finish() async -> StoreStatus {
            sink.recordThread()
            let status = sink.status(request)
            if status.isSuccess || status.isWarning {
                let instance = lock.withLock {
                    StoredInstance(request: request, bytes: sink.keepBytes ? bytes : nil, byteCount: count, fragments: fragments)
                }
                sink.record(instance)
            }
            return status
        }

        func cancel() async { sink.recordCancel(request) }
    }
}

/// Whether a TCP connect to 127.0.0.1:`port` succeeds.
func canConnect(port: Int) async -> Bool {
    do {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(.seconds(2))
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.close()
        return true
    } catch {
        return false
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "listener-tests")
    logger.logLevel = ProcessInfo.processInfo.environment["LISTENER_TEST_LOG"].map { Logger.Level(rawValue: $0) ?? .info } ?? .critical
    return logger
}()
