import Foundation
@testable import Storage
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The executor a SQLite connection's transactions run on: one thread of its own, every job of a task
/// that prefers it runs there, in order, and the code can tell whether it is on that thread.
@Suite("SQLite thread executor")
struct SQLiteThreadExecutorTests {
    /// The pthread the calling code runs on, as an integer that crosses task boundaries.
    private static func currentThread() -> UInt {
        UInt(pthread_self())
    }

    @Test func aPreferringTaskRunsOnTheExecutorsOneThreadAcrossSuspensions() async throws {
        let executor = SQLiteThreadExecutor(name: "test-sqlite")
        #expect(!executor.isCurrent)
        let threads = try await withTaskExecutorPreference(executor) {
            var seen: [UInt] = []
            for _ in 0..<20 {
                #expect(executor.isCurrent)
                seen.append(Self.currentThread())
                // A suspension that resumes from another thread comes back to the executor.
                try await Task.sleep(for: .milliseconds(1))
                await Task.yield()
            }
            return seen
        }
        #expect(Set(threads).count == 1)
        #expect(!threads.isEmpty)
        #expect(!executor.isCurrent)
    }

    @Test func childTasksInheritThePreferenceAndTheThreadIsTheSameForEveryTask() async throws {
        let executor = SQLiteThreadExecutor(name: "test-sqlite")
        let threads = await withTaskExecutorPreference(executor) {
            await withTaskGroup(of: (UInt, Bool).self) { group in
                for _ in 0..<8 {
                    group.addTask { (Self.currentThread(), executor.isCurrent) }
                }
                var all: [(UInt, Bool)] = []
                for await result in group { all.append(result) }
                return all
            }
        }
        #expect(threads.count == 8)
        #expect(threads.allSatisfy { $0.1 })
        #expect(Set(threads.map(\.0)).count == 1)
        // Another task without the preference does not run there.
        let elsewhere = await Task.detached { executor.isCurrent }.value
        #expect(!elsewhere)
    }

    @Test func theThreadEndsAtShutdownAndALaterJobStillRuns() async throws {
        let executor = SQLiteThreadExecutor(name: "test-sqlite")
        #expect(!executor.hasThread)
        let first = await withTaskExecutorPreference(executor) { executor.isCurrent }
        #expect(first)
        #expect(executor.hasThread)
        executor.shutdown()
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(10)
        while executor.hasThread && clock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(!executor.hasThread)
        // A task that still prefers the executor after its connection closed is not stranded.
        let later = await withTaskExecutorPreference(executor) { executor.isCurrent }
        #expect(later)
        executor.shutdown()
    }

    @Test func jobsRunOneAfterAnotherNeverTwoAtOnce() async throws {
        let executor = SQLiteThreadExecutor(name: "test-sqlite")
        let running = Overlap()
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<16 {
                group.addTask(executorPreference: executor) {
                    for _ in 0..<10 {
                        running.state.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
                        usleep(200)  // a blocking call, as a statement's fsync would be
                        running.state.withLock { $0.now -= 1 }
                        await Task.yield()
                    }
                }
            }
        }
        #expect(running.state.withLock { $0.most } == 1)
    }
}

/// How many jobs run at once, and the most seen.
private final class Overlap: Sendable {
    let state = Mutex((now: 0, most: 0))
}
