import Domain
@testable import Listener
import Testing

@Suite("PeerPolicy")
struct PeerPolicyTests {
    @Test("IPv4 blocks match IPv4 peers and their IPv4-mapped IPv6 form", arguments: [
        ("10.0.0.0/8", "10.200.3.4", true),
        ("10.0.0.0/8", "11.0.0.1", false),
        ("10.0.0.0/8", "::ffff:10.1.2.3", true),
        ("10.0.0.0/8", "::ffff:a01:203", true),
        ("192.168.1.0/24", "192.168.1.255", true),
        ("192.168.1.0/24", "192.168.2.0", false),
        ("192.168.1.7", "192.168.1.7", true),
        ("192.168.1.7", "192.168.1.8", false),
        ("172.16.0.0/12", "172.31.255.255", true),
        ("172.16.0.0/12", "172.32.0.0", false),
        ("0.0.0.0/0", "203.0.113.9", true),
        ("0.0.0.0/0", "2001:db8::1", false),
        ("127.0.0.1/32", "127.0.0.1", true),
        ("10.1.2.3/8", "10.9.9.9", true),
    ])
    func ipv4(block: String, peer: String, admitted: Bool) throws {
        let policy = try PeerPolicy(allowedPeers: [block])
        #expect(policy.admits(IPAddress(peer)) == admitted)
    }

    @Test("IPv6 blocks", arguments: [
        ("::1/128", "::1", true),
        ("::1/128", "::2", false),
        ("2001:db8::/32", "2001:db8:ffff::1", true),
        ("2001:db8::/32", "2001:db9::1", false),
        ("fe80::/10", "fe80::1%eth0", true),
        ("fe80::/10", "fec0::1", false),
        ("2001:db8:0:0:0:0:0:0/126", "2001:db8::3", true),
        ("2001:db8::/126", "2001:db8::4", false),
        ("::/0", "10.0.0.1", true),
        ("::ffff:0:0/96", "192.0.2.1", true),
        ("::ffff:10.0.0.0/104", "10.1.1.1", true),
        ("::ffff:10.0.0.0/104", "11.1.1.1", false),
        ("2001:db8::1", "2001:0db8:0000:0000:0000:0000:0000:0001", true),
    ])
    func ipv6(block: String, peer: String, admitted: Bool) throws {
        let policy = try PeerPolicy(allowedPeers: [block])
        #expect(policy.admits(IPAddress(peer)) == admitted)
    }

    @Test func emptyListAdmitsEveryoneAndUnknownPeersOnlyThen() throws {
        #expect(try PeerPolicy(allowedPeers: []).admits(nil))
        #expect(try PeerPolicy(allowedPeers: []).admits(IPAddress("8.8.8.8")))
        #expect(try !PeerPolicy(allowedPeers: ["0.0.0.0/0", "::/0"]).admits(nil))
    }

    @Test func anyOfSeveralBlocks() throws {
        let policy = try PeerPolicy(allowedPeers: ["10.0.0.0/8", " 192.168.0.0/16 ", "::1/128"])
        #expect(policy.admits(IPAddress("192.168.44.1")))
        #expect(policy.admits(IPAddress("::1")))
        #expect(!policy.admits(IPAddress("127.0.0.1")))
    }

    @Test("Malformed entries are refused", arguments: [
        "", "10.0.0.0/33", "10.0.0/8", "10.0.0.0/", "10.0.0.0/-1", "256.0.0.1", "010.0.0.1", "::1/129",
        "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "example.org", "10.0.0.0/8/8", "::ffff:1.2.3", "g::1",
    ])
    func malformed(entry: String) {
        #expect(throws: PeerPolicy.InvalidEntry.self) { try PeerPolicy(allowedPeers: [entry]) }
    }

    @Test func addressText() throws {
        #expect(try #require(IPAddress("::ffff:10.1.2.3")).description == "10.1.2.3")
        #expect(try #require(IPAddress("2001:db8::1")).description == "2001:db8:0:0:0:0:0:1")
        #expect(try #require(IPAddress("[::1]")).isIPv4 == false)
        #expect(try #require(CIDRBlock("10.1.2.3/8")).description == "10.0.0.0/8")
    }
}
