import Foundation

/// An IP address as 16 bytes. IPv4 addresses are held in their IPv4-mapped IPv6 form
/// (`::ffff:a.b.c.d`, RFC 4291 §2.5.5.2), so a peer that reaches a dual-stack socket as
/// `::ffff:10.1.2.3` and one that reaches an IPv4 socket as `10.1.2.3` are the same address and
/// match the same blocks.
///
/// This is the one parser of IP address text in the product: the listener reads peer addresses and
/// `allowedPeers` with it, and the configuration rules (`ListenerValidation`) check `bindAddress` and
/// `allowedPeers` with it in the `.literal` notation, which accepts exactly the `IPAddress` pattern of
/// openapi.yaml.
public struct IPAddress: Sendable, Hashable, CustomStringConvertible {
    /// Which spellings of an address are read.
    public enum Notation: Sendable, Hashable {
        /// Dotted-quad IPv4 without leading zeros (RFC 3986 §3.2.2 `IPv4address`), or IPv6 as hex groups
        /// with `::` compression (RFC 4291 §2.2 forms 1 and 2): the `IPAddress` pattern of openapi.yaml.
        case literal
        /// Also an IPv6 address with an embedded IPv4 tail (RFC 4291 §2.2 form 3), in brackets
        /// (RFC 3986 §3.2.2) or with a `%zone` (RFC 4007 §11, ignored): the spellings socket addresses and
        /// hand-written configurations take.
        case tolerant
    }

    /// Network byte order.
    public let bytes: [UInt8]

    /// Whether this is an IPv4 address (or an IPv4-mapped IPv6 one).
    public var isIPv4: Bool {
        bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF
    }

    /// Parses dotted-quad IPv4 or RFC 4291 §2.2 IPv6 text in `notation`. Returns nil for anything else.
    public init?(_ text: some StringProtocol, notation: Notation = .tolerant) {
        var text = Substring(text)
        if notation == .tolerant {
            if let percent = text.firstIndex(of: "%") { text = text[..<percent] }
            if text.hasPrefix("[") && text.hasSuffix("]") { text = text.dropFirst().dropLast() }
        }
        if text.contains(":") {
            guard let v6 = Self.parseIPv6(text, allowIPv4Tail: notation == .tolerant) else { return nil }
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

    static func parseIPv6(_ text: Substring, allowIPv4Tail: Bool) -> [UInt8]? {
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
                // Hex digits only: `UInt16(_:radix:)` alone would also take a sign (`+1`).
                guard (1...4).contains(field.count), field.allSatisfy({ $0.isASCII && $0.isHexDigit }),
                      let value = UInt16(field, radix: 16) else { return nil }
                out += [UInt8(value >> 8), UInt8(value & 0xFF)]
            }
            return out
        }
        if halves.count == 1 {
            guard let all = groups(halves[0], allowIPv4Tail: allowIPv4Tail), all.count == 16 else { return nil }
            return all
        }
        // `::` stands for at least one group of zeros (RFC 4291 §2.2).
        guard let head = groups(halves[0], allowIPv4Tail: false),
              let tail = groups(halves[1], allowIPv4Tail: allowIPv4Tail),
              head.count + tail.count <= 14 else { return nil }
        return head + [UInt8](repeating: 0, count: 16 - head.count - tail.count) + tail
    }
}
