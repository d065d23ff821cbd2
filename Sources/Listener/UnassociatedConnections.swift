import NIOConcurrencyHelpers

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
