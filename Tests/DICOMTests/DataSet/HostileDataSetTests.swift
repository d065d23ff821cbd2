import DICOM
import Foundation
import NIOCore
import TestSupport
import Testing

/// Data sets an attacker or a broken device sends: deflate bombs (PS3.5 §A.5), values that cannot be
/// converted to their VR, damage the reader cannot get past, and data sets that end inside an element.
@Suite struct HostileDataSetTests {
    static let explicitLE = "1.2.840.10008.1.2.1"
    static let deflated = "1.2.840.10008.1.2.1.99"

    static func element(_ tag: UInt32, _ vr: String, _ value: [UInt8]) -> [UInt8] {
        guard VR(vr) != nil else {
            // Not a VR of PS3.5: written with the short (16-bit) length form.
            var bytes: [UInt8] = []
            withUnsafeBytes(of: UInt16(tag >> 16).littleEndian) { bytes += $0 }
            withUnsafeBytes(of: UInt16(tag & 0xFFFF).littleEndian) { bytes += $0 }
            bytes += Array(vr.utf8)
            withUnsafeBytes(of: UInt16(value.count).littleEndian) { bytes += $0 }
            return bytes + value
        }
        return DataSetReaderTests.explicit(UInt16(tag >> 16), UInt16(tag & 0xFFFF), vr, value)
    }

    static func text(_ tag: UInt32, _ vr: String, _ value: String) -> [UInt8] {
        var bytes = Array(value.utf8)
        if bytes.count % 2 == 1 { bytes.append(vr == "UI" ? 0 : 0x20) }
        return element(tag, vr, bytes)
    }

    /// The identifying head every test data set starts with.
    static let head: [UInt8] = text(0x0008_0016, "UI", "1.2.840.10008.5.1.4.1.1.7") + text(0x0008_0018, "UI", "1.2.3.4.5")
        + text(0x0020_000D, "UI", "1.2.3.4") + text(0x0020_000E, "UI", "1.2.3.4.1")

    /// Raw deflate (RFC 1951) of `head` followed by Pixel Data (OB) of `zeros` zero bytes, compressed by
    /// Python's zlib (an independent deflater): about 1000:1, as a bomb is.
    static func deflatedBlank(zeros: Int) throws -> [UInt8] {
        let directory = try Oracle.temporaryDirectory("bomb")
        defer { try? FileManager.default.removeItem(at: directory) }
        let headFile = directory.appendingPathComponent("head"), out = directory.appendingPathComponent("out")
        var pixelHeader: [UInt8] = [0xE0, 0x7F, 0x10, 0x00, 0x4F, 0x42, 0, 0]
        withUnsafeBytes(of: UInt32(zeros).littleEndian) { pixelHeader += $0 }
        try Data(head + pixelHeader).write(to: headFile)
        let program = """
            import sys, zlib
            c = zlib.compressobj(9, zlib.DEFLATED, -15)
            parts = [c.compress(open(sys.argv[1], 'rb').read())]
            left = int(sys.argv[2])
            block = bytes(1 << 20)
            while left > 0:
                parts.append(c.compress(block[:min(left, len(block))]))
                left -= len(block)
            parts.append(c.flush())
            open(sys.argv[3], 'wb').write(b''.join(parts))
            """
        let output = try Oracle.python(["-c", program, headFile.path, String(zeros), out.path])
        guard output.status == 0 else { throw TestSetupError("python zlib failed: \(output.stderr)") }
        return Array(try Data(contentsOf: out))
    }

    /// Feeds `bytes` in 16 KiB chunks and reads every event; returns the reader for inspection.
    static func read(_ bytes: [UInt8], options: DataSetReader.Options) throws -> (DataSetReader, DataSetError?) {
        var reader = try DataSetReader(transferSyntaxUID: deflated, options: options)
        var input = ByteBuffer(bytes: bytes)
        do {
            while input.readableBytes > 0 {
                reader.feed(input.readSlice(length: min(16 << 10, input.readableBytes))!)
                while try reader.next() != nil {}
            }
            reader.finish()
            while try reader.next() != nil {}
        } catch {
            return (reader, error)
        }
        return (reader, nil)
    }

