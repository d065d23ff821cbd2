@testable import API
import Domain
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import TestSupport
import Testing

/// A live server with the given configuration on 127.0.0.1:0, shut down gracefully after `body`.
private func withServer<T>(_ configure: (inout APIConfiguration) -> Void, _ body: (Int) async throws -> T) async throws -> T {
    var configuration = APIConfiguration(host: "127.0.0.1", port: 0, adminTokens: [Tokens.admin])
    configure(&configuration)
    let server = APIServer(configuration: configuration, catalog: try await makeCatalog(), listeners: RecordingListenerControl(),
                           readiness: { [] }, metrics: { "" }, logger: quietLogger("test.limits"))
    let group = ServiceGroup(services: [server], gracefulShutdownSignals: [], cancellationSignals: [], logger: quietLogger("test.group"))
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        _ = await eventually(timeout: .seconds(5), interval: .milliseconds(10)) { await server.boundPort != nil }
        let bound = try #require(await server.boundPort)
        do {
            let result = try await body(bound)
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

@Suite("REST connection limits")
struct ConnectionLimitsTests {
    @Test("connections over the cap are closed unanswered; a freed slot is reused")
    func connectionCap() async throws {
        try await withServer({ $0.maxConnections = 2 }) { port in
            let first = try await RawConnection.connect(port: port)
            let second = try await RawConnection.connect(port: port)
            for connection in [first, second] {
                try await connection.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
                #expect(try await connection.waitForResponses(1).first?.status == 200)
            }
            let third = try await RawConnection.connect(port: port)
            try? await third.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            #expect(try await third.waitUntilClosed())
            #expect(third.text.isEmpty)

            first.close()
            // The slot is released once the server sees the close.
            let served = try await eventually(timeout: .seconds(30), interval: .milliseconds(50)) {
                let next = try await RawConnection.connect(port: port)
                try? await next.send("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                let status = try await next.waitForResponses(1).first?.status
                next.close()
                return status == 200
            }
            #expect(served)
            second.close()
        }
    }

    @Test("a client that stops reading is cut off by the write timeout")
    func writeTimeout() async throws {
        try await withServer({ $0.writeTimeout = .seconds(1) }) { port in
            let counter = ByteCounter()
            let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.autoRead, value: false)  // reads nothing at first: the server's writes back up
                .channelOption(.socketOption(.so_rcvbuf), value: 4096)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(counter) }
                }
                .connect(host: "127.0.0.1", port: port).get()
            let count = 2000
            let request = String(repeating: "GET /openapi.yaml HTTP/1.1\r\nHost: t\r\n\r\n", count: count)
            try await channel.writeAndFlush(ByteBuffer(string: request)).get()
            try await Task.sleep(for: .seconds(3))  // the write timeout and a margin, reading nothing
            // The channel may already have seen the server's reset: then there is nothing left to read.
            if channel.isActive {
                try? await channel.setOption(.autoRead, value: true).get()
                channel.read()
            }
            // Bounded by polling: either the server's close arrives or every response does.
            _ = await eventually(timeout: .seconds(30), interval: .milliseconds(50)) {
                counter.isClosed || counter.responses >= count
            }
            #expect(counter.isClosed || !channel.isActive, "the server kept a connection whose client did not read")
            #expect(counter.responses < count)
            try? await channel.close()
        }
    }
}

/// Counts response status lines and notices the close; owns its lock (the test polls it).
private final class ByteCounter: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private let lock = NSLock()
    private var statusLines = 0
    private var closed = false
    private var tail: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        let bytes = tail + (buffer.readBytes(length: buffer.readableBytes) ?? [])
        let marker = Array("HTTP/1.1 200".utf8)
        var found = 0
        if bytes.count >= marker.count {
            for i in 0...(bytes.count - marker.count) where bytes[i] == marker[0] && Array(bytes[i..<(i + marker.count)]) == marker {
                found += 1
            }
        }
        lock.withLock {
            statusLines += found
            tail = Array(bytes.suffix(marker.count - 1))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        lock.withLock { closed = true }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    var isClosed: Bool { lock.withLock { closed } }
    var responses: Int { lock.withLock { statusLines } }
}
