import DICOM
import Foundation
import NIOCore
import TestSupport
import Testing

/// Hostile input: ≥ 10,000 mutations of corpus files (truncation, random bytes, huge lengths, deep
/// nesting), deterministic seed. The reader must never trap; it either reads the input or throws a
/// typed `DataSetError` (the typed throw is the contract), and its memory stays bounded.
@Suite struct MutationTests {
    /// SplitMix64: deterministic across platforms and runs.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    struct Seed {
        var bytes: [UInt8]
        var transferSyntax: String
    }

    static func seeds() throws -> [Seed] {
        let data = try Oracle.pydicomData()
        let synthetic = try Oracle.syntheticFiles()
        let work = try Oracle.temporaryDirectory("mutation")
        defer {
            try? FileManager.default.removeItem(at: work)
            try? FileManager.default.removeItem(at: synthetic)
        }
        let (_, entries) = try Oracle.manifest(
            inputs: [data.appendingPathComponent("test_files").path, data.appendingPathComponent("charset_files").path, synthetic.path],
            threshold: 1024, into: work)
        var seeds: [Seed] = []
        for entry in entries {
            guard let offset = entry.datasetOffset, let syntax = entry.transferSyntax else { continue }
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: entry.path)).dropFirst(offset))
            // Mutations land in the metadata part: cap the seed size to keep the run short.
            if bytes.count > 0 { seeds.append(Seed(bytes: Array(bytes.prefix(16 << 10)), transferSyntax: syntax)) }
        }
        return seeds
    }

    static func peakResidentKiB() -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix) -> [UInt8] {
        var bytes = input
        switch rng.next() % 6 {
        case 0:  // truncation
            bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1))))
        case 1:  // random bytes
            for _ in 0..<(1 + rng.next() % 8) where !bytes.isEmpty {
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
        case 2:  // huge or undefined length at a random 4-byte position
            if bytes.count >= 4 {
                let position = Int(rng.next() % UInt64(bytes.count - 3))
                let value: UInt32 = [0xFFFF_FFFF, 0xFFFF_FFFE, 0x7FFF_FFFF, 0x8000_0000, 0x0100_0000][Int(rng.next() % 5)]
                withUnsafeBytes(of: value.littleEndian) { bytes.replaceSubrange(position..<position + 4, with: $0) }
            }
        case 3:  // deep nesting: undefined-length SQ + item headers spliced in
            let nest: [UInt8] = [0x40, 0x00, 0x30, 0xA7, 0x53, 0x51, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
                                 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]
            let levels = 1 + Int(rng.next() % 200)
            let position = Int(rng.next() % UInt64(bytes.count + 1))
            bytes.insert(contentsOf: Array([[UInt8]](repeating: nest, count: levels).joined()), at: position)
        case 4:  // duplicated span
            if bytes.count > 16 {
                let start = Int(rng.next() % UInt64(bytes.count - 8))
                let length = Int(rng.next() % UInt64(min(512, bytes.count - start)))
                bytes.insert(contentsOf: bytes[start..<start + length], at: Int(rng.next() % UInt64(bytes.count)))
            }
        default:  // deleted span
            if bytes.count > 16 {
                let start = Int(rng.next() % UInt64(bytes.count - 8))
                let length = Int(rng.next() % UInt64(min(64, bytes.count - start)))
                bytes.removeSubrange(start..<start + length)
            }
        }
        return bytes
    }

    @Test func tenThousandMutationsNeverTrap() throws {
        let seeds = try Self.seeds()
        try #require(seeds.count > 100, "corpus missing")
        var rng = SplitMix(state: 0x00C0_FFEE)
        let syntaxes = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"]
        let before = Self.peakResidentKiB()
        var read = 0, failed = 0
        let options = MetadataOptions(bulkDataURI: Oracle.bulkDataURI, maximumValueLength: 1 << 20, maximumDepth: 64,
                                      maximumMetadataBytes: 16 << 20)
        for iteration in 0..<10_000 {
            let seed = seeds[Int(rng.next() % UInt64(seeds.count))]
            let input = Self.mutate(seed.bytes, &rng)
            // Mostly the file's own syntax; sometimes a wrong one.
            let syntax = rng.next() % 8 == 0 ? syntaxes[Int(rng.next() % 4)] : seed.transferSyntax
            let chunk = [3, 7, 64, 4096, 65536][iteration % 5]
            do {
                _ = try Oracle.extract(input, transferSyntaxUID: syntax, chunkSize: chunk, options: options)
                read += 1
            } catch {
                failed += 1
                #expect(error.offset >= 0)
            }
        }
        #expect(read + failed == 10_000)
        #expect(read > 0 && failed > 0, "mutations should both pass and fail: read \(read), failed \(failed)")
        let growth = Self.peakResidentKiB() - before
        #expect(growth < 512 << 10, "peak memory grew by \(growth) KiB")
    }

    /// A length field claiming 2 GiB must not make the reader allocate or wait for it when it is bulk,
    /// and must be rejected against its parent when it cannot fit.
    @Test func hugeLengthsAreSkippedOrRejected() throws {
        // (7FE0,0010) OB with a 2 GiB length: skipped without holding anything.
        var bytes: [UInt8] = [0xE0, 0x7F, 0x10, 0x00, 0x4F, 0x42, 0, 0, 0x00, 0x00, 0x00, 0x80]
        bytes += [UInt8](repeating: 0, count: 1000)
        let metadata = try Oracle.extract(bytes, transferSyntaxUID: "1.2.840.10008.1.2.1", chunkSize: 100)
        #expect(metadata.wasTruncated)
        // An item claiming 2 GiB inside a 16-byte sequence: cut at the sequence end, as pydicom reads the
        // sequence value into memory first and parses that copy. Nothing waits for the 2 GiB.
        let sequence: [UInt8] = [0x40, 0x00, 0x30, 0xA7, 0x53, 0x51, 0, 0, 16, 0, 0, 0,
                                 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0x7F, 0x08, 0x00, 0x60, 0x00, 0x43, 0x53, 0x02, 0x00,
                                 0x08, 0x00, 0x60, 0x00, 0x43, 0x53, 0x02, 0x00, 0x4F, 0x54]
        let nested = try Oracle.extract(sequence, transferSyntaxUID: "1.2.840.10008.1.2.1", chunkSize: 3)
        let json = String(decoding: nested.json.readableBytesView, as: UTF8.self)
        #expect(json == #"{"0040A730":{"vr":"SQ","Value":[{"00080060":{"vr":"CS"}}]},"00080060":{"vr":"CS","Value":["OT"]}}"#)
    }

    @Test func nestingBeyondTheBoundIsATypedError() {
        let level: [UInt8] = [0x40, 0x00, 0x30, 0xA7, 0x53, 0x51, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
                              0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]
        let bytes = Array([[UInt8]](repeating: level, count: 100).joined())
        do {
            _ = try Oracle.extract(bytes, transferSyntaxUID: "1.2.840.10008.1.2.1", chunkSize: 64,
                                   options: MetadataOptions(maximumDepth: 32))
            Issue.record("expected nestingTooDeep")
        } catch {
            #expect(error.code == .nestingTooDeep)
        }
    }
}