    // MARK: Deflate bombs

    @Test func deflateBombStopsAtTheRatioBoundAfterLittleWork() throws {
        let bomb = try Self.deflatedBlank(zeros: 64 << 20)
        #expect(bomb.count < 100 << 10, "the test bomb should expand about 1000:1, got \(bomb.count) bytes")
        let (reader, error) = try Self.read(bomb, options: .init())
        #expect(error?.code == .inflationRatioExceeded)
        // Stopped one 64 KiB step past the 16 MiB floor, not after inflating 64 MiB.
        #expect(reader.inflationTotals.inflated <= DataSetReader.Options.defaultInflationRatioFloor + (64 << 10))
    }

    @Test func deflatedOutputStopsAtTheAbsoluteBound() throws {
        let bomb = try Self.deflatedBlank(zeros: 24 << 20)
        let options = DataSetReader.Options(maximumInflatedBytes: 8 << 20, maximumInflationRatio: 100_000)
        let (reader, error) = try Self.read(bomb, options: options)
        #expect(error?.code == .inflatedSizeExceeded)
        #expect(reader.inflationTotals.inflated <= (8 << 20) + (64 << 10))
    }

    @Test func aBlankImageBelowTheFloorIsReadWhateverItsRatio() throws {
        let blank = try Self.deflatedBlank(zeros: 4 << 20)
        let (reader, error) = try Self.read(blank, options: .init())
        #expect(error == nil)
        #expect(reader.inflationTotals.inflated == Self.head.count + 12 + (4 << 20))
    }

    @Test func inflationRunsInSlicesTheCallerCanYieldBetween() throws {
        let blank = try Self.deflatedBlank(zeros: 8 << 20)
        var extractor = try MetadataExtractor(transferSyntaxUID: Self.deflated)
        // One fragment holding the whole 8 MiB expansion: handed over in 1 MiB slices, not at once.
        try extractor.feed(ByteBuffer(bytes: blank))
        var slices = 1
        while try extractor.advance(inflatingAtMost: 1 << 20) { slices += 1 }
        #expect(slices >= 8, "8 MiB in 1 MiB slices took \(slices) calls")
        let metadata = try extractor.finish()
        #expect(metadata.attributes.seriesInstanceUID == "1.2.3.4.1")
    }

    // MARK: Values that cannot be converted

    static let unconvertibleDS: [UInt8] = head + text(0x0018_0050, "DS", "1,5") + text(0x0028_0008, "IS", "1A")
        + text(0x0010_0020, "LO", "ID1")

