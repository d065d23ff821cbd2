public import Domain

/// The `allowedPeers` rule of a listener: an empty list admits every peer; otherwise the peer's
/// address must fall in one of the blocks.
public struct PeerPolicy: Sendable, Hashable {
    public let blocks: [CIDRBlock]

    public struct InvalidEntry: Error, Sendable, Hashable, CustomStringConvertible {
        public let entry: String
        public var description: String { "allowedPeers entry is not a CIDR block: \(entry)" }
    }

    /// Throws `InvalidEntry` for the first entry that does not parse: a listener with an unreadable
    /// rule is not started rather than started open.
    public init(allowedPeers: [String]) throws {
        blocks = try allowedPeers.map { entry in
            guard let block = CIDRBlock(entry) else { throw InvalidEntry(entry: entry) }
            return block
        }
    }

    public var admitsEveryone: Bool { blocks.isEmpty }

    /// A peer whose address cannot be read (no remote address, a UNIX socket) is refused unless
    /// the list is empty.
    public func admits(_ address: IPAddress?) -> Bool {
        if blocks.isEmpty { return true }
        guard let address else { return false }
        return blocks.contains { $0.contains(address) }
    }
}
