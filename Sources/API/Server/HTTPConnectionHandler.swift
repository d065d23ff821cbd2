import NIOCore
import NIOHTTP1

/// What a connection hands to its async loop: a complete request, or a failure that ends the
/// connection after its response (parse error, body too large, chunked body, headers too large).
enum HTTPInbound: Sendable {
    case request(APIRequest)
    case failure(Problem, method: HTTPMethod, uri: String)
}

/// One response for the connection to write, in request order.
struct HTTPOutbound: Sendable {
    var response: APIResponse
    /// Close the connection once the response is on the wire.
    var close: Bool
    /// A response to HEAD: headers (with the GET Content-Length) but no body.
    var omitBody: Bool
}

/// Tells `ConnectionTimeoutHandler` where the connection is in its request/response cycle.
enum ConnectionEvent: Sendable {
    case requestReceived
    case responseSent
    case gracefulShutdown
}

/// Turns `HTTPServerRequestPart`s into whole requests with bounded bodies, and `HTTPOutbound`s into
/// response parts. Bodies must come with `Content-Length` ≤ `maxBodySize`: a larger length is refused
/// with 413 as soon as the head arrives (the body is never buffered), and `Transfer-Encoding` with 411.
/// Decoder errors become 400 (431 for header limits). After any such failure the rest of the input is
/// discarded and the connection closes once the failure's response is written.
final class HTTPConnectionHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPInbound
    typealias OutboundIn = HTTPOutbound
    typealias OutboundOut = HTTPServerResponsePart

    private enum State {
        case idle
        case receiving(HTTPRequestHead, ByteBuffer)
        /// A fatal failure was reported; nothing more is read from this connection.
        case discarding
    }

    private let maxBodySize: Int
    private var state: State = .idle

    init(maxBodySize: Int) {
        self.maxBodySize = maxBodySize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch (unwrapInboundIn(data), state) {
        case (_, .discarding):
            return
        case (.head(let head), .idle):
            if head.headers.contains(name: "Transfer-Encoding") {
                fail(context, .lengthRequired, head: head)
                return
            }
            let lengths = head.headers["Content-Length"]
            var length = 0
            if let first = lengths.first {
                guard lengths.count == 1, let parsed = Int(first), parsed >= 0 else {
                    fail(context, .badHTTP("Content-Length is not a single non-negative integer."), head: head)
                    return
                }
                length = parsed
            }
            if length > maxBodySize {
                fail(context, .payloadTooLarge(limit: maxBodySize), head: head)
                return
            }
            state = .receiving(head, context.channel.allocator.buffer(capacity: length))
            // RFC 9110 §10.1.1: a client waiting for 100 (curl does, for bodies over 1 KiB) may send the body.
            if length > 0, head.version == .http1_1,
               head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .continue))), promise: nil)
            }
        case (.body(var chunk), .receiving(let head, var body)):
            state = .idle  // drop the reference so the append does not copy
            body.writeBuffer(&chunk)
            guard body.readableBytes <= maxBodySize else {
                fail(context, .payloadTooLarge(limit: maxBodySize), head: head)
                return
            }
            state = .receiving(head, body)
        case (.end, .receiving(let head, let body)):
            state = .idle
            let request = APIRequest(method: head.method, uri: head.uri, version: head.version, headers: head.headers, body: body)
            context.triggerUserOutboundEvent(ConnectionEvent.requestReceived, promise: nil)
            context.fireChannelRead(wrapInboundOut(.request(request)))
        default:
            fail(context, .badHTTP("Unexpected HTTP message part."), head: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError {
            if case .discarding = state { return }
            let problem: Problem
            switch parserError {
            case .headerOverflow: problem = .headersTooLarge
            default: problem = .badHTTP("The request is not valid HTTP/1.1.")
            }
            var head: HTTPRequestHead?
            if case .receiving(let h, _) = state { head = h }
            fail(context, problem, head: head)
            return
        }
        context.fireErrorCaught(error)
    }

    private func fail(_ context: ChannelHandlerContext, _ problem: Problem, head: HTTPRequestHead?) {
        state = .discarding
        context.triggerUserOutboundEvent(ConnectionEvent.requestReceived, promise: nil)
        context.fireChannelRead(wrapInboundOut(.failure(problem, method: head?.method ?? .GET, uri: head?.uri ?? "")))
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let outbound = unwrapOutboundIn(data)
        let response = outbound.response
        let head = HTTPResponseHead(version: .http1_1, status: response.status, headers: response.headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if !outbound.omitBody && response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        let close = outbound.close
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        // Act only once the last byte is handed to the kernel, so the client sees the whole response.
        written.futureResult.whenComplete { _ in
            let context = loopBound.value
            context.triggerUserOutboundEvent(ConnectionEvent.responseSent, promise: nil)
            if close { context.close(promise: nil) }
        }
        written.futureResult.cascade(to: promise)
    }
}

