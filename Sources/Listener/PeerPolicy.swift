import Foundation

/// An IP address as 16 bytes. IPv4 addresses are held in their IPv4-mapped IPv6 form
/// (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), so a peer that reaches a dual-stack socket as
/// `::ffff:10.1.2.3` and one that reaches an IPv4 socket as `10.1.2.3` are the same address and
/// match the same blocks.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// Network byte order.
    public let bytes: [UInt8]

    /// Whether this is an IPv4 address (or an IPv4-mapped IPv6 one).
    public var isIPv4: Bool {
        bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
    }

    /// Parses dotted-quad IPv4 or RFC 4291 §2.2 IPv6 text (with `::` compression, an embedded IPv4
    /// tail and an optional `%zone`, which is ignored). Returns nil for anything else.
    public init?(_ text: some StringProtocol) {
        var text = Substring(text)
        if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
        if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        if text.contains(":") {
            guard let v6 = Self.parseIPv6(text) else { return nil }
            bytes = v6
        } else {
            guard let v4 = Self.parseIPv4(text) else { return nil }
            bytes = Self.mapped(v4)
        }
    }

    init(bytes: [UInt8]) {
        precondition(bytes.count == 16)
        self.bytes = bytes
    }

    public var description: String {
        if isIPv4 { return bytes[12...].map(String.init).joined(separator: ".") }
        return stride(from: 0, to: 16, by: 2)
            .map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
            .joined(separator: ":")
    }

    private static func mapped(_ v4: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF] + v4
    }

    static func parseIPv4(_ text: Substring) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var out: [UInt8] = []
        for part in parts {
            // Leading zeros are refused: some stacks read them as octal.
            guard !part.isEmpty, part.count <= 3, part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  part == "0" || !part.hasPrefix("0"),
                  let value = UInt8(part) else { return nil }
            out.append(value)
        }
        return out
    }

    static func parseIPv6(_ text: Substring) -> [UInt8]? {
        let halves = text.components(separatedBy: "::")
        guard halves.count <= 2 else { return nil }
        func groups(_ part: String, allowIPv4Tail: Bool) -> [UInt8]? {
            if part.isEmpty { return [] }
            var out: [UInt8] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, field) in fields.enumerated() {
                if field.contains(".") {
                    guard allowIPv4Tail, index == fields.count - 1, let v4 = parseIPv4(field) else { return nil }
                    out += v4
                    continue
                }
                guard (1...4).contains(field.count), let value = UInt16(field, radix: 16) else { return nil }
                out += [UInt8(value >> 8), UInt8(value & 0xFF)]
            }
            return out
        }
        if halves.count == 1 {
            guard let all = groups(halves[0], allowIPv4Tail: true), all.count == 16 else { return nil }
            return all
        }
        guard let head = groups(halves[0], allowIPv4Tail: false),
              let tail = groups(halves[1], allowIPv4Tail: true),
              head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}

/// One CIDR block (RFC 4632 for IPv4, RFC 4291 §2.3 for IPv6). An IPv4 block is stored as the
/// matching IPv4-mapped IPv6 block (prefix + 96), so it matches IPv4 peers in either form.
public struct CIDRBlock: Sendable, Hashable, CustomStringConvertible {
    public let network: IPAddress
    /// Prefix length over the 128-bit form.
    public let prefixLength: Int

    /// `10.0.0.0/8`, `::1/128`, `2001:db8::/32`; an address without `/` is a single host.
    /// Host bits set below the prefix are accepted and ignored (`10.1.2.3/8` is `10.0.0.0/8`).
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let pieces = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count == 1 || pieces.count == 2, let address = IPAddress(pieces[0]) else { return nil }
        let isV4Text = !pieces[0].contains(":")
        let maximum = isV4Text ? 32 : 128
        var length = maximum
        if pieces.count == 2 {
            guard !pieces[1].isEmpty, pieces[1].allSatisfy({ $0.isASCII && $0.isNumber }),
                  let parsed = Int(pieces[1]), parsed <= maximum else { return nil }
            length = parsed
        }
        let fullLength = isV4Text ? length + 96 : length
        self.prefixLength = fullLength
        self.network = IPAddress(bytes: Self.masked(address.bytes, prefixLength: fullLength))
    }

    public func contains(_ address: IPAddress) -> Bool {
        Self.masked(address.bytes, prefixLength: prefixLength) == network.bytes
    }

    public var description: String {
        network.isIPv4 && prefixLength >= 96 ? "\(network)/\(prefixLength - 96)" : "\(network)/\(prefixLength)"
    }

    private static func masked(_ bytes: [UInt8], prefixLength: Int) -> [UInt8] {
        var out = bytes
        for index in 0..<16 {
            let bitsHere = min(max(prefixLength - index * 8, 0), 8)
            let mask: UInt8 = bitsHere == 0 ? 0 : UInt8(truncatingIfNeeded: 0xFF << (8 - bitsHere))
            out[index] &= mask
        }
        return out
    }
}

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