    @Test func anUnconvertibleValueFailsTheDataSetAsPydicomDoes() throws {
        #expect(throws: DataSetError.self) {
            _ = try Oracle.extract(Self.unconvertibleDS, transferSyntaxUID: Self.explicitLE, chunkSize: 7)
        }
    }

    @Test func recordingKeepsAnUnconvertibleElementWithoutValue() throws {
        let metadata = try Oracle.extract(Self.unconvertibleDS, transferSyntaxUID: Self.explicitLE, chunkSize: 7,
                                          options: MetadataOptions(damageHandling: .record))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(metadata.json.readableBytesView)) as? [String: Any])
        #expect(json["00180050"] as? [String: String] == ["vr": "DS"])
        #expect(json["00280008"] as? [String: String] == ["vr": "IS"])
        #expect((json["00100020"] as? [String: Any])?["Value"] as? [String] == ["ID1"])
        #expect(metadata.unconvertibleElements == [[Tag(0x0018_0050)], [Tag(0x0028_0008)]])
        #expect(metadata.unreadable == nil)
        #expect(metadata.attributes.numberOfFrames == nil && metadata.attributes.studyInstanceUID == "1.2.3.4")
    }

    // MARK: Damage the reader cannot get past

    /// An explicit VR of letters that PS3.5 does not define ("ZZ") after the identifying head, inside and
    /// after a sequence item.
    static let damaged: [UInt8] = {
        let inner = text(0x0008_1150, "UI", "1.2.840.10008.5.1.4.1.1.7") + element(0x0008_1155, "ZZ", [0x31, 0x32])
        var item: [UInt8] = [0xFE, 0xFF, 0x00, 0xE0]
        withUnsafeBytes(of: UInt32(inner.count).littleEndian) { item += $0 }
        item += inner
        var sequence: [UInt8] = [0x08, 0x00, 0x40, 0x11, 0x53, 0x51, 0, 0]
        withUnsafeBytes(of: UInt32(item.count).littleEndian) { sequence += $0 }
        return head + text(0x0010_0020, "LO", "ID1") + sequence + item + text(0x0010_0010, "PN", "After^Damage")
    }()

    @Test func damageStopsTheStrictReader() {
        #expect(throws: DataSetError.self) {
            _ = try Oracle.extract(Self.damaged, transferSyntaxUID: Self.explicitLE, chunkSize: 5)
        }
    }

    @Test(arguments: [1, 5, 4096])
    func recordingDescribesWhatWasReadBeforeTheDamage(chunkSize: Int) throws {
        let metadata = try Oracle.extract(Self.damaged, transferSyntaxUID: Self.explicitLE, chunkSize: chunkSize,
                                          options: MetadataOptions(damageHandling: .record))
        let unreadable = try #require(metadata.unreadable)
        #expect(unreadable.code == .unknownVR && unreadable.tag == Tag(0x0008_1155))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(metadata.json.readableBytesView)) as? [String: Any])
        // Read: the head and the item up to the damage; the damaged element as UN without value; nothing after.
        #expect((json["0020000D"] as? [String: Any])?["Value"] as? [String] == ["1.2.3.4"])
        let sequence = try #require((json["00081140"] as? [String: Any])?["Value"] as? [[String: Any]])
        #expect(sequence.count == 1)
        #expect((sequence[0]["00081150"] as? [String: Any])?["Value"] as? [String] == ["1.2.840.10008.5.1.4.1.1.7"])
        #expect(sequence[0]["00081155"] as? [String: String] == ["vr": "UN"])
        #expect(json["00100010"] == nil)
        #expect(metadata.attributes.studyInstanceUID == "1.2.3.4" && metadata.attributes.seriesInstanceUID == "1.2.3.4.1")
    }

    // MARK: Incomplete data sets

    @Test func aValueCutAtTheEndIsReportedAsTruncated() throws {
        let full = Self.head + Self.text(0x0010_0010, "PN", "Doe^Jane")
        let metadata = try Oracle.extract(Array(full.dropLast(3)), transferSyntaxUID: Self.explicitLE, chunkSize: 9,
                                          options: MetadataOptions(damageHandling: .record))
        #expect(metadata.wasTruncated)
        let header = try Oracle.extract(Self.head + [0x10, 0x00, 0x10], transferSyntaxUID: Self.explicitLE, chunkSize: 9,
                                        options: MetadataOptions(damageHandling: .record))
        #expect(header.wasTruncated)
    }

    @Test func endingInsideASequenceOrDeflateStreamIsAnErrorEvenWhenRecording() throws {
        // Undefined-length sequence, one open item, then the input ends.
        let open: [UInt8] = Self.head + [0x08, 0x00, 0x40, 0x11, 0x53, 0x51, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
                                         0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]
        do {
            _ = try Oracle.extract(open, transferSyntaxUID: Self.explicitLE, chunkSize: 4,
                                   options: MetadataOptions(damageHandling: .record))
            Issue.record("a data set ending inside an item was read")
        } catch {
            #expect(error.code == .unexpectedEndOfData)
        }
        let blank = try Self.deflatedBlank(zeros: 1 << 20)
        do {
            _ = try Oracle.extract(Array(blank.dropLast(blank.count / 2)), transferSyntaxUID: Self.deflated, chunkSize: 512,
                                   options: MetadataOptions(damageHandling: .record))
            Issue.record("a deflate stream cut in half was read")
        } catch {
            #expect(error.code == .unexpectedEndOfData)
        }
    }
}