/// Cuts off connections that sit idle between requests (`idleTimeout`), take too long to send one
/// request (`requestTimeout` from its first byte: a client trickling bytes is closed), or do not take
/// what we write (`writeTimeout` from the moment bytes are waiting for the client: a client that stops
/// reading would otherwise hold the connection, its task and the response forever). Sits in front of
/// the HTTP decoder so it sees raw bytes; learns of request and response boundaries through
/// `ConnectionEvent`s sent outbound by `HTTPConnectionHandler`.
final class ConnectionTimeoutHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    private let idleTimeout: TimeAmount
    private let requestTimeout: TimeAmount
    private let writeTimeout: TimeAmount
    private var receiving = false
    private var pendingResponses = 0
    private var closing = false
    private var timer: Scheduled<Void>?
    /// Writes handed to the channel and not yet written to the socket.
    private var pendingWrites = 0
    private var writeTimer: Scheduled<Void>?

    init(idleTimeout: TimeAmount, requestTimeout: TimeAmount, writeTimeout: TimeAmount = .seconds(30)) {
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
        self.writeTimeout = writeTimeout
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let written = promise ?? context.eventLoop.makePromise(of: Void.self)
        pendingWrites += 1
        if writeTimer == nil {
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            writeTimer = context.eventLoop.scheduleTask(in: writeTimeout) {
                loopBound.value.close(promise: nil)
            }
        }
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        written.futureResult.whenComplete { _ in
            let handler = handler.value
            handler.pendingWrites -= 1
            if handler.pendingWrites == 0 {
                handler.writeTimer?.cancel()
                handler.writeTimer = nil
            }
        }
        context.write(data, promise: written)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context, idleTimeout) }
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(context, idleTimeout)
        context.fireChannelActive()
    }

    func channelInactive(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        writeTimer?.cancel()
        writeTimer = nil
        context.fireChannelInactive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        writeTimer?.cancel()
        writeTimer = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !receiving {
            receiving = true
            arm(context, requestTimeout)
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard let event = event as? ConnectionEvent else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        switch event {
        case .requestReceived:
            receiving = false
            pendingResponses += 1
            timer?.cancel()
            timer = nil
        case .responseSent:
            pendingResponses -= 1
            settle(context)
        case .gracefulShutdown:
            closing = true
            settle(context)
        }
        promise?.succeed()
    }

    private func settle(_ context: ChannelHandlerContext) {
        guard pendingResponses == 0 && !receiving else { return }
        if closing {
            timer?.cancel()
            timer = nil
            context.close(promise: nil)
        } else {
            arm(context, idleTimeout)
        }
    }

    private func arm(_ context: ChannelHandlerContext, _ delay: TimeAmount) {
        timer?.cancel()
        let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        timer = context.eventLoop.scheduleTask(in: delay) {
            loopBound.value.close(promise: nil)
        }
    }
}
