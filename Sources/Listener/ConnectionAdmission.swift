import Domain
import Foundation
import NIOConcurrencyHelpers
import NIOCore

/// Bounds on connections that have not (yet) been accepted as an association: a connection counts from
/// the TCP accept until its A-ASSOCIATE-AC goes out (or it closes). Beyond either bound a new connection
/// is closed at once, before anything is read, and reported as `too-many-unassociated-connections`.
/// Established associations are bounded separately by `maxAssociations`.
struct UnassociatedConnectionLimits: Sendable, Hashable {
    /// Per listener: far above any legitimate burst of association requests.
    var perListener: Int = 256
    /// Per peer IP address: one device opening this many handshakes at once is a flood, not a modality.
    var perPeer: Int = 32
}

/// The count of unassociated connections of one listener, in total and per peer IP address; a value the
/// listener keeps behind its lock.
struct UnassociatedConnections: Sendable {
    var limits = UnassociatedConnectionLimits()
    private(set) var total = 0
    private(set) var byPeer: [String: Int] = [:]

    /// Counts one more connection of `peer`, or returns false (counting nothing) when a bound is reached.
    mutating func open(peer: String) -> Bool {
        let current = byPeer[peer, default: 0]
        guard total < limits.perListener, current < limits.perPeer else { return false }
        total += 1
        byPeer[peer] = current + 1
        return true
    }

    mutating func close(peer: String) {
        total = max(0, total - 1)
        let remaining = byPeer[peer, default: 1] - 1
        byPeer[peer] = remaining > 0 ? remaining : nil
    }
}

/// One unassociated connection's place in `UnassociatedConnections`, given back exactly once: when the
/// association is accepted or when the connection ends, whichever comes first.
final class UnassociatedTicket: Sendable {
    private let released = NIOLockedValueBox(false)
    private let giveBack: @Sendable () -> Void

    init(giveBack: @escaping @Sendable () -> Void) {
        self.giveBack = giveBack
    }

    func release() {
        let first = released.withLockedValue { released in
            defer { released = true }
            return !released
        }
        if first { giveBack() }
    }
}

/// The admission of one connection: `maxAssociations` of the listener, and the unassociated ticket that
/// is given back as soon as the association is accepted.
struct ConnectionAdmission: AssociationAdmission {
    let listener: any AssociationAdmission
    let ticket: UnassociatedTicket

    func admit() -> Bool {
        guard listener.admit() else { return false }
        ticket.release()
        return true
    }

    func release() { listener.release() }
}

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

/// The listener's sink with refusals passed through the `RejectionLog`; everything else is forwarded.
struct RejectionCoalescingSink: InstanceSink {
    let base: any InstanceSink
    let log: NIOLockedValueBox<RejectionLog>

    init(base: any InstanceSink) {
        self.base = base
        self.log = NIOLockedValueBox(RejectionLog())
    }

    func beginStore(_ request: StoreRequest) async throws -> any InstanceReceiver { try await base.beginStore(request) }
    func associationAccepted(_ context: AssociationContext) async { await base.associationAccepted(context) }
    func associationEnded(_ context: AssociationContext, outcome: AssociationOutcome) async {
        await base.associationEnded(context, outcome: outcome)
    }
    func associationRejectionsRepeated(id: UUID, count: Int) async { await base.associationRejectionsRepeated(id: id, count: count) }

    func associationRejected(_ rejection: RejectedAssociation) async {
        let key = RejectionLog.Key(peer: Self.host(of: rejection.peerAddress), reason: rejection.reason)
        let decision = log.withLockedValue { $0.note(key, at: .now) }
        if case .add(let id, let count) = decision {
            await base.associationRejectionsRepeated(id: id, count: count)
            return
        }
        guard case .record(let id, let previous, let count) = decision else { return }
        if let previous { await base.associationRejectionsRepeated(id: previous, count: count) }
        var rejection = rejection
        rejection.id = id
        await base.associationRejected(rejection)
    }

    /// `host` of `host:port` or `[v6]:port`: attempts from one address share a row whatever their port.
    static func host(of address: String) -> String {
        if address.hasPrefix("["), let end = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<end])
        }
        if let colon = address.lastIndex(of: ":") { return String(address[..<colon]) }
        return address
    }
}
