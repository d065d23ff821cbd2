import Domain
import Foundation
@testable import Listener
import NIOCore
import NIOPosix
import Testing
import TestSupport

/// The listener against pynetdicom (and a few raw-socket peers for what pynetdicom will not send).
/// Serialized: pynetdicom peers are Python threads; with many of them at once on 2 cores an association now
/// and then stalls on the pynetdicom side (seen: its A-RELEASE-RQ never arriving), ending in our DIMSE timeout.
/// `SCU_DEBUG_LOG=/tmp/prefix` makes scu.py write pynetdicom's PDU log per process for such cases.
@Suite("pynetdicom interop", .serialized)
struct PynetdicomInteropTests {
    func scu(_ arguments: [String]) async throws -> ProcessOutput {
        let result = try await python("scu.py", arguments)
        guard result.status == 0 else {
            throw TestSetupError("scu.py \(arguments.first ?? "") failed (needs python3 with pynetdicom): \(result.stderr)")
        }
        return result
    }

    @Test func echo() async throws {
        let sink = RecordingSink()
        try await withListener(sink: sink) { port, _ in
            let out = try #require(try await scu(["echo", "--port", "\(port)"]).jsonObject)
            #expect(out["established"] as? Bool == true)
            #expect(out["status"] as? Int == 0)
            #expect(out["released"] as? Bool == true)
            #expect(out["acceptorMaxPDU"] as? Int == ListenerLimits.hardMaximumPDUSize)
            #expect(out["acceptorImplementationClassUID"] as? String == "2.25.146024011393546101064577402549474563427")
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.ended.map(\.1) == [.released])
    }

    // MARK: Rejections

    struct RejectCase: Sendable, CustomTestStringConvertible {
        var name: String
        var configure: @Sendable (inout ListenerConfig) -> Void
        var arguments: [String]
        var result: Int
        var source: Int
        var reason: Int
        var reasonString: String
        var testDescription: String { name }
    }

    static let rejectCases: [RejectCase] = [
        RejectCase(name: "called AE title", configure: { $0.requireCalledAETitle = true; $0.aeTitle = "INGEST" },
                   arguments: ["echo", "--called", "SOMEONEELSE"], result: 1, source: 1, reason: 7,
                   reasonString: "called-ae-title-not-recognized"),
        RejectCase(name: "calling AE title", configure: { $0.allowedCallingAETitles = ["MODALITY1", "MODALITY2"] },
                   arguments: ["echo", "--calling", "INTRUDER"], result: 1, source: 1, reason: 3,
                   reasonString: "calling-ae-title-not-recognized"),
        RejectCase(name: "application context", configure: { _ in },
                   arguments: ["reject", "--reject-mode", "appcontext"], result: 1, source: 1, reason: 2,
                   reasonString: "application-context-name-not-supported"),
        RejectCase(name: "protocol version", configure: { _ in },
                   arguments: ["reject", "--reject-mode", "version"], result: 1, source: 2, reason: 2,
                   reasonString: "protocol-version-not-supported"),
    ]

    @Test("A-ASSOCIATE-RJ values", arguments: rejectCases)
    func reject(_ rejectCase: RejectCase) async throws {
        let sink = RecordingSink()
        try await withListener(listenerConfig(rejectCase.configure), sink: sink) { port, _ in
            let out = try #require(try await scu(rejectCase.arguments + ["--port", "\(port)"]).jsonObject)
            #expect(out["established"] as? Bool == false)
            let rejected = try #require(out["rejected"] as? [String: Int], "\(out)")
            #expect(rejected["result"] == rejectCase.result)
            #expect(rejected["source"] == rejectCase.source)
            #expect(rejected["reason"] == rejectCase.reason)
            #expect(await eventually { sink.rejected.count == 1 })
        }
        #expect(sink.rejected.map(\.reason) == [rejectCase.reasonString])
        #expect(sink.accepted.isEmpty && sink.ended.isEmpty)
    }

    @Test func matchingAETitlesAreAccepted() async throws {
        let sink = RecordingSink()
        let config = listenerConfig {
            $0.requireCalledAETitle = true
            $0.aeTitle = "INGEST"
            $0.allowedCallingAETitles = ["MODALITY1", "PYNETDICOM"]
        }
        try await withListener(config, sink: sink) { port, _ in
            let out = try #require(try await scu(["echo", "--port", "\(port)", "--called", "INGEST"]).jsonObject)
            #expect(out["established"] as? Bool == true)
            #expect(out["status"] as? Int == 0)
        }
        #expect(sink.rejected.isEmpty)
    }

