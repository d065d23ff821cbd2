import Domain
import NIOCore
import NIOPosix
import Testing

/// Code run under an `EventLoopTaskExecutor`'s preference stays on that loop across suspensions, and so
/// do its child tasks.
@Suite("Event loop task executor")
struct EventLoopTaskExecutorTests {
    @Test func aPreferringTaskStaysOnTheLoopAcrossSuspensionsThatCompleteElsewhere() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let loop = group.next()
        var other = group.next()
        while other === loop { other = group.next() }
        let answering = other
        let onLoop = try await EventLoopTaskExecutor.run(on: loop) {
            var every: [Bool] = []
            for index in 0..<20 {
                every.append(loop.inEventLoop)
                // A future completed on another loop (as an answer read by another channel would be).
                let value = try await answering.submit { index }.get()
                #expect(value == index)
                every.append(loop.inEventLoop)
                try await Task.sleep(for: .milliseconds(1))
            }
            return every
        }
        #expect(onLoop.count == 40)
        #expect(onLoop.allSatisfy { $0 })
        #expect(!loop.inEventLoop)
        try await group.shutdownGracefully()
    }

    @Test func childTasksInheritTheLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let children = await EventLoopTaskExecutor.run(on: loop) {
            await withTaskGroup(of: Bool.self) { tasks in
                for _ in 0..<8 { tasks.addTask { loop.inEventLoop } }
                var all: [Bool] = []
                for await onLoop in tasks { all.append(onLoop) }
                return all
            }
        }
        #expect(children == Array(repeating: true, count: 8))
        let detached = await Task.detached { loop.inEventLoop }.value
        #expect(!detached)
        try await group.shutdownGracefully()
    }
}
