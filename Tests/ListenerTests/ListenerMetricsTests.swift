import Domain
import Foundation
@testable import Listener
import MetricsTestKit
import Testing
import TestSupport

/// The listener's swift-metrics counters and gauge, collected by a `TestMetrics` factory given to this one
/// listener (no global bootstrap), after real associations from pynetdicom and DCMTK.
@Suite("Listener metrics", .serialized)
struct ListenerMetricsTests {
    static let listener = ("listener", "test")

    func scu(_ arguments: [String]) async throws -> [String: Any] {
        let result = try await python("scu.py", arguments)
        return try #require(result.jsonObject, "scu.py \(arguments.first ?? "") failed (needs python3 with pynetdicom): \(result.stderr)")
    }

    func rejectedTotal(_ metrics: TestMetrics) -> Int64 {
        metrics.counters(label: "dicom_associations_rejected_total").reduce(0) { $0 + $1.totalValue }
    }

    @Test func echoAssociation() async throws {
        let metrics = TestMetrics()
        let sink = RecordingSink()
        var bytesSent = 0
        try await withListener(sink: sink, metrics: metrics) { port, _ in
            let out = try await scu(["echo", "--port", "\(port)"])
            #expect(out["status"] as? Int == 0)
            #expect(out["released"] as? Bool == true)
            bytesSent = try #require(out["bytesSent"] as? Int)
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(try metrics.expectCounter("dicom_associations_total", [Self.listener, ("outcome", "released")]).totalValue == 1)
        #expect(metrics.counters(label: "dicom_associations_total").count == 1)
        #expect(try metrics.expectCounter("dicom_dimse_responses_total",
                                          [Self.listener, ("command", "C-ECHO"), ("status", "0000")]).totalValue == 1)
        #expect(metrics.counters(label: "dicom_dimse_responses_total").count == 1)
        #expect(rejectedTotal(metrics) == 0)
        // Every byte of every PDU pynetdicom sent (A-ASSOCIATE-RQ, P-DATA-TF, A-RELEASE-RQ), as it counted them.
        #expect(bytesSent > 0)
        #expect(try metrics.expectCounter("dicom_pdu_bytes_received_total", [Self.listener]).totalValue == Int64(bytesSent))
        // One association admitted (1), then released (0); the listener's stop records 0 again.
        let active = try metrics.expectGauge("dicom_associations_active", [Self.listener])
        #expect(active.values.first == 1)
        #expect(active.values.max() == 1)
        #expect(active.lastValue == 0)
    }

    @Test func storeSuccessAndFailures() async throws {
        let directory = try TemporaryDirectory()
        let (_, manifest) = try await makeInstances(in: directory.path("in"), count: 4, pixelBytes: 100_000)
        let metrics = TestMetrics()
        // 1: refused by the sink (A700); 2: fails while receiving (C000); 3 and 4: stored (0000).
        let sink = RecordingSink(
            refuse: { $0.messageID == 1 ? StoreFailure(.outOfResources("catalog down")) : nil },
            failReceive: { request, fragment in
                request.messageID == 2 && fragment == 2 ? StoreFailure(.cannotUnderstand("not DICOM")) : nil
            })
        try await withListener(listenerConfig { $0.limits.maxPDUSize = 16384 }, sink: sink, metrics: metrics) { port, _ in
            let out = try await scu(["store", "--port", "\(port)", "--files", manifest])
            #expect(out["statuses"] as? [Int] == [0xA700, 0xC000, 0, 0], "\(out)")
            #expect(await eventually { sink.ended.count == 1 })
        }
        for (status, count) in [("A700", 1), ("C000", 1), ("0000", 2)] {
            #expect(try metrics.expectCounter("dicom_dimse_responses_total",
                                              [Self.listener, ("command", "C-STORE"), ("status", status)]).totalValue == Int64(count),
                    "status \(status)")
        }
        #expect(metrics.counters(label: "dicom_dimse_responses_total").count == 3)
        #expect(try metrics.expectCounter("dicom_associations_total", [Self.listener, ("outcome", "released")]).totalValue == 1)
        #expect(rejectedTotal(metrics) == 0)
        // At least the four data sets of 100 kB went through the byte counter.
        #expect(try metrics.expectCounter("dicom_pdu_bytes_received_total", [Self.listener]).totalValue > 400_000)
    }

    @Test func abortedAssociation() async throws {
        let metrics = TestMetrics()
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.limits.dimseTimeoutSeconds = 1 }, sink: sink, metrics: metrics) { port, _ in
            let out = try await scu(["idle", "--port", "\(port)"])
            #expect(out["received"] as? [Int] == [7], "\(out)")
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(try metrics.expectCounter("dicom_associations_total", [Self.listener, ("outcome", "aborted")]).totalValue == 1)
        #expect(metrics.counters(label: "dicom_associations_total").count == 1)
    }

    @Test("A-ASSOCIATE-RJ reasons are counted", arguments: PynetdicomInteropTests.rejectCases)
    func associateReject(_ rejectCase: PynetdicomInteropTests.RejectCase) async throws {
        let metrics = TestMetrics()
        let sink = RecordingSink()
        try await withListener(listenerConfig(rejectCase.configure), sink: sink, metrics: metrics) { port, _ in
            let out = try await scu(rejectCase.arguments + ["--port", "\(port)"])
            #expect(out["established"] as? Bool == false)
            #expect(await eventually { sink.rejected.count == 1 })
        }
        #expect(try metrics.expectCounter("dicom_associations_rejected_total",
                                          [Self.listener, ("reason", rejectCase.reasonString)]).totalValue == 1)
        #expect(rejectedTotal(metrics) == 1)
        #expect(metrics.counters(label: "dicom_associations_total").isEmpty)
        #expect(metrics.counters(label: "dicom_dimse_responses_total").isEmpty)
    }

    @Test func overMaxAssociationsIsCounted() async throws {
        let metrics = TestMetrics()
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.limits.maxAssociations = 1 }, sink: sink, metrics: metrics) { port, _ in
            let out = try await scu(["maxassoc", "--port", "\(port)"])
            #expect((out["second"] as? [String: Any])?["established"] as? Bool == false, "\(out)")
            #expect(await eventually { sink.ended.count == 1 && sink.rejected.count == 1 })
        }
        #expect(try metrics.expectCounter("dicom_associations_rejected_total",
                                          [Self.listener, ("reason", "local-limit-exceeded")]).totalValue == 1)
        #expect(rejectedTotal(metrics) == 1)
        // The first association was accepted and released; the gauge never passed the limit.
        #expect(try metrics.expectCounter("dicom_associations_total", [Self.listener, ("outcome", "released")]).totalValue == 1)
        #expect(try metrics.expectGauge("dicom_associations_active", [Self.listener]).values.max() == 1)
    }

    @Test func peerOutsideAllowedPeersIsCounted() async throws {
        let metrics = TestMetrics()
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.allowedPeers = ["10.0.0.0/8"] }, sink: sink, metrics: metrics) { port, _ in
            let out = try await scu(["echo", "--port", "\(port)"])
            #expect(out["established"] as? Bool == false)
            #expect(await eventually { sink.rejected.count == 1 })
        }
        #expect(try metrics.expectCounter("dicom_associations_rejected_total",
                                          [Self.listener, ("reason", "peer-not-allowed")]).totalValue == 1)
        #expect(rejectedTotal(metrics) == 1)
        // Refused before any PDU was read.
        #expect(metrics.counters(label: "dicom_pdu_bytes_received_total").allSatisfy { $0.totalValue == 0 })
    }

    @Test func failedTLSHandshakeIsCounted() async throws {
        let pki = try await TestPKI.shared()
        let metrics = TestMetrics()
        let sink = RecordingSink()
        let config = listenerConfig { $0.tls = pki.settings(clientCA: true, required: true) }
        try await withListener(config, sink: sink, metrics: metrics) { port, _ in
            // No client certificate while one is required.
            let result = try await Subprocess.runOffPool("/usr/bin/echoscu", ["+tla", "+cf", pki.caCertificate, "-aec", "STORESCP", "127.0.0.1", "\(port)"])
            #expect(result.status != 0)
            #expect(await eventually { sink.rejected.count == 1 })
        }
        #expect(try metrics.expectCounter("dicom_associations_rejected_total",
                                          [Self.listener, ("reason", "tls-handshake-failed")]).totalValue == 1)
        #expect(rejectedTotal(metrics) == 1)
        #expect(metrics.counters(label: "dicom_associations_total").isEmpty)
    }
}