    @Test func overMaxAssociations() async throws {
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.limits.maxAssociations = 1 }, sink: sink) { port, _ in
            let out = try #require(try await scu(["maxassoc", "--port", "\(port)"]).jsonObject)
            let first = try #require(out["first"] as? [String: Any])
            let second = try #require(out["second"] as? [String: Any])
            #expect(first["established"] as? Bool == true)
            #expect(second["established"] as? Bool == false)
            let rejected = try #require(second["rejected"] as? [String: Int], "\(out)")
            #expect(rejected == ["result": 2, "source": 3, "reason": 2])
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.rejected.map(\.reason) == ["local-limit-exceeded"])
    }

    @Test func peerOutsideAllowedPeersIsClosedBeforeAnyPDU() async throws {
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.allowedPeers = ["10.0.0.0/8", "::1/128"] }, sink: sink) { port, _ in
            let out = try #require(try await scu(["echo", "--port", "\(port)"]).jsonObject)
            #expect(out["established"] as? Bool == false)
            #expect(out["rejected"] is NSNull || out["rejected"] == nil)
            #expect(await eventually { sink.rejected.count == 1 })
        }
        let rejection = try #require(sink.rejected.first)
        #expect(rejection.reason == "peer-not-allowed")
        #expect(rejection.peerAddress.hasPrefix("127.0.0.1:"))
        #expect(sink.accepted.isEmpty)
    }

    @Test func loopbackInAllowedPeersIsAdmitted() async throws {
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.allowedPeers = ["10.0.0.0/8", "127.0.0.0/8"] }, sink: sink) { port, _ in
            let out = try #require(try await scu(["echo", "--port", "\(port)"]).jsonObject)
            #expect(out["established"] as? Bool == true)
        }
        #expect(sink.rejected.isEmpty)
    }

    // MARK: Negotiation and PDU sizes

    @Test func hundredTwentyEightPresentationContexts() async throws {
        let directory = try TemporaryDirectory()
        let (instances, manifest) = try await makeInstances(in: directory.path("in"), count: 2)
        let sink = RecordingSink()
        try await withListener(sink: sink) { port, _ in
            let out = try #require(try await scu(["store", "--port", "\(port)", "--files", manifest, "--contexts", "128"]).jsonObject)
            #expect(out["established"] as? Bool == true)
            #expect(out["acceptedContexts"] as? Int == 128)
            #expect(out["rejectedContexts"] as? Int == 0)
            #expect(out["statuses"] as? [Int] == [0, 0])
        }
        #expect(sink.stored.map(\.request.affectedSOPInstanceUID) == instances.map(\.sopInstanceUID))
    }

    @Test("requestor maximum PDU length", arguments: [4096, 16384, 0])
    func requestorMaximumPDU(maxPDU: Int) async throws {
        let directory = try TemporaryDirectory()
        let (instances, manifest) = try await makeInstances(in: directory.path("in"), count: 2, pixelBytes: 100_000)
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.limits.maxPDUSize = 16384 }, sink: sink) { port, _ in
            let out = try #require(try await scu(["store", "--port", "\(port)", "--files", manifest,
                                                  "--max-pdu", "\(maxPDU)"]).jsonObject)
            #expect(out["statuses"] as? [Int] == [0, 0], "\(out)")
            #expect(out["acceptorMaxPDU"] as? Int == 16384)
        }
        #expect(sink.stored.map(\.request.affectedSOPInstanceUID) == instances.map(\.sopInstanceUID))
        // pynetdicom honours our 16 KiB: at least 100 kB / 16 KiB fragments per instance.
        #expect(sink.stored.allSatisfy { $0.fragments >= 6 })
    }

    @Test func twentyConcurrentAssociations() async throws {
        let directory = try TemporaryDirectory()
        let (instances, manifest) = try await makeInstances(in: directory.path("in"), count: 3)
        let sink = RecordingSink(keepBytes: false)
        try await withListener(sink: sink) { port, _ in
            let out = try #require(try await scu(["store", "--port", "\(port)", "--files", manifest, "--threads", "20"]).json as? [[String: Any]])
            #expect(out.count == 20)
            #expect(out.allSatisfy { $0["statuses"] as? [Int] == [0, 0, 0] }, "\(out)")
            #expect(await eventually { sink.ended.count == 20 })
        }
        #expect(sink.accepted.count == 20)
        #expect(Set(sink.accepted.map(\.associationID)).count == 20)
        #expect(sink.stored.count == 60)
        #expect(Set(sink.stored.map(\.request.affectedSOPInstanceUID)) == Set(instances.map(\.sopInstanceUID)))
        #expect(sink.ended.allSatisfy { $0.1 == .released })
    }

    // MARK: Aborts, unknown operations, timeouts

    @Test func peerAbortMidInstanceCancelsTheStore() async throws {
        let directory = try TemporaryDirectory()
        let (instances, _) = try await makeInstances(in: directory.path("in"), count: 1, pixelBytes: 100_000)
        let sink = RecordingSink()
        try await withListener(sink: sink) { port, _ in
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = ["python3", scriptsDirectory.appendingPathComponent("scu.py").path, "abortmid",
                                 "--port", "\(port)", "--file", instances[0].path]
            let stdin = Pipe()
            process.standardInput = stdin
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            defer { if process.isRunning { process.terminate() } }
            // Wait until the sink has data set bytes of the instance, then let the peer abort.
            #expect(await eventually { sink.begun.count == 1 })
            try stdin.fileHandleForWriting.write(contentsOf: Data("abort\n".utf8))
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.begun.map(\.affectedSOPInstanceUID) == [instances[0].sopInstanceUID])
        #expect(sink.cancelled.map(\.affectedSOPInstanceUID) == [instances[0].sopInstanceUID])
        #expect(sink.stored.isEmpty)
        #expect(sink.ended.map(\.1) == [.aborted])
    }

    @Test func unknownOperationIsAnsweredWith0211() async throws {
        let sink = RecordingSink()
        try await withListener(sink: sink) { port, _ in
            let out = try #require(try await scu(["unknown", "--port", "\(port)"]).jsonObject)
            #expect(out["associateResponseType"] as? Int == 2)
            #expect(out["commandField"] as? Int == 0x8110)
            #expect(out["messageIDBeingRespondedTo"] as? Int == 42)
            #expect(out["status"] as? Int == 0x0211)
            #expect(out["releaseResponseType"] as? Int == 6)
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.ended.map(\.1) == [.released])
    }

    @Test func silentPeerIsClosedAfterTheNetworkTimeout() async throws {
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.limits.networkTimeoutSeconds = 1 }, sink: sink) { port, _ in
            let closed = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(host: "127.0.0.1", port: port).get()
            // The listener closes the connection (ARTIM); bounded wait.
            #expect(await eventually(timeout: .seconds(10)) { !closed.isActive })
        }
        #expect(sink.accepted.isEmpty && sink.rejected.isEmpty)
    }
}
