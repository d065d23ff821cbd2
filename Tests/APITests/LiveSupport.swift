@testable import API
import Domain
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Storage
import TestSupport
import Testing

/// A real `APIServer` on 127.0.0.1:0 with short timeouts, run in a `ServiceGroup` for the body's
/// duration, then shut down gracefully.
func withLiveServer<T>(
    idleTimeout: Duration = .seconds(10),
    requestTimeout: Duration = .seconds(10),
    maxBodySize: Int = 1 << 20,
    tls: APIConfiguration.TLS? = nil,
    readiness: @escaping @Sendable () async -> [ReadinessCheck] = { [ReadinessCheck(name: "catalog", error: nil)] },
    _ body: (_ port: Int, _ catalog: SQLiteCatalog, _ group: ServiceGroup) async throws -> T
) async throws -> T {
    let catalog = try await makeCatalog()
    let configuration = APIConfiguration(
        host: "127.0.0.1", port: 0, tls: tls, adminTokens: [Tokens.admin], readTokens: [Tokens.read], maxBodySize: maxBodySize,
        idleTimeout: idleTimeout, requestTimeout: requestTimeout)
    let server = APIServer(
        configuration: configuration, catalog: catalog, listeners: RecordingListenerControl(), readiness: readiness,
        metrics: { "up 1\n" }, events: catalog, logger: quietLogger("test.live"))
    let group = ServiceGroup(services: [server], gracefulShutdownSignals: [], cancellationSignals: [], logger: quietLogger("test.group"))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        _ = await eventually(timeout: .seconds(5), interval: .milliseconds(10)) { await server.boundPort != nil }
        let boundPort = try #require(await server.boundPort, "the API server did not bind within 5 s")
        do {
            let result = try await body(boundPort, catalog, group)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return result
        } catch {
            await group.triggerGracefulShutdown()
            tasks.cancelAll()
            throw error
        }
    }
}

/// A plain TCP client that writes raw bytes and collects everything the server sends until it closes.
final class RawConnection: Sendable {
    let channel: any Channel
    private let collector: Collector

    /// Collects bytes and the close from the event loop; owns its lock (the test reads concurrently).
    private final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        private let lock = NSLock()
        private var received: [UInt8] = []
        private var closed = false

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
            lock.withLock { received += bytes }
        }
        func channelInactive(context: ChannelHandlerContext) {
            lock.withLock { closed = true }
        }
        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
        var isClosed: Bool { lock.withLock { closed } }
        var text: String { lock.withLock { String(decoding: received, as: UTF8.self) } }
    }

    private init(channel: any Channel, collector: Collector) {
        self.channel = channel
        self.collector = collector
    }

    static func connect(port: Int) async throws -> RawConnection {
        let collector = Collector()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelOption(.allowRemoteHalfClosure, value: false)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawConnection(channel: channel, collector: collector)
    }

    var isClosed: Bool { collector.isClosed }
    var text: String { collector.text }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// Waits (polling, bounded by `timeout`) until `done` holds; returns whether it did.
    @discardableResult
    func wait(timeout: Duration = .seconds(30), until done: (RawConnection) -> Bool) async throws -> Bool {
        await eventually(timeout: timeout, interval: .milliseconds(5)) { done(self) }
    }

    func waitForResponses(_ count: Int, timeout: Duration = .seconds(30)) async throws -> [RawResponse] {
        try await wait(timeout: timeout) { RawResponse.parseAll($0.text).count >= count || $0.isClosed }
        return RawResponse.parseAll(text)
    }

    func waitUntilClosed(timeout: Duration = .seconds(30)) async throws -> Bool {
        try await wait(timeout: timeout) { $0.isClosed }
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// One HTTP/1.1 response parsed from raw bytes (Content-Length framing only, as our server sends).
struct RawResponse {
    var status: Int
    var headers: [String: String]
    var body: String

    static func parseAll(_ text: String, headRequests: Set<Int> = []) -> [RawResponse] {
        var result: [RawResponse] = []
        var rest = Substring(text)
        while let headEnd = rest.range(of: "\r\n\r\n") {
            let lines = rest[..<headEnd.lowerBound].components(separatedBy: "\r\n")
            guard let statusLine = lines.first, statusLine.hasPrefix("HTTP/1.1 "),
                  let status = Int(statusLine.dropFirst(9).prefix(3)) else { break }
            var headers: [String: String] = [:]
            for line in lines.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            let isHead = headRequests.contains(result.count)
            let length = isHead ? 0 : Int(headers["content-length"] ?? "0") ?? 0
            let bodyStart = headEnd.upperBound
            let utf8 = rest[bodyStart...].utf8
            guard utf8.count >= length else { break }
            let bodyEnd = utf8.index(utf8.startIndex, offsetBy: length)
            result.append(RawResponse(status: status, headers: headers, body: String(rest[bodyStart..<bodyEnd])))
            rest = rest[bodyEnd...]
        }
        return result
    }

    func entry(method: String, path: String) -> ResponseRecorder.Entry {
        ResponseRecorder.Entry(method: method, path: path, status: status, headers: headers, body: body)
    }
}
