import Foundation
import NIOHTTP1

/// Bearer tokens configured at start: admin tokens may read and write, read tokens only read.
struct TokenAuthenticator: Sendable {
    enum Grant: Sendable, Hashable {
        case none
        case read
        case admin
    }

    let adminTokens: [[UInt8]]
    let readTokens: [[UInt8]]

    init(adminTokens: Set<String>, readTokens: Set<String>) {
        self.adminTokens = adminTokens.filter { !$0.isEmpty }.map { Array($0.utf8) }
        self.readTokens = readTokens.filter { !$0.isEmpty }.map { Array($0.utf8) }
    }

    func grant(for headers: HTTPHeaders) -> Grant {
        let values = headers["Authorization"]
        guard values.count == 1, let value = values.first else { return .none }
        let parts = value.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .none }
        let token = Self.trimmed(parts[1])
        // Compare against every token without early exit so timing does not tell which one matched.
        var isAdmin = false
        var isReader = false
        for candidate in adminTokens where Self.constantTimeEquals(candidate, token) { isAdmin = true }
        for candidate in readTokens where Self.constantTimeEquals(candidate, token) { isReader = true }
        if isAdmin { return .admin }
        if isReader { return .read }
        return .none
    }

    /// `value` without the `.whitespaces` (Unicode Zs and tab) around it. An ASCII value (what clients
    /// send) is trimmed of its spaces and tabs directly: through Foundation the trim cost more than the rest
    /// of authentication.
    static func trimmed(_ value: Substring) -> [UInt8] {
        var utf8 = value.utf8[...]
        guard utf8.allSatisfy({ $0 < 0x80 }) else { return Array(value.trimmingCharacters(in: .whitespaces).utf8) }
        while let first = utf8.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { utf8.removeFirst() }
        while let last = utf8.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { utf8.removeLast() }
        return Array(utf8)
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for i in 0..<a.count { difference |= a[i] ^ b[i] }
        return difference == 0
    }
}
