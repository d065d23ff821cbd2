import Foundation

/// Which refusals become catalog rows. A connect flood must neither grow the catalog without bound nor
/// queue an fsync'd INSERT per connect ahead of real work, so refusals are coalesced: at most one row per
/// peer IP address and reject reason per `interval`; the refusals after it within the interval are counted
/// and added to that row (`attempts`) at most once per `flushInterval`, or when the next row for the same
/// peer and reason is due. At most
/// `maximumPeers` peers are tracked; beyond that (an address-spraying flood) refusals only reach the
/// metrics (`dicom_associations_rejected_total` counts every refusal in any case).
///
/// A value type: `note` returns what to record, the caller performs it.
struct RejectionLog: Sendable {
    struct Key: Hashable, Sendable {
        var peer: String
        var reason: String
    }

    enum Decision: Equatable, Sendable {
        /// Write a new row with this id; first add `count` attempts to the row `previous`, when given.
        case record(id: UUID, previous: UUID?, count: Int)
        /// Add `count` attempts to the current row `id` (no new row).
        case add(id: UUID, count: Int)
        /// Counted in memory only, added to the current row later.
        case coalesced
        /// Too many peers tracked: metrics only.
        case dropped
    }

    private struct Entry: Sendable {
        var id: UUID
        var since: ContinuousClock.Instant
        var pending: Int
        var lastFlush: ContinuousClock.Instant
    }

    var interval: Duration = .seconds(60)
    var flushInterval: Duration = .seconds(1)
    var maximumPeers = 1024
    private var entries: [Key: Entry] = [:]

    mutating func note(_ key: Key, at now: ContinuousClock.Instant, newID: UUID = UUID()) -> Decision {
        if var entry = entries[key] {
            if now - entry.since < interval {
                entry.pending += 1
                if now - entry.lastFlush >= flushInterval {
                    let count = entry.pending
                    entry.pending = 0
                    entry.lastFlush = now
                    entries[key] = entry
                    return .add(id: entry.id, count: count)
                }
                entries[key] = entry
                return .coalesced
            }
            entries[key] = Entry(id: newID, since: now, pending: 0, lastFlush: now)
            return .record(id: newID, previous: entry.pending > 0 ? entry.id : nil, count: entry.pending)
        }
        if entries.count >= maximumPeers {
            // Forget entries whose interval is over and that have nothing pending to add.
            entries = entries.filter { now - $0.value.since < interval || $0.value.pending > 0 }
            if entries.count >= maximumPeers { return .dropped }
        }
        entries[key] = Entry(id: newID, since: now, pending: 0, lastFlush: now)
        return .record(id: newID, previous: nil, count: 0)
    }
}
