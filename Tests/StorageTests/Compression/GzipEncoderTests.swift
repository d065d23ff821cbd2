import Foundation
import NIOCore
import TestSupport
import Testing

@testable import Storage

@Suite struct GzipEncoderTests {
    func gzip(_ chunks: [ByteBuffer], level: Int, engine: GzipEncoder.Engine = .preferred) throws -> Data {
        let encoder = try GzipEncoder(level: level, engine: engine)
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

/// Both engines write one standard gzip member that independent decoders read back: GNU gzip's own
/// inflate, Python's gzip module (its own header and trailer parsing) and zlib with the gzip wrapper,
/// which must leave no byte after the first member.
@Suite struct GzipEnginesTests {
    static func sample() -> (chunks: [ByteBuffer], original: Data) {
        var chunks: [ByteBuffer] = []
        var original = Data()
        var state: UInt64 = 7
        for i in 0..<64 {
            var chunk = ByteBuffer()
            // 16-bit "pixels": a smooth ramp with noise in the low bits, like CT data; odd chunk sizes.
            for j in 0..<(4_001 + i * 37) {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                chunk.writeInteger(UInt16(truncatingIfNeeded: (j % 512) * 4 + Int(state & 0x7)), endianness: .little)
            }
            original.append(contentsOf: chunk.readableBytesView)
            chunks.append(chunk)
        }
        return (chunks, original)
    }

    @Test func isalIsThePreferredEngineWhereTheLibraryIsInstalled() {
        // scripts/test installs libisal-dev; without it the preferred engine is zlib.
        let installed = FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libisal.so.2")
            || FileManager.default.fileExists(atPath: "/usr/lib/aarch64-linux-gnu/libisal.so.2")
        #expect(GzipEncoder.Engine.preferred == (installed ? .isal : .zlib))
    }

    @Test(arguments: [GzipEncoder.Engine.isal, .zlib], [1, 5, 9])
    func independentDecodersReadOneMember(engine: GzipEncoder.Engine, level: Int) throws {
        let (chunks, original) = Self.sample()
        let encoder = try GzipEncoder(level: level, engine: engine)
        if engine == .isal { try #require(encoder.engine == .isal, "libisal.so.2 is not installed") }
        var compressed = Data()
        for chunk in chunks { compressed.append(contentsOf: try encoder.compress(chunk).readableBytesView) }
        compressed.append(contentsOf: try encoder.finish().readableBytesView)
        #expect(compressed.count < original.count * 3 / 4)

        #expect(try GzipTestTool.decompress(compressed) == original)

        let directory = try TemporaryDirectory("gzip-engines")
        let gz = directory.url.appendingPathComponent("out.gz"), raw = directory.url.appendingPathComponent("raw")
        try compressed.write(to: gz)
        try original.write(to: raw)
        let script = """
            import gzip, sys, zlib
            data = open(sys.argv[1], "rb").read()
            original = open(sys.argv[2], "rb").read()
            assert gzip.decompress(data) == original, "python gzip"
            d = zlib.decompressobj(31)
            assert d.decompress(data) + d.flush() == original, "zlib"
            assert d.eof and d.unused_data == b"", "more than one gzip member"
            print("ok")
            """
        let result = try Subprocess.python(["-c", script, gz.path, raw.path])
        #expect(result.status == 0 && result.stdout.hasPrefix("ok"), "\(result.output)")
    }

    @Test func levelZeroStoresOnEitherEngine() throws {
        let (chunks, original) = Self.sample()
        let encoder = try GzipEncoder(level: 0, engine: .isal)
        #expect(encoder.engine == .zlib)
        var compressed = Data()
        for chunk in chunks { compressed.append(contentsOf: try encoder.compress(chunk).readableBytesView) }
        compressed.append(contentsOf: try encoder.finish().readableBytesView)
        #expect(compressed.count > original.count)
        #expect(try GzipTestTool.decompress(compressed) == original)
    }
}
