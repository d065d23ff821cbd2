import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A task executor with one thread of its own, for one SQLite connection.
///
/// A catalog transaction is a chain of statements (BEGIN, the instance's rows, COMMIT). Run as one
/// thread-pool job per statement, each costs two thread wake-ups (to the pool and back to the cooperative
/// pool), about twenty per ingested instance. Under this executor's preference the whole transaction's
/// async code runs on the connection's own thread, where each statement is a plain call into SQLite: one
/// wake-up in, one out. The thread may block in SQLite (a COMMIT's fsync, a busy wait on another process's
/// lock) without holding up Swift's cooperative pool, which is why it is not a pool thread.
///
/// The thread starts with the first job and ends at `shutdown()` once its queue is empty; a job that comes
/// after that starts a new one, so no job is ever left without a thread.
///
/// `@unchecked Sendable`: the job queue, `thread` and `stopping` are only touched under `condition`.
final class SQLiteThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0
    private var thread: pthread_t?
    private var starting = false
    private var stopping = false
    private let name: String

    init(name: String) {
        self.name = name
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        if thread == nil && !starting {
            starting = true
            stopping = false
            startThread()
        }
        condition.signal()
        condition.unlock()
    }

    /// Lets the thread end once it has run every job queued so far (the connection is closed).
    func shutdown() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }

    /// Whether the executor has a thread now (tests watch it end after `shutdown()`).
    var hasThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        return thread != nil || starting
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor {
        UnownedTaskExecutor(ordinary: self)
    }

    /// True on this executor's thread: there a statement runs in place, elsewhere it hops to a pool thread.
    var isCurrent: Bool {
        condition.lock()
        let owner = thread
        condition.unlock()
        guard let owner else { return false }
        return pthread_equal(owner, pthread_self()) != 0
    }

    /// Called under `condition`. The new thread records itself before it runs a job, so `isCurrent` is
    /// exact for every job.
    private func startThread() {
        let started = Thread { [self] in
            self.runJobs()
        }
        started.start()
    }

    private func runJobs() {
        // What `top -H` and `/proc/<pid>/task/*/comm` show; set from the thread itself, which is when
        // Foundation passes it on to the system on Linux.
        Thread.current.name = name
        condition.lock()
        thread = pthread_self()
        starting = false
        let executor = asUnownedTaskExecutor()
        while true {
            while head == jobs.count {
                jobs.removeAll(keepingCapacity: true)
                head = 0
                if stopping {
                    thread = nil
                    condition.unlock()
                    return
                }
                condition.wait()
            }
            let job = jobs[head]
            head += 1
            condition.unlock()
            job.runSynchronously(on: executor)
            condition.lock()
        }
    }
}
