import Domain
import Foundation
@testable import Listener
import NIOCore
import NIOPosix
import Testing
import TestSupport

/// A peer script that the test talks to through stdin while it runs.
final class PeerProcess: @unchecked Sendable {
    // @unchecked: `process` and the pipes are set up in init and only used through thread-safe Foundation APIs.
    let process = Process()
    private let stdin = Pipe()
    let stdoutPath: String
    private let exited: AsyncStream<Int32>

    init(_ arguments: [String], directory: String) throws {
        stdoutPath = directory + "/peer-\(UUID().uuidString).out"
        FileManager.default.createFile(atPath: stdoutPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", scriptsDirectory.appendingPathComponent("scu.py").path] + arguments
        process.standardInput = stdin
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: stdoutPath))
        process.standardError = FileHandle.nullDevice
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        exited = stream
        process.terminationHandler = { process in
            continuation.yield(process.terminationStatus)
            continuation.finish()
        }
        try process.run()
    }

    func send(_ line: String) throws {
        try stdin.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    var output: String { (try? String(contentsOfFile: stdoutPath, encoding: .utf8)) ?? "" }

    /// The last line of output as a JSON object, once the script has exited.
    func result() async -> [String: Any]? {
        for await _ in exited { break }
        guard let line = output.split(separator: "\n").last else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    deinit { if process.isRunning { process.terminate() } }
}

@Suite("Association lifecycle")
struct AssociationLifecycleTests {
    @Test func sinkFailuresBecomeStatusesAndTheAssociationGoesOn() async throws {
        let directory = try TemporaryDirectory()
        let (instances, manifest) = try await makeInstances(in: directory.path("in"), count: 3, pixelBytes: 100_000)
        let sink = RecordingSink(
            refuse: { $0.messageID == 1 ? StoreFailure(.outOfResources("catalog down")) : nil },
            failReceive: { request, fragment in
                request.messageID == 2 && fragment == 2 ? StoreFailure(.cannotUnderstand("not DICOM")) : nil
            })
        try await withListener(listenerConfig { $0.limits.maxPDUSize = 16384 }, sink: sink) { port, _ in
            let result = try await python("scu.py", ["store", "--port", "\(port)", "--files", manifest])
            let out = try #require(result.jsonObject, "\(result.stderr)")
            #expect(out["statuses"] as? [Int] == [0xA700, 0xC000, 0], "\(out)")
            #expect(out["released"] as? Bool == true)
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.cancelled.map(\.messageID) == [2])
        #expect(sink.stored.map(\.request.affectedSOPInstanceUID) == [instances[2].sopInstanceUID])
        #expect(sink.ended.map(\.1) == [.released])
    }

    @Test func idlePeerIsAbortedAfterTheDIMSETimeout() async throws {
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.limits.dimseTimeoutSeconds = 1 }, sink: sink) { port, _ in
            let result = try await python("scu.py", ["idle", "--port", "\(port)"])
            let out = try #require(result.jsonObject, "\(result.stderr)")
            #expect(out["associateResponseType"] as? Int == 2)
            #expect(out["received"] as? [Int] == [7], "A-ABORT then close: \(out)")
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.ended.map(\.1) == [.aborted])
    }

    /// Orchestrators stop a task with SIGTERM and kill it after a fixed time; an association kept open
    /// between studies must not hold the shutdown for the grace period. An acceptor cannot request a
    /// release (PS3.8 §7.2): an idle association gets an A-ABORT at once.
    @Test func stopEndsAnIdleAssociationAtOnce() async throws {
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.limits.dimseTimeoutSeconds = 600 }, sink: sink) { port, listener in
            let peer = try PeerProcess(["idle", "--port", "\(port)"], directory: FileManager.default.temporaryDirectory.path)
            #expect(await eventually { sink.accepted.count == 1 })
            // Bounded: the stop must end long before its 600 s grace period (and the 600 s DIMSE timeout).
            let stoppedFirst = await withTaskGroup(of: Bool.self) { group in
                group.addTask { await listener.stop(gracePeriod: .seconds(600)); return true }
                group.addTask { try? await Task.sleep(for: .seconds(60)); return false }
                let first = await group.next()!
                group.cancelAll()
                return first
            }
            #expect(stoppedFirst, "stop waited for the grace period instead of ending the idle association")
            let out = try #require(await peer.result())
            #expect(out["associateResponseType"] as? Int == 2)
            #expect(out["received"] as? [Int] == [7], "A-ABORT, then close: \(out)")
        }
        #expect(sink.ended.map(\.1) == [.aborted])
    }

    /// An instance in flight when the listener stops is received, stored and answered; then the now idle
    /// association gets its A-ABORT, without waiting for the end of the grace period.
    @Test func stopLetsTheInstanceInFlightFinishThenAborts() async throws {
        let directory = try TemporaryDirectory()
        let (instances, _) = try await makeInstances(in: directory.path("in"), count: 1, pixelBytes: 20_000)
        let sink = RecordingSink()
        // The response is held back 2 s after the sink has stored the instance: the stop comes in between.
        try await withListener(listenerConfig { $0.limits.cstoreDelayMs = 2_000 }, sink: sink) { port, listener in
            let peer = try PeerProcess(["storewait", "--port", "\(port)", "--file", instances[0].path],
                                       directory: directory.url.path)
            #expect(await eventually { sink.stored.count == 1 })
            await listener.stop(gracePeriod: .seconds(600))
            let result = try #require(await peer.result())
            // The C-STORE-RSP (P-DATA-TF), then the A-ABORT of the drain.
            #expect(result["received"] as? [[String: Int]] == [["type": 4], ["type": 7, "source": 0, "reason": 0]], "\(result)")
        }
        #expect(sink.stored.map(\.request.affectedSOPInstanceUID) == [instances[0].sopInstanceUID])
        #expect(sink.ended.map(\.1) == [.aborted])
    }

    @Test func stopAbortsWhatIsLeftAfterTheGracePeriod() async throws {
        let directory = try TemporaryDirectory()
        let (instances, _) = try await makeInstances(in: directory.path("in"), count: 1, pixelBytes: 100_000)
        let sink = RecordingSink()
        try await withListener(sink: sink) { port, listener in
            let peer = try PeerProcess(["awaitabort", "--port", "\(port)", "--file", instances[0].path], directory: directory.url.path)
            #expect(await eventually { sink.begun.count == 1 })
            await listener.stop(gracePeriod: .milliseconds(200))
            let out = try #require(await peer.result())
            #expect(out["started"] as? Bool == true)
            #expect(out["received"] as? [Int] == [7], "\(out)")
        }
        #expect(sink.cancelled.map(\.affectedSOPInstanceUID) == [instances[0].sopInstanceUID])
        #expect(sink.stored.isEmpty)
        #expect(sink.ended.map(\.1) == [.aborted])
    }

    @Test func ruleChangesApplyToNewAssociationsWithoutRebinding() async throws {
        let directory = try TemporaryDirectory()
        let sink = RecordingSink()
        try await withListener(sink: sink) { port, listener in
            let peer = try PeerProcess(["hold", "--port", "\(port)", "--calling", "OLDPEER"], directory: directory.url.path)
            #expect(await eventually { sink.accepted.count == 1 })

            var config = listener.config
            config.allowedCallingAETitles = ["NEWPEER"]
            try listener.update(config: config, sink: sink)

            // A new association is judged by the new rules ...
            let rejected = try await python("scu.py", ["echo", "--port", "\(port)", "--calling", "OLDPEER"])
            #expect((rejected.jsonObject?["rejected"] as? [String: Int])?["reason"] == 3, "\(rejected.stdout)")
            let accepted = try await python("scu.py", ["echo", "--port", "\(port)", "--calling", "NEWPEER"])
            #expect(accepted.jsonObject?["status"] as? Int == 0, "\(accepted.stdout)")
            // ... while the one already running is not touched.
            try peer.send("go")
            let out = try #require(await peer.result())
            #expect(out["echoResponseType"] as? Int == 4)
            #expect(await eventually { sink.ended.count == 2 })
        }
        #expect(sink.rejected.map(\.callingAETitle) == ["OLDPEER"])
        #expect(sink.ended.allSatisfy { $0.1 == .released })
    }
}

