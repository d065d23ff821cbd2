@testable import API
import Foundation
import NIOHTTP1
import Testing

/// The bearer token is trimmed of `.whitespaces` exactly as `trimmingCharacters(in: .whitespaces)` trims
/// it, on the ASCII path and on the general one.
@Suite("Bearer token trimming")
struct TokenTrimTests {
    static let values = ["abc", " abc", "abc\t", "\t \tabc \t", "a b\tc", "", " ", "\t\t", "abc\n", "\nabc", "\u{0B}abc\u{0C}",
                         "\u{A0}abc", "abc\u{3000}", "\u{2003}\tabc \u{202F}", "äbc ", " 山田\t", "\u{85}abc", "abc\r"]

    @Test(arguments: values)
    func trimmedAsFoundationTrims(_ value: String) {
        let substring = ("x" + value).dropFirst()
        #expect(TokenAuthenticator.trimmed(substring) == Array(substring.trimmingCharacters(in: .whitespaces).utf8))
    }

    @Test func tokensAroundWhitespaceAreGranted() {
        let authenticator = TokenAuthenticator(adminTokens: ["admin-token"], readTokens: ["read-token"])
        func grant(_ header: String) -> TokenAuthenticator.Grant {
            authenticator.grant(for: HTTPHeaders([("Authorization", header)]))
        }
        #expect(grant("Bearer admin-token") == .admin)
        #expect(grant("Bearer \tadmin-token\t") == .admin)
        #expect(grant("Bearer \u{3000}read-token\u{A0}") == .read)
        #expect(grant("Bearer admin-token\n") == .none)
        #expect(grant("Bearer admin token") == .none)
    }
}
