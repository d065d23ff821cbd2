import Foundation
import NIOCore
import TestSupport
import Testing

/// Fixtures written by Scripts/ul_make_fixtures.py (pynetdicom encodings and DCMTK captures).
enum ULFixtures {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    static func url(_ name: String) -> URL {
        directory.appendingPathComponent("ul_pdus").appendingPathComponent(name + ".hex")
    }

    /// The named PDU fixture; fails the test (with what to run) if it is missing.
    static func bytes(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> ByteBuffer {
        guard let text = try? String(contentsOf: url(name), encoding: .utf8) else {
            let message = "missing fixture \(name).hex: run python3 Tests/DICOMTests/Scripts/ul_make_fixtures.py"
            Issue.record(Comment(rawValue: message), sourceLocation: sourceLocation)
            throw TestSetupError(message)
        }
        return ByteBuffer(bytes: try hex(text.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    static func names(prefix: String) -> [String] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent("ul_pdus").path)) ?? []
        return files.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".hex") }.map { String($0.dropLast(4)) }.sorted()
    }

    struct BadHex: Error {}

    static func hex(_ text: String) throws -> [UInt8] {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { throw BadHex() }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { throw BadHex() }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// Deterministic generator for the fuzz-ish tests (SplitMix64): same cases on every run.
struct ULSeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Runs Scripts/ul_decode_pdus.py (pynetdicom) over PDUs we encoded; one JSON object per PDU.
enum ULPynetdicom {
    static func decode(_ pdus: [ByteBuffer]) throws -> [[String: Any]] {
        let scripts = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")
        let directory = try TemporaryDirectory("ul-pdus")
        let input = directory.url.appendingPathComponent("pdus.hex")
        let lines = pdus.map { buffer in buffer.readableBytesView.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined() }
        try (lines.joined(separator: "\n") + "\n").write(to: input, atomically: true, encoding: .utf8)

        let result = try Subprocess.python([scripts.appendingPathComponent("ul_decode_pdus.py").path, input.path],
                                           installHint: "needs pynetdicom: pip install pynetdicom")
        guard result.status == 0 else {
            throw TestSetupError("ul_decode_pdus.py failed (status \(result.status)); is pynetdicom installed?\n\(result.stderr)")
        }
        return try result.stdout.split(separator: "\n").map { line in
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                throw TestSetupError("unexpected output line")
            }
            return object
        }
    }
}
