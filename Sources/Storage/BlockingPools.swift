import NIOPosix

/// Thread pools for blocking system calls, one per kind of work, started on first use and kept for the
/// process's life (like `NIOThreadPool.singleton`, which has only one thread per core).
///
/// File writes spend most of their time blocked in `fsync`; the embedded catalog's statements each hop
/// to a thread. On the shared singleton (2 threads on a 2-core machine) four associations' fsyncs and
/// SQLite statements queue behind each other although no core is busy, so each gets its own pool.
enum BlockingPools {
    /// `write`, `fsync`, `rename` and `open` of the filesystem object store: up to this many objects
    /// complete in parallel (the count of associations a busy node serves at once).
    static let files: NIOThreadPool = started(threads: 16)

    /// The SQLite catalog's connections (one writer, a few readers).
    static let sqlite: NIOThreadPool = started(threads: 4)

    private static func started(threads: Int) -> NIOThreadPool {
        let pool = NIOThreadPool(numberOfThreads: threads)
        pool.start()
        return pool
    }
}
