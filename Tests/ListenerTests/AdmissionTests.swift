import Domain
import Foundation
@testable import Listener
import MetricsTestKit
import Testing
#if canImport(Glibc)
import Glibc
import TestSupport
#endif

/// Admission before the association: only association-phase PDUs within 64 KiB until the A-ASSOCIATE-AC,
/// bounded unassociated connections, refusals coalesced into a bounded number of rows.
@Suite("Admission before association")
struct AdmissionTests {

    /// A blocking loopback TCP client with a receive bound, for bytes no toolkit would send. Its blocking
    /// calls run on a Dispatch thread, never on the cooperative pool the listener's tasks need.
    final class RawClient: @unchecked Sendable {
        // @unchecked: `fd` is immutable; the socket is used by one call at a time.
        let fd: Int32

        init(port: Int, receiveTimeoutSeconds: Int = 10) throws {
            fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw TestSetupError("socket() failed") }
            var timeout = timeval(tv_sec: receiveTimeoutSeconds, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else {
                close(fd)
                throw TestSetupError("connect() failed: errno \(errno)")
            }
        }

        deinit { close(fd) }

        func send(_ bytes: [UInt8]) {
            _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        }

        static func connect(port: Int, receiveTimeoutSeconds: Int = 10) async throws -> RawClient {
            try await offPool { try RawClient(port: port, receiveTimeoutSeconds: receiveTimeoutSeconds) }
        }

        /// Up to `count` bytes; [] at end of stream; nil when nothing came within the receive bound.
        func receive(_ count: Int = 64) async -> [UInt8]? {
            await offPool { self.receiveBlocking(count) }
        }

