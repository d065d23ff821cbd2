import NIOCore
import Synchronization

/// The bytes of instances this process spooled recently, kept in memory for its forwarder, so that a
/// forward of a small instance received here does not read its spool files back and hash them again.
///
/// A receive into the spool retains the chunks it writes (`SpoolUpload`) while they fit; once the catalog
/// row is committed it deposits them here, with the metadata body written beside them and the SHA-256 the
/// receive computed over exactly those bytes. The forwarder takes the entry of the row it forwards only
/// when the row names the same SHA-256 and length, so an entry that no longer matches its spool file (the
/// file was replaced by a receive on another node sharing the volume, or removed) is never used: the
/// forward then reads the files as before. The spool files stay the durable copy either way.
///
/// Memory is bounded by `capacity`, shared by the chunks receives in flight retain and the deposited
/// entries. Room for a receive evicts the oldest entries first (entries of rows another node forwards, or
/// of a backlog, would otherwise stay); a receive that still finds no room stops retaining, and its
/// instance is forwarded from its files.
final class SpoolHandoff: Sendable {
    /// One deposited instance: its Part10 bytes as written, and the metadata written beside it.
    struct Handed: Sendable {
        var part10: [ByteBuffer]
        var length: Int64
        /// Path of the metadata spool file and its body, when the listener creates metadata.
        var metadata: (path: String, body: ByteBuffer)?
    }

    private struct Entry {
        var handed: Handed
        var sha256: String
        var bytes: Int64
        var serial: UInt64
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Deposit order (path, serial) for eviction, oldest first; an item whose entry was taken or
        /// replaced since is skipped.
        var order = CircularBuffer<(path: String, serial: UInt64)>()
        /// Bytes of the deposited entries.
        var held: Int64 = 0
        /// Bytes retained by receives in flight, not deposited yet.
        var reserved: Int64 = 0
        var serial: UInt64 = 0
    }

    /// Bytes of retained chunks and entries together.
    let capacity: Int64
    /// A larger instance is never retained: its forward streams from the file (multipart for large ones).
    let objectLimit: Int64
    private let state = Mutex(State())

    static let defaultCapacity: Int64 = 16 << 20
    static let defaultObjectLimit: Int64 = 4 << 20

    init(capacity: Int64 = SpoolHandoff.defaultCapacity, objectLimit: Int64 = SpoolHandoff.defaultObjectLimit) {
        self.capacity = max(0, capacity)
        self.objectLimit = max(0, min(objectLimit, capacity))
    }

    /// Bytes of entries and retained chunks.
    var inUse: Int64 { state.withLock { $0.held + $0.reserved } }
    /// Items in the eviction order (bounded by `compact`).
    var orderCount: Int { state.withLock { $0.order.count } }

    /// Reserves `bytes` more for chunks a receive retains, evicting the oldest entries when needed; false
    /// when they do not fit even then (nothing is reserved).
    func reserve(_ bytes: Int64) -> Bool {
        state.withLock { state in
            guard state.reserved + bytes <= capacity else { return false }
            while state.held + state.reserved + bytes > capacity, let oldest = state.order.popFirst() {
                if let entry = state.entries[oldest.path], entry.serial == oldest.serial {
                    state.entries[oldest.path] = nil
                    state.held -= entry.bytes
                }
            }
            guard state.held + state.reserved + bytes <= capacity else { return false }
            state.reserved += bytes
            return true
        }
    }

    /// Gives back a reservation whose chunks are not deposited (the receive failed, or stopped retaining).
    func release(_ bytes: Int64) {
        state.withLock { $0.reserved -= bytes }
    }

    /// Turns a receive's reservation of `reserved` bytes into the entry of the Part10 spool file at
    /// `path` (replacing any older entry of that path).
    func deposit(path: String, sha256: String, handed: Handed, reserved: Int64) {
        let bytes = reserved + Int64(handed.metadata?.body.readableBytes ?? 0)
        state.withLock { state in
            state.reserved -= reserved
            if let old = state.entries.removeValue(forKey: path) { state.held -= old.bytes }
            // The metadata body is not reserved ahead (it is small, and made after the Part10): it fits or
            // the entry is not kept.
            guard state.held + state.reserved + bytes <= capacity else { return }
            state.serial &+= 1
            state.entries[path] = Entry(handed: handed, sha256: sha256, bytes: bytes, serial: state.serial)
            state.order.append((path, state.serial))
            state.held += bytes
            Self.compact(&state)
        }
    }

    /// The entry of the Part10 spool file at `path`, removed; nil when there is none or it does not hold
    /// the instance with this SHA-256 and length (then it is dropped).
    func take(path: String, sha256: String, length: Int64) -> Handed? {
        state.withLock { state in
            guard let entry = state.entries.removeValue(forKey: path) else { return nil }
            state.held -= entry.bytes
            Self.compact(&state)
            guard entry.sha256 == sha256, entry.handed.length == length else { return nil }
            return entry.handed
        }
    }

    /// Drops the entry of the Part10 spool file at `path` (the file was removed).
    func drop(path: String) {
        state.withLock { state in
            if let entry = state.entries.removeValue(forKey: path) {
                state.held -= entry.bytes
                Self.compact(&state)
            }
        }
    }

    /// Keeps the eviction order near the number of entries: items of taken entries are dropped from its
    /// front, and the whole order is rebuilt when old entries in front hold many such items behind them.
    private static func compact(_ state: inout State) {
        while let first = state.order.first, state.entries[first.path]?.serial != first.serial {
            state.order.removeFirst()
        }
        if state.order.count > 4 * state.entries.count + 64 {
            var live = state.order.filter { state.entries[$0.path]?.serial == $0.serial }
            live.sort { $0.serial < $1.serial }
            state.order = CircularBuffer(live)
        }
    }
}
