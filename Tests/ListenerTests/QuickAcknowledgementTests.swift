#if os(Linux)
import Domain
import Glibc
@testable import Listener
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

/// `QuickAcknowledgement` on real loopback sockets: after each answer the accepted socket is back in quick-ACK
/// mode (`getsockopt(TCP_QUICKACK)` reads 1), where without it the kernel has entered delayed-ACK mode (0), the
/// mode in which a sender with Nagle's algorithm on waits up to 40 ms per request.
@Suite("Quick acknowledgement after each answer")
struct QuickAcknowledgementTests {
    static let requestBytes = 20_000
    static let exchanges = 5

    /// Counts request bytes; at each full request answers, flushes, and records the socket's TCP_QUICKACK.
    final class Answerer: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let quickAckAfterAnswers = NIOLockedValueBox<[Int]>([])
        let pending = NIOLockedValueBox(0)

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let received = Self.unwrapInboundIn(data).readableBytes
            let complete = pending.withLockedValue { pending -> Bool in
                pending += received
                guard pending >= QuickAcknowledgementTests.requestBytes else { return false }
                pending -= QuickAcknowledgementTests.requestBytes
                return true
            }
            guard complete else { return }
            context.writeAndFlush(Self.wrapOutboundOut(context.channel.allocator.buffer(string: "answer")), promise: nil)
            let option = ChannelOptions.tcpOption(NIOBSDSocket.Option(rawValue: Int32(TCP_QUICKACK)))
            let value = (try? context.channel.syncOptions?.getOption(option)) ?? -1
            quickAckAfterAnswers.withLockedValue { $0.append(value) }
        }
    }

    /// The TCP_QUICKACK value read after each of `exchanges` request/answer rounds.
    func quickAckValues(withHandler: Bool) async throws -> [Int] {
        let answerer = Answerer()
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await ServerBootstrap(group: group)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if withHandler { try channel.pipeline.syncOperations.addHandler(QuickAcknowledgement()) }
                    try channel.pipeline.syncOperations.addHandler(answerer)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(server.localAddress?.port)
        let client = try await ClientBootstrap(group: group)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        try await client.executeThenClose { inbound, outbound in
            var answers = inbound.makeAsyncIterator()
            for _ in 0..<Self.exchanges {
                try await outbound.write(ByteBuffer(repeating: 0x41, count: Self.requestBytes))
                var answered = 0
                while answered < 6, let buffer = try await answers.next() { answered += buffer.readableBytes }
            }
        }
        try await server.close()
        return answerer.quickAckAfterAnswers.withLockedValue { $0 }
    }

    @Test func everyAnswerLeavesTheSocketInQuickAckMode() async throws {
        #expect(try await quickAckValues(withHandler: true) == Array(repeating: 1, count: Self.exchanges))
    }

    /// The control: the same exchange without the handler. If the kernel stopped entering delayed-ACK mode
    /// after an answer, this would fail and the handler would no longer be needed.
    @Test func withoutItTheKernelDelaysAcknowledgementsAfterAnAnswer() async throws {
        #expect(try await quickAckValues(withHandler: false).allSatisfy { $0 == 0 })
    }

    @Test func theAssociationPipelineHasIt() throws {
        let channel = EmbeddedChannel()
        try AssociationPipeline.configure(channel, tls: nil, limits: .init(), metrics: ListenerMetrics(listenerName: "t"))
        #expect(throws: Never.self) { try channel.pipeline.syncOperations.context(handlerType: QuickAcknowledgement.self) }
        _ = try channel.finish()
    }
}
#endif
