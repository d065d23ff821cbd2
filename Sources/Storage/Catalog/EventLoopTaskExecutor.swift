import NIOCore
import PostgresNIO

/// A task executor that runs jobs on one NIO event loop: the loop of the PostgreSQL connection a catalog
/// operation holds.
///
/// Each statement of a transaction is a round trip on the connection's channel. Run on Swift's cooperative
/// pool, every round trip costs two thread wake-ups: the statement is handed to the event loop (an
/// `eventfd` write), and the loop hands the answer back to a pool thread (a futex wake). Under this
/// executor's preference the operation's code runs on the loop itself: a statement is written in place,
/// and the answer resumes the operation on the same thread in the same loop iteration, so a transaction
/// of N statements costs two wake-ups (onto the loop and back) instead of 2N. The code between statements
/// is short (building the next statement, decoding rows); the loop's other channels wait no longer than
/// they already do for the decoding of the answers.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        // `self` is captured so that the executor outlives every job it was handed.
        eventLoop.execute {
            unowned.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }
}

extension PostgresCatalogDatabase {
    /// Runs `body` on `eventLoop`, the loop of the connection the operation leased (see `EventLoopTaskExecutor`).
    static func onConnectionLoop<T: Sendable>(_ eventLoop: any EventLoop, _ body: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop), operation: body)
    }

    /// Leases a catalog connection and runs `body` with it on the connection's own event loop: every
    /// catalog operation (transaction, one-statement write, read) goes through here.
    func withLoopConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await client.withConnection { connection in
            try await Self.onConnectionLoop(connection.eventLoop) { try await body(connection) }
        }
    }
}
