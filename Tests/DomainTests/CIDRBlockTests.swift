import Domain
import Testing

/// `IPAddress` and `CIDRBlock` are the one parser of address text: in the `.literal` notation they must
/// accept exactly what the `IPAddress` and `CIDR` patterns of openapi.yaml accept (those patterns are
/// checked against a JSON Schema validator in `ListenerValidationTests`).
@Suite("CIDRBlock")
struct CIDRBlockTests {
    static let addresses = [
        "0.0.0.0", "127.0.0.1", "255.255.255.255", "256.0.0.1", "01.2.3.4", "1.2.3", "1.2.3.4.5", "1..2.3", "", " 1.2.3.4",
        "::", "::1", "1::", "fe80::1", "2001:db8::8a2e:370:7334", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7::",
        "1:2:3:4:5:6:7::8", "::1:2:3:4:5:6:7", "1::2::3", ":::", ":1::", "1:::2", "12345::", "g::1", "+1::", "-1::",
        "::ffff:1.2.3.4", "[::1]", "fe80::1%eth0", "localhost", "1.2.3.4\n", "ABCD:ef01::", "1:2:3:4:5:6:7:",
    ]

    static let blocks = [
        "10.0.0.0/8", "0.0.0.0/0", "1.2.3.4/32", "1.2.3.4/33", "1.2.3.4", "::/0", "::1/128", "fd00::/8", "::1/129",
        "10.0.0.0/08", "10.0.0.0/00", "::/00", "::/010", "a/8", "10.0.0.0/8\n", " 10.0.0.0/8", "10.0.0.0/", "10.0.0.0/8/8",
        "10.0.0.0/+8", "::ffff:10.0.0.0/104", "[::1]/128", "fe80::%eth0/10", "2001:db8::/32", "1.2.3.4/-1", "/8",
    ]

    @Test("literal IP addresses are exactly the openapi.yaml pattern", arguments: addresses)
    func literalAddressAgreesWithThePattern(text: String) {
        #expect((IPAddress(text, notation: .literal) != nil)
                == ListenerValidation.matches(text, ListenerValidation.Pattern.ipAddress))
    }

    @Test("literal CIDR blocks are exactly the openapi.yaml pattern", arguments: blocks)
    func literalBlockAgreesWithThePattern(text: String) {
        #expect((CIDRBlock(text, notation: .literal) != nil)
                == ListenerValidation.matches(text, ListenerValidation.Pattern.cidr))
    }

    @Test func validationUsesTheLiteralNotation() {
        var config = ListenerConfig(name: "peers", port: 11112)
        config.allowedPeers = ["10.0.0.0/8", "10.0.0.0", "::ffff:10.0.0.0/104", " ::1/128"]
        config.bindAddress = "[::1]"
        let fields = ListenerValidation.validate(config).map(\.field)
        #expect(fields == ["bindAddress", "allowedPeers[1]", "allowedPeers[2]", "allowedPeers[3]"])
    }

    @Test("a sign is not a hex digit", arguments: ["+1::", "::+1", "1:+2::"])
    func signedGroupsAreRefused(text: String) {
        #expect(IPAddress(text) == nil)
        #expect(IPAddress(text, notation: .literal) == nil)
    }
}
