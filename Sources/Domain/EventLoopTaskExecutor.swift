public import NIOCore

/// A task executor that runs jobs on one NIO event loop.
///
/// Code that talks to a channel in many short steps (a DIMSE association reading PDUs, a PostgreSQL
/// transaction of several statements) pays two thread wake-ups per step on Swift's cooperative pool: the
/// channel's event loop hands each read or answer to a pool thread (a futex wake), and the next write is
/// handed back to the loop (an `eventfd` write). Under this executor's preference (`run(on:_:)`) the
/// code runs on the loop itself: an answer read by the loop resumes it on the same thread in the same
/// loop iteration, and a write is made in place. Child tasks inherit the preference; work that may block
/// (file I/O, SQLite) still goes to its own threads, and the loop's other channels wait only for the
/// short steps in between.
public final class EventLoopTaskExecutor: TaskExecutor {
    private let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        // `self` is captured so that the executor outlives every job it was handed.
        eventLoop.execute {
            unowned.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }

    public func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    /// Runs `body` (and the child tasks it starts) on `eventLoop`.
    public static func run<T: Sendable, E: Error>(on eventLoop: any EventLoop,
                                                  _ body: () async throws(E) -> T) async throws(E) -> T {
        try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop), operation: body)
    }
}
