import Foundation
import NIOCore
import Testing

@testable import Storage

@Suite struct GzipEncoderTests {
    func gzip(_ chunks: [ByteBuffer], level: Int) throws -> Data {
        let encoder = try GzipEncoder(level: level)
        var out = Data()
        for chunk in chunks {
            out.append(contentsOf: try encoder.compress(chunk).readableBytesView)
        }
        out.append(contentsOf: try encoder.finish().readableBytesView)
        return out
    }

    @Test(arguments: [0, 1, 6, 9])
    func streamedOutputIsValidGzip(level: Int) throws {
        // Compressible text split at odd places, plus incompressible bytes.
        var chunks: [ByteBuffer] = []
        var original = Data()
        for i in 0..<200 {
            let text = String(repeating: "PatientID=\(i % 7);StudyDate=2026112\(i % 10);", count: 1 + i % 13)
            chunks.append(ByteBuffer(string: text))
            original.append(contentsOf: text.utf8)
        }
        var random = ByteBuffer()
        var state: UInt64 = 42
        for _ in 0..<300_000 {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            random.writeInteger(UInt8(truncatingIfNeeded: state))
        }
        original.append(contentsOf: random.readableBytesView)
        chunks.append(random)
        chunks.append(ByteBuffer())
        let compressed = try gzip(chunks, level: level)
        #expect(compressed.prefix(2) == Data([0x1F, 0x8B]))
        #expect(try GzipTestTool.decompress(compressed) == original)
        if level > 0 {
            #expect(compressed.count < original.count)
        }
    }

    @Test func emptyInputIsAnEmptyGzipMember() throws {
        let compressed = try gzip([], level: 1)
        #expect(compressed.count >= 20)
        #expect(try GzipTestTool.decompress(compressed).isEmpty)
    }
}
