import DICOM
import NIOConcurrencyHelpers
import NIOCore

/// The inbound side of an association: decoded PDUs handed to one async consumer, with read demand that
/// the consumer drives explicitly.
///
/// The channel runs with `autoRead` off. The socket is read only when fewer than `prefetch` PDUs wait
/// for the consumer and no read is outstanding; each read burst ends in `channelReadComplete`, which asks
/// again while the buffer is short (a burst may hold only part of a PDU). So the socket is never read
/// while the sink is busy with `prefetch` PDUs queued, and a PDU the peer has sent is never left in the
/// socket while the consumer waits: every state with an empty buffer and a waiting consumer has a read
/// outstanding or the channel closed. Unlike `NIOAsyncChannel`'s high/low-watermark bridge, read demand
/// here is explicit, so the consumer needs no read-before-wait workaround.
///
/// Thread safety (`@unchecked`): every field the consumer touches is behind the handler's own `lock`;
/// `context` is set and used only on the channel's event loop.
final class PDUInbound: ChannelInboundHandler, RemovableChannelHandler, @unchecked Sendable {
    typealias InboundIn = PDU

    /// PDUs read ahead of the consumer; with up to one more being decoded, memory per association stays
    /// at about three PDUs whatever the instance size.
    static let prefetch = 2

    private struct State {
        var buffer = CircularBuffer<PDU>(initialCapacity: 4)
        var waiter: CheckedContinuation<PDU?, any Error>?
        /// A read is outstanding: asked for and not yet ended by `channelReadComplete`.
        var reading = false
        /// The stream's end: nil while open; then the error to throw once (or none) before nil forever.
        var end: EndState?
        var cancelled = false
        /// The listener is draining and the consumer has not yet been told (see `requestDrain`).
        var drainPending = false
    }

    /// Thrown once by `next()` after `requestDrain()`, to a consumer waiting for (or about to wait for) a
    /// PDU that has not arrived: the association decides whether it is idle and may end.
    struct DrainRequested: Error {}

    private enum EndState {
        case error(any Error)
        case finished
    }

    private let lock = NIOLock()
    private var state = State()
    private var context: ChannelHandlerContext?
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    // MARK: Consumer side

    /// The next PDU; nil once the connection has closed. A decoding error is thrown once, where it
    /// occurred in the stream. Cancellation throws `CancellationError`.
    func next() async throws -> PDU? {
        if let ready = try lock.withLock({ try takeReady() }) {
            scheduleReadIfNeeded()
            return ready
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PDU?, any Error>) in
                let result: Result<PDU?, any Error>? = lock.withLock {
                    if state.cancelled { return .failure(CancellationError()) }
                    do {
                        if let ready = try takeReady() { return .success(ready) }
                    } catch {
                        return .failure(error)
                    }
                    if case .finished? = state.end { return .success(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let result {
                    continuation.resume(with: result)
                }
                scheduleReadIfNeeded()
            }
        } onCancel: {
            let waiter = lock.withLock {
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// A buffered PDU, or the pending end error (thrown once); nil when the consumer must wait or the
    /// stream is finished. Called with the lock held.
    private func takeReady() throws -> PDU? {
        if let pdu = state.buffer.popFirst() { return pdu }
        if state.drainPending, state.end == nil {
            state.drainPending = false
            throw DrainRequested()
        }
        if case .error(let error)? = state.end {
            state.end = .finished
            throw error
        }
        return nil
    }

    private func scheduleReadIfNeeded() {
        let needed = lock.withLock { state.end == nil && !state.reading && state.buffer.count < Self.prefetch }
        guard needed else { return }
        if eventLoop.inEventLoop {
            readIfNeeded()
        } else {
            eventLoop.execute { self.readIfNeeded() }
        }
    }

    /// The listener stops: wakes the consumer if it waits for a PDU (a PDU already buffered is delivered
    /// first), so an idle association can end at once instead of holding the shutdown for the grace period.
    func requestDrain() {
        let waiter: CheckedContinuation<PDU?, any Error>? = lock.withLock {
            guard state.end == nil else { return nil }
            guard let waiter = state.waiter, state.buffer.isEmpty else {
                state.drainPending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume(throwing: DrainRequested())
    }

    // MARK: Event loop side

    /// Issues a read when the buffer is short and none is outstanding. Event loop only.
    private func readIfNeeded() {
        guard let context else { return }
        let issue = lock.withLock {
            guard state.end == nil, !state.reading, state.buffer.count < Self.prefetch else { return false }
            state.reading = true
            return true
        }
        if issue { context.read() }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        finish(nil)
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let pdu = Self.unwrapInboundIn(data)
        let waiter: CheckedContinuation<PDU?, any Error>? = lock.withLock {
            guard state.end == nil else { return nil }
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.buffer.append(pdu)
            return nil
        }
        waiter?.resume(returning: pdu)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        lock.withLock { state.reading = false }
        readIfNeeded()
        context.fireChannelReadComplete()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(error)
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(nil)
        context.fireChannelInactive()
    }

    /// Ends the stream after the buffered PDUs: with `error` (thrown once) or cleanly.
    private func finish(_ error: (any Error)?) {
        let waiter: CheckedContinuation<PDU?, any Error>? = lock.withLock {
            guard state.end == nil else { return nil }
            state.end = error.map { .error($0) } ?? .finished
            guard let waiter = state.waiter, state.buffer.isEmpty else { return nil }
            state.waiter = nil
            if error != nil { state.end = .finished }
            return waiter
        }
        if let waiter {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
        }
    }
}
