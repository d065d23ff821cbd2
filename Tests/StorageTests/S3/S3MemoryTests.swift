import Domain
import Foundation
import NIOCore
import TestSupport
import Testing

@testable import Storage

/// A 200 MiB streamed upload (64 KiB writes, default 5 MiB parts) must not grow resident memory by more than
/// about three parts. Other suites run in parallel in this process and would blur the figure, so the
/// upload runs in a child process of this same test binary (`S3MemoryProbe`, enabled only there); this
/// test judges its report and reads the object back with boto3.
@Suite struct S3MemoryTests {
    static let mib = 1024 * 1024

    struct ProbeReport: Decodable {
        var sha256: String
        var contentLength: Int
        var baselineRSS: Int
        var peakRSS: Int
        var highWaterMark: Int
        var seconds: Double
    }

    @Test func largeStreamedUploadHasBoundedMemory() async throws {
        let env = try S3TestEnvironment.load()
        let key = S3TestEnvironment.uniquePrefix("large") + "/200MiB.dcm"
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let result = try Subprocess.run(executable, ["--testing-library", "swift-testing", "--filter", "S3MemoryProbe"],
                                        environment: [S3MemoryProbe.keyVariable: key])
        let output = result.stdout
        #expect(result.status == 0, "probe failed:\n\(output.suffix(3000))")
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("rss-probe: ") },
                                "no report from the probe:\n\(output.suffix(3000))")
        let report = try JSONDecoder().decode(ProbeReport.self, from: Data(line.dropFirst("rss-probe: ".count).utf8))
        let partSize = S3Configuration.defaultPartSize
        // VmHWM after the upload minus VmRSS before it: an upper bound of the growth.
        let growth = report.highWaterMark - report.baselineRSS
        // Not an assertion: scripts/bench storage-upload collects this line for BENCHMARKS.md.
        print("bench: 200 MiB streamed upload (\(partSize / Self.mib) MiB parts, 64 KiB writes): \(String(format: "%.2f", report.seconds)) s, "
            + "\(String(format: "%.1f", 200 / report.seconds)) MiB/s, RSS before \(report.baselineRSS / Self.mib) MiB, "
            + "peak sampled \(report.peakRSS / Self.mib) MiB, VmHWM \(report.highWaterMark / Self.mib) MiB, growth ≤ \(growth / Self.mib) MiB")
        #expect(growth <= 4 * partSize + 16 * Self.mib, "RSS grew by \(growth / Self.mib) MiB")
        #expect(report.contentLength == 200 * Self.mib)

        let info = try #require(try env.inspect(keys: [key]).objects[key])
        #expect(info.sha256 == report.sha256)
        #expect(info.length == 200 * Self.mib)
        // 200 MiB in parts of partSize: the multipart ETag ends in "-<part count>".
        let parts = (200 * Self.mib + partSize - 1) / partSize
        #expect(info.eTag.hasSuffix("-\(parts)\""))
    }
}

/// The child side of `S3MemoryTests`: enabled only when that test starts this binary for it.
private let rssProbeKeyVariable = "STORAGE_TEST_RSS_PROBE_KEY"

@Suite(.enabled(if: ProcessInfo.processInfo.environment[rssProbeKeyVariable] != nil,
                "runs only inside the child process started by S3MemoryTests"))
struct S3MemoryProbe {
    static let keyVariable = rssProbeKeyVariable

    @Test func streamTwoHundredMiB() async throws {
        let env = try S3TestEnvironment.load()
        let key = try #require(ProcessInfo.processInfo.environment[Self.keyVariable])
        let store = try env.store(partSize: S3Configuration.defaultPartSize)
        let upload = try await store.beginUpload(key: key, options: ObjectPutOptions(contentType: "application/dicom"))
        let baseline = ProcessMemory.residentBytes()
        var peak = baseline
        var chunks = 0
        let started = ContinuousClock.now
        let sha = try await TestData(total: 200 * 1024 * 1024, chunkSize: 64 * 1024).forEachChunk { chunk in
            try await upload.write(chunk)
            chunks += 1
            if chunks % 16 == 0 { peak = max(peak, ProcessMemory.residentBytes()) }
        }
        let stored = try await upload.finish()
        let elapsed = ContinuousClock.now - started
        peak = max(peak, ProcessMemory.residentBytes())
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let report: [String: Any] = [
            "sha256": sha, "contentLength": stored.contentLength, "baselineRSS": baseline, "peakRSS": peak,
            "highWaterMark": ProcessMemory.highWaterMark(), "seconds": seconds,
        ]
        let json = try JSONSerialization.data(withJSONObject: report)
        print("rss-probe: " + String(decoding: json, as: UTF8.self))
    }
}
