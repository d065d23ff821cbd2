import Domain
import Foundation
@testable import Listener
import Testing
import TestSupport

/// The listener against DCMTK's echoscu and storescu on 127.0.0.1.
@Suite("DCMTK interop")
struct DCMTKInteropTests {
    @Test func echoscu() async throws {
        let sink = RecordingSink()
        try await withListener(sink: sink) { port, _ in
            let result = try await Subprocess.runOffPool("/usr/bin/echoscu", ["-aet", "ECHOSCU", "-aec", "STORESCP", "127.0.0.1", "\(port)"])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.accepted.map(\.callingAETitle) == ["ECHOSCU"])
        #expect(sink.accepted.map(\.calledAETitle) == ["STORESCP"])
        #expect(sink.ended.map(\.1) == [.released])
        #expect(sink.begun.isEmpty)
    }

    /// storescu's transfer syntax proposals: we take Explicit VR LE among uncompressed syntaxes and store
    /// the data set as it arrives; pydicom reads back what the sink received.
    @Test("storescu proposals", arguments: [
        ("-xi", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"),
        ("-xe", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1"),
        ("-xb", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1"),
        ("-xd", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99"),
        ("-xd", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.1.99"),
    ])
    func storescu(flag: String, fileSyntax: String, storedSyntax: String) async throws {
        let directory = try TemporaryDirectory()
        let (instances, _) = try await makeInstances(in: directory.path("in"), count: 3, transferSyntax: fileSyntax)
        let sink = RecordingSink()
        try await withListener(sink: sink) { port, _ in
            let result = try await Subprocess.runOffPool("/usr/bin/storescu",
                                           [flag, "-aet", "MODALITY", "-aec", "STORESCP", "127.0.0.1", "\(port)"] + instances.map(\.path))
            #expect(result.status == 0, "\(result.stderr)")
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.ended.map(\.1) == [.released])
        let stored = sink.stored
        try #require(stored.count == 3)
        for (instance, received) in zip(instances, stored) {
            #expect(received.request.affectedSOPInstanceUID == instance.sopInstanceUID)
            #expect(received.request.affectedSOPClassUID == instance.sopClassUID)
            #expect(received.request.transferSyntaxUID == storedSyntax)
            #expect(received.request.association.callingAETitle == "MODALITY")
            let verdict = try await verifyDataSet(try #require(received.bytes), transferSyntax: received.request.transferSyntaxUID,
                                                  original: instance.path, in: directory.path("."))
            #expect(verdict["match"] as? Bool == true, "\(verdict)")
        }
    }

    @Test func manyFilesInOneAssociationOnItsEventLoop() async throws {
        let directory = try TemporaryDirectory()
        let (instances, _) = try await makeInstances(in: directory.path("in"), count: 60, pixelBytes: 2048)
        let sink = RecordingSink(keepBytes: false)
        try await withListener(sink: sink) { port, _ in
            let result = try await Subprocess.runOffPool("/usr/bin/storescu",
                                           ["-aec", "STORESCP", "127.0.0.1", "\(port)"] + instances.map(\.path))
            #expect(result.status == 0, "\(result.stderr)")
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.accepted.count == 1)
        #expect(Set(sink.stored.map(\.request.affectedSOPInstanceUID)) == Set(instances.map(\.sopInstanceUID)))
        #expect(Set(sink.stored.map(\.request.messageID)).count == 60)
        // The association runs on its channel's event loop (each PDU resumes it on the thread that read
        // it), and so does the sink's work it calls.
        #expect(sink.onEventLoop.count >= 120)
        #expect(sink.onEventLoop.allSatisfy { $0 })
    }

    @Test func failureStatusFromTheSinkReachesStorescu() async throws {
        let directory = try TemporaryDirectory()
        let (instances, _) = try await makeInstances(in: directory.path("in"), count: 2)
        let sink = RecordingSink(status: { _ in .outOfResources("disk full") })
        try await withListener(sink: sink) { port, _ in
            let result = try await Subprocess.runOffPool("/usr/bin/storescu", ["-v", "-aec", "STORESCP", "127.0.0.1", "\(port)"] + instances.map(\.path))
            // storescu reports the status of each C-STORE-RSP; it exits non-zero only for association failures.
            #expect(result.stderr.contains("0xa700") || result.stdout.contains("0xa700") || result.stderr.contains("Refused: OutOfResources"),
                    "\(result.stdout)\(result.stderr)")
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.stored.isEmpty)
        #expect(sink.ended.map(\.1) == [.released])
    }

    @Test func smallAdvertisedMaximumPDUIsHonoured() async throws {
        let directory = try TemporaryDirectory()
        let (instances, _) = try await makeInstances(in: directory.path("in"), count: 1, pixelBytes: 100_000)
        let sink = RecordingSink()
        let config = listenerConfig { $0.limits.maxPDUSize = 4096 }
        try await withListener(config, sink: sink) { port, _ in
            let result = try await Subprocess.runOffPool("/usr/bin/storescu", ["-aec", "STORESCP", "127.0.0.1", "\(port)"] + instances.map(\.path))
            #expect(result.status == 0, "\(result.stderr)")
            #expect(await eventually { sink.ended.count == 1 })
        }
        let stored = try #require(sink.stored.first)
        // 100 kB through PDVs of at most 4090 bytes.
        #expect(stored.fragments >= 100_000 / 4090)
        #expect(sink.ended.map(\.1) == [.released])
    }
}
