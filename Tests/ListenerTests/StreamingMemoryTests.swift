import Domain
import Foundation
@testable import Listener
import NIOConcurrencyHelpers
import NIOCore
import Testing
import TestSupport

/// Resident set size of this process (VmRSS of /proc/self/status), in bytes.
func residentSetSize() throws -> Int {
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") else {
        throw TestSetupError("no VmRSS in /proc/self/status")
    }
    return kilobytes * 1024
}

/// Counts and drops every byte; samples this process's RSS at each fragment.
final class DiscardingSink: InstanceSink, @unchecked Sendable {
    // @unchecked: every stored property is guarded by `lock`.
    private let lock = NIOLock()
    private var _bytes = 0
    private var _peakRSS = 0
    private var _statuses: [StoreStatus] = []

    var bytes: Int { lock.withLock { _bytes } }
    var peakRSS: Int { lock.withLock { _peakRSS } }
    var finished: Int { lock.withLock { _statuses.count } }

    func beginStore(_ request: StoreRequest) async throws -> any InstanceReceiver { Receiver(sink: self) }

    fileprivate func add(_ count: Int) {
        let rss = (try? residentSetSize()) ?? 0
        lock.withLock {
            _bytes += count
            _peakRSS = max(_peakRSS, rss)
        }
    }

    fileprivate func finish() { lock.withLock { _statuses.append(.success) } }

    struct Receiver: InstanceReceiver {
        let sink: DiscardingSink
        func receive(_ fragment: ByteBuffer) async throws { sink.add(fragment.readableBytes) }
        func finish() async -> StoreStatus {
            sink.finish()
            return .success
        }
        func cancel() async {}
    }
}

@Suite("Streaming memory", .serialized)
struct StreamingMemoryTests {
    /// A ~256 MiB instance through a discarding sink: memory grows by about a few PDUs, not by the instance.
    @Test(arguments: [1024 * 1024, 0])
    func largeInstanceIsStreamed(maxPDUSize: Int) async throws {
        let directory = try TemporaryDirectory()
        let (instances, manifest) = try await makeInstances(in: directory.path("in"), count: 1, pixelBytes: 256 * 1024 * 1024)
        let size = try #require(try FileManager.default.attributesOfItem(atPath: instances[0].path)[.size] as? Int)
        #expect(size > 256 * 1024 * 1024)
        let sink = DiscardingSink()
        let config = listenerConfig { $0.limits.maxPDUSize = maxPDUSize }
        let before = try residentSetSize()
        try await withListener(config, sink: sink) { port, _ in
            let result = try await python("scu.py", ["store", "--port", "\(port)", "--files", manifest, "--chunked"])
            let out = try #require(result.jsonObject, "\(result.stderr)")
            #expect(out["statuses"] as? [Int] == [0], "\(out)")
        }
        let after = try residentSetSize()
        #expect(sink.finished == 1)
        #expect(sink.bytes > 256 * 1024 * 1024)
        let advertised = Int(AssociationPipeline.advertisedMaximumPDULength(config.limits))
        // Bound: one PDU in the sink, two buffered, one being decoded (each up to twice its size while the
        // decoder's buffer grows), plus slack for the rest of the test process; never below 64 MiB.
        // (Measured: +14 MiB with 1 MiB PDUs, +66 MiB with 16 MiB PDUs, for a 256 MiB instance.)
        let bound = max(64 * 1024 * 1024, 4 * 2 * advertised + 16 * 1024 * 1024)
        #expect(sink.peakRSS - before < bound, "peak RSS grew by \((sink.peakRSS - before) >> 20) MiB")
        #expect(after - before < bound, "RSS grew by \((after - before) >> 20) MiB")
    }
}
