import Foundation

/// One CIDR block (RFC 4632 for IPv4, RFC 4291 §2.3 for IPv6). An IPv4 block is stored as the
/// matching IPv4-mapped IPv6 block (prefix + 96), so it matches IPv4 peers in either form.
///
/// The one parser of CIDR text in the product: the listener builds its `allowedPeers` policy with it,
/// and `ListenerValidation` checks `allowedPeers` with it in the `.literal` notation, which accepts
/// exactly the `CIDR` pattern of openapi.yaml.
public struct CIDRBlock: Sendable, Hashable, CustomStringConvertible {
    public let network: IPAddress
    /// Prefix length over the 128-bit form.
    public let prefixLength: Int

    /// `10.0.0.0/8`, `::1/128`, `2001:db8::/32`. Host bits set below the prefix are accepted and ignored
    /// (`10.1.2.3/8` is `10.0.0.0/8`).
    ///
    /// `.literal`: the address in `IPAddress.Notation.literal`, then `/` and a decimal prefix length
    /// without leading zeros. `.tolerant` also trims surrounding spaces, reads the address in its
    /// tolerant notation, takes an address without `/` as a single host and a prefix length with
    /// leading zeros.
    public init?(_ text: String, notation: IPAddress.Notation = .tolerant) {
        let trimmed = notation == .tolerant ? text.trimmingCharacters(in: .whitespaces) : text
        let pieces = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        guard pieces.count == 2 || (pieces.count == 1 && notation == .tolerant),
              let address = IPAddress(pieces[0], notation: notation) else { return nil }
        let isV4Text = !pieces[0].contains(":")
        let maximum = isV4Text ? 32 : 128
        var length = maximum
        if pieces.count == 2 {
            let digits = pieces[1]
            guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  notation == .tolerant || digits == "0" || !digits.hasPrefix("0"),
                  let parsed = Int(digits), parsed <= maximum else { return nil }
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