@Suite("Protocol violations")
struct ProtocolViolationTests {
    /// (scenario, A-ABORT source, A-ABORT reason): what the listener answers, read by a raw peer.
    @Test("A-ABORT for a peer that breaks the protocol", arguments: [
        ("garbage", 2, 1),      // unrecognized PDU type
        ("oversized", 2, 6),    // A-ASSOCIATE-RQ above the pre-negotiation bound: invalid parameter value
        ("badcontext", 0, 0),   // PDV on a presentation context that was not accepted: local abort
        ("releasemid", 0, 0),   // A-RELEASE-RQ in the middle of a C-STORE data set
    ])
    func violation(scenario: String, source: Int, reason: Int) async throws {
        let directory = try TemporaryDirectory()
        let (instances, _) = try await makeInstances(in: directory.path("in"), count: 1, pixelBytes: 20_000)
        let sink = RecordingSink()
        try await withListener(sink: sink) { port, _ in
            let result = try await python("scu.py", ["violate", "--port", "\(port)", "--scenario", scenario, "--file", instances[0].path])
            let out = try #require(result.jsonObject, "\(result.stderr)")
            let received = try #require(out["received"] as? [[String: Int]], "\(out)")
            #expect(received == [["type": 7, "source": source, "reason": reason]], "\(out)")
        }
        #expect(sink.stored.isEmpty)
        if scenario == "releasemid" {
            #expect(sink.cancelled.count == 1)
            #expect(await eventually { sink.ended.map(\.1) == [.aborted] })
        }
    }
}