        private func receiveBlocking(_ count: Int) -> [UInt8]? {
            var buffer = [UInt8](repeating: 0, count: count)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, count, 0) }
            if n < 0 { return errno == ECONNRESET ? [] : nil }
            return Array(buffer.prefix(n))
        }
    }

    /// A P-DATA-TF announcing 1 MiB before any A-ASSOCIATE-RQ is answered with an A-ABORT on its first
    /// byte; nothing of it is buffered and the connection does not wait for ARTIM.
    @Test func pDataBeforeTheAssociationIsAbortedAtOnce() async throws {
        let sink = RecordingSink()
        let config = listenerConfig { $0.limits.networkTimeoutSeconds = 60 }
        try await withListener(config, sink: sink) { port, _ in
            let client = try await RawClient.connect(port: port)
            client.send([0x04, 0x00, 0x00, 0x10, 0x00, 0x00] + [UInt8](repeating: 0, count: 4096))
            let answer = try #require(await client.receive(), "no answer to a P-DATA-TF before the association")
            // A-ABORT (PS3.8 §9.3.8): type 07, length 4, source 2 (service provider), reason 2 (unexpected PDU).
            #expect(Array(answer.prefix(10)) == [0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x02, 0x02])
        }
        #expect(sink.accepted.isEmpty)
    }

    /// Connections that never associate are bounded per peer address: the next one is closed before any
    /// read, and reported; once they are gone the peer is served again.
    @Test func unassociatedConnectionsAreBoundedPerPeer() async throws {
        let sink = RecordingSink()
        let limit = UnassociatedConnectionLimits().perPeer
        try await withListener(listenerConfig(), sink: sink) { port, _ in
            var idle: [RawClient] = []
            for _ in 0..<limit { idle.append(try await RawClient.connect(port: port)) }
            let extra = try await RawClient.connect(port: port, receiveTimeoutSeconds: 20)
            #expect(await extra.receive() == [], "a connection over the per-peer bound was not closed")
            #expect(await eventually { sink.rejected.map(\.reason) == ["too-many-unassociated-connections"] })
            idle.removeAll()
            let echo = try await python("scu.py", ["echo", "--port", "\(port)"])
            let out = try #require(echo.jsonObject, "\(echo.stderr)")
            #expect(out["status"] as? Int == 0, "\(out)")
        }
    }

    /// A connect flood from outside `allowedPeers` is counted in full but recorded as one row.
    @Test func refusedConnectsAreCoalescedIntoOneRow() async throws {
        let sink = RecordingSink()
        let metrics = TestMetrics()
        let config = listenerConfig { $0.allowedPeers = ["10.0.0.0/8"] }
        try await withListener(config, sink: sink, metrics: metrics) { port, _ in
            for _ in 0..<20 {
                let client = try await RawClient.connect(port: port)
                #expect(await client.receive() == [])
            }
            #expect(await eventually {
                metrics.counters(label: "dicom_associations_rejected_total").reduce(0) { $0 + $1.totalValue } == 20
            })
            #expect(await eventually { sink.rejected.count == 1 })
        }
        #expect(sink.rejected.count == 1)
        #expect(sink.rejected.first?.reason == "peer-not-allowed")
    }

    // MARK: The policies as values

    @Test func rejectionLogCoalescesPerPeerAndReason() {
        var log = RejectionLog()
        let t0 = ContinuousClock.now
        let a = RejectionLog.Key(peer: "10.1.1.1", reason: "peer-not-allowed")
        let b = RejectionLog.Key(peer: "10.1.1.2", reason: "peer-not-allowed")
        let first = UUID(), second = UUID(), third = UUID()
        let r1 = log.note(a, at: t0, newID: first)
        #expect(r1 == .record(id: first, previous: nil, count: 0))
        let r2 = log.note(a, at: t0 + .milliseconds(100))
        #expect(r2 == .coalesced)
        let r3 = log.note(a, at: t0 + .milliseconds(200))
        #expect(r3 == .coalesced)
        let r4 = log.note(b, at: t0 + .milliseconds(300), newID: second)
        #expect(r4 == .record(id: second, previous: nil, count: 0))
        // Once a second: the attempts so far are added to the current row.
        let r5 = log.note(a, at: t0 + .milliseconds(1200))
        #expect(r5 == .add(id: first, count: 3))
        let r6 = log.note(a, at: t0 + .seconds(2))
        #expect(r6 == .coalesced)
        // A new interval: a new row, and the last interval's remainder goes to the previous one.
        let r7 = log.note(a, at: t0 + .seconds(61), newID: third)
        #expect(r7 == .record(id: third, previous: first, count: 1))
    }

    @Test func rejectionLogTracksABoundedNumberOfPeers() {
        var log = RejectionLog()
        log.maximumPeers = 2
        let t0 = ContinuousClock.now
        for peer in ["a", "b"] {
            let decision = log.note(.init(peer: peer, reason: "r"), at: t0)
            guard case .record = decision else {
                Issue.record("expected a row for \(peer)")
                return
            }
        }
        let r8 = log.note(.init(peer: "c", reason: "r"), at: t0)
        #expect(r8 == .dropped)
        // After the interval the old entries make room.
        let later = log.note(.init(peer: "c", reason: "r"), at: t0 + .seconds(61))
        guard case .record = later else {
            Issue.record("expected a row once the interval is over")
            return
        }
    }

    @Test func unassociatedConnectionsCountPerListenerAndPeer() {
        var connections = UnassociatedConnections()
        connections.limits = UnassociatedConnectionLimits(perListener: 3, perPeer: 2)
        let r9 = connections.open(peer: "p")
        #expect(r9)
        let r10 = connections.open(peer: "p")
        #expect(r10)
        let r11 = connections.open(peer: "p")
        #expect(!r11)
        let r12 = connections.open(peer: "q")
        #expect(r12)
        let r13 = connections.open(peer: "r")
        #expect(!r13)
        connections.close(peer: "p")
        let r14 = connections.open(peer: "r")
        #expect(r14)
        #expect(connections.total == 3)
    }
}

func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: body()) }
    }
}
