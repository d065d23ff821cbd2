// Codec benchmark: metadata extraction from a ~0.5 MB CT and pass-through of a ~150 MB
// multiframe, in MB/s on one core. Release only: `scripts/bench codec`.
// The data sets are built in memory (explicit VR little endian) and fed to `MetadataExtractor` in
// PDV-sized chunks, as the listener feeds it; nothing is timed in tests.
import DICOM
import Foundation
import NIOCore

struct Writer {
    var buffer = ByteBuffer()

    mutating func element(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: [UInt8]) {
        var value = value
        if value.count % 2 == 1 { value.append(vr == "UI" || vr == "OB" ? 0 : 0x20) }
        buffer.writeInteger(group, endianness: .little)
        buffer.writeInteger(element, endianness: .little)
        buffer.writeString(vr)
        if ["OB", "OW", "OF", "SQ", "UT", "UN", "UC", "UR", "OD", "OL", "OV", "SV", "UV"].contains(vr) {
            buffer.writeInteger(UInt16(0), endianness: .little)
            buffer.writeInteger(UInt32(value.count), endianness: .little)
        } else {
            buffer.writeInteger(UInt16(value.count), endianness: .little)
        }
        buffer.writeBytes(value)
    }

    mutating func string(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: String) {
        self.element(group, element, vr, Array(value.utf8))
    }

    mutating func us(_ group: UInt16, _ element: UInt16, _ value: UInt16) {
        self.element(group, element, "US", [UInt8(value & 0xFF), UInt8(value >> 8)])
    }
}

func header(frames: Int?) -> Writer {
    var w = Writer()
    w.string(0x0008, 0x0005, "CS", "ISO_IR 100")
    w.string(0x0008, 0x0008, "CS", "ORIGINAL\\PRIMARY\\AXIAL")
    w.string(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.2")
    w.string(0x0008, 0x0018, "UI", "1.2.826.0.1.3680043.8.498.1234567890.1")
    w.string(0x0008, 0x0020, "DA", "20240102")
    w.string(0x0008, 0x0030, "TM", "101112")
    w.string(0x0008, 0x0050, "SH", "ACC12345")
    w.string(0x0008, 0x0060, "CS", "CT")
    w.string(0x0008, 0x0070, "LO", "Vendor")
    w.string(0x0008, 0x1030, "LO", "CT CHEST WITH CONTRAST")
    w.string(0x0008, 0x103E, "LO", "AXIAL 1.25mm")
    w.string(0x0009, 0x0010, "LO", "PRIVATE CREATOR")
    w.element(0x0009, 0x1001, "OB", [UInt8](repeating: 7, count: 2048))
    w.string(0x0010, 0x0010, "PN", "Doe^Jane")
    w.string(0x0010, 0x0020, "LO", "PID-0001")
    w.string(0x0010, 0x0030, "DA", "19700101")
    w.string(0x0010, 0x0040, "CS", "F")
    w.string(0x0018, 0x0050, "DS", "1.25")
    w.string(0x0018, 0x0060, "DS", "120")
    w.string(0x0020, 0x000D, "UI", "1.2.826.0.1.3680043.8.498.1234567890")
    w.string(0x0020, 0x000E, "UI", "1.2.826.0.1.3680043.8.498.1234567890.2")
    w.string(0x0020, 0x0011, "IS", "2")
    w.string(0x0020, 0x0013, "IS", "42")
    w.string(0x0020, 0x0032, "DS", "-250\\-250\\-120.5")
    w.string(0x0020, 0x0037, "DS", "1\\0\\0\\0\\1\\0")
    if let frames { w.string(0x0028, 0x0008, "IS", String(frames)) }
    w.us(0x0028, 0x0002, 1)
    w.string(0x0028, 0x0004, "CS", "MONOCHROME2")
    w.us(0x0028, 0x0010, 512)
    w.us(0x0028, 0x0011, 512)
    w.string(0x0028, 0x0030, "DS", "0.7\\0.7")
    w.us(0x0028, 0x0100, 16)
    w.us(0x0028, 0x0101, 12)
    w.us(0x0028, 0x0102, 11)
    w.us(0x0028, 0x0103, 0)
    w.string(0x0028, 0x1050, "DS", "40")
    w.string(0x0028, 0x1051, "DS", "400")
    return w
}

func dataSet(frames: Int) -> ByteBuffer {
    var w = header(frames: frames > 1 ? frames : nil)
    let pixels = 512 * 512 * 2 * frames
    w.buffer.writeInteger(UInt16(0x7FE0), endianness: .little)
    w.buffer.writeInteger(UInt16(0x0010), endianness: .little)
    w.buffer.writeString("OW")
    w.buffer.writeInteger(UInt16(0), endianness: .little)
    w.buffer.writeInteger(UInt32(pixels), endianness: .little)
    w.buffer.writeRepeatingByte(0x5A, count: pixels)
    return w.buffer
}

func measure(name: String, data: ByteBuffer, chunk: Int, repetitions: Int) throws {
    var best = Double.infinity
    for _ in 0..<repetitions {
        let start = ContinuousClock.now
        var extractor = try MetadataExtractor(transferSyntaxUID: "1.2.840.10008.1.2.1")
        var offset = 0
        let total = data.readableBytes
        while offset < total {
            let length = min(chunk, total - offset)
            try extractor.consume(data.getSlice(at: data.readerIndex + offset, length: length)!)
            offset += length
        }
        let metadata = try extractor.finish()
        precondition(metadata.attributes.sopInstanceUID != nil)
        let elapsed = ContinuousClock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        best = min(best, seconds)
    }
    let megabytes = Double(data.readableBytes) / 1_000_000
    print(String(format: "%-44@ %8.1f MB  chunk %7d B  best of %d: %8.2f ms  %9.1f MB/s",
                 name as NSString, megabytes, chunk, repetitions, best * 1000, megabytes / best))
}

let ct = dataSet(frames: 1)
let multiframe = dataSet(frames: 286)
print("codec-bench: one core, release; explicit VR LE; MetadataExtractor (reader + JSON + attributes)")
try measure(name: "metadata extraction, 0.5 MB CT", data: ct, chunk: 16_372, repetitions: 200)
try measure(name: "metadata extraction, 0.5 MB CT", data: ct, chunk: 1 << 20, repetitions: 200)
try measure(name: "pass-through, 150 MB multiframe", data: multiframe, chunk: 16_372, repetitions: 5)
try measure(name: "pass-through, 150 MB multiframe", data: multiframe, chunk: 262_132, repetitions: 5)
