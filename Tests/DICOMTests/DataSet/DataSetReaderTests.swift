import DICOM
import Foundation
import NIOCore
import Testing

@Suite struct RegistryTests {
    @Test func transferSyntaxProperties() throws {
        let implicit = try #require(TransferSyntax.lookup("1.2.840.10008.1.2"))
        #expect(!implicit.isExplicitVR && !implicit.isBigEndian && !implicit.isDeflated && !implicit.isEncapsulated)
        #expect(TransferSyntax.explicitVRBigEndian.isBigEndian && TransferSyntax.explicitVRBigEndian.isExplicitVR)
        #expect(TransferSyntax.deflatedExplicitVRLittleEndian.isDeflated)
        let jpeg = try #require(TransferSyntax.lookup("1.2.840.10008.1.2.4.50\0"))
        #expect(jpeg.isEncapsulated && jpeg.isExplicitVR)
        #expect(TransferSyntax.lookup("1.2.3.4.5") == nil)
        #expect(TransferSyntax.all.count > 50)
    }

    @Test func uidRegistry() {
        #expect(UIDRegistry.verificationSOPClass == "1.2.840.10008.1.1")
        #expect(UIDRegistry.storageSOPClasses.contains("1.2.840.10008.5.1.4.1.1.2"))  // CT Image Storage
        #expect(UIDRegistry.storageSOPClasses.contains("1.2.840.10008.5.1.4.1.1.7"))  // Secondary Capture
        #expect(!UIDRegistry.storageSOPClasses.contains(UIDRegistry.verificationSOPClass))
        #expect(UIDRegistry.name(of: "1.2.840.10008.5.1.4.1.1.2") == "CT Image Storage")
        #expect(UIDRegistry.storageSOPClasses.count > 150)
    }

    @Test func dictionaryEntries() throws {
        let name = try #require(DataElementDictionary.entry(for: Tag(0x0010_0010)))
        #expect(name.vr == "PN" && name.keyword == "PatientName" && !name.isRetired)
        let overlay = try #require(DataElementDictionary.entry(for: Tag(0x6002_3000)))  // repeating group 60xx
        #expect(overlay.keyword == "OverlayData" && overlay.vr == "OB or OW")
        #expect(DataElementDictionary.entry(for: Tag(0x0009_1001)) == nil)
        #expect(PrivateDictionary.vr(for: Tag(0x0009_1001), creator: "GEMS_IDEN_01") == "LO")
        #expect(Tag(0x7FE0_0010).hexString == "7FE00010")
    }
}

@Suite struct DataSetReaderTests {
    static func explicit(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = []
        withUnsafeBytes(of: group.littleEndian) { bytes += $0 }
        withUnsafeBytes(of: element.littleEndian) { bytes += $0 }
        bytes += Array(vr.utf8)
        if VR(vr)!.hasLongExplicitLength {
            bytes += [0, 0]
            withUnsafeBytes(of: UInt32(value.count).littleEndian) { bytes += $0 }
        } else {
            withUnsafeBytes(of: UInt16(value.count).littleEndian) { bytes += $0 }
        }
        return bytes + value
    }

    static func events(_ bytes: [UInt8], syntax: String = "1.2.840.10008.1.2.1", chunk: Int) throws(DataSetError) -> [DataSetEvent] {
        var reader = try DataSetReader(transferSyntaxUID: syntax)
        var events: [DataSetEvent] = []
        var input = ByteBuffer(bytes: bytes)
        while input.readableBytes > 0 {
            reader.feed(input.readSlice(length: min(chunk, input.readableBytes))!)
            while let event = try reader.next() { events.append(event) }
        }
        reader.finish()
        while let event = try reader.next() { events.append(event) }
        return events
    }

    @Test func pixelDataIsSkippedAndEventsDoNotDependOnChunking() throws {
        let pixels = [UInt8](repeating: 0xAB, count: 100_000)
        let bytes = Self.explicit(0x0010, 0x0010, "PN", Array("Doe^Jane".utf8))
            + Self.explicit(0x7FE0, 0x0010, "OW", pixels)
            + Self.explicit(0xFFFC, 0xFFFC, "OB", [0, 0])
        let whole = try Self.events(bytes, chunk: 1 << 20)
        #expect(whole.count == 3)
        guard case .skippedElement(let header, let length) = whole[1] else {
            Issue.record("pixel data was not skipped: \(whole[1])")
            return
        }
        #expect(header.tag == .pixelData && length == 100_000)
        for chunk in [1, 7, 4096] {
            #expect(try Self.events(bytes, chunk: chunk) == whole)
        }
    }

    @Test func undefinedLengthSequencesNestAndItemsBalance() throws {
        let item: [UInt8] = [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]
        let itemEnd: [UInt8] = [0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]
        let sequenceEnd: [UInt8] = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]
        let open: [UInt8] = [0x40, 0x00, 0x30, 0xA7, 0x53, 0x51, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]
        let bytes = open + item + open + item + Self.explicit(0x0040, 0xA160, "UT", Array("leaf".utf8))
            + itemEnd + sequenceEnd + itemEnd + sequenceEnd + Self.explicit(0x0010, 0x0020, "LO", Array("ID".utf8))
        let events = try Self.events(bytes, chunk: 5)
        var depth = 0
        var maximum = 0
        for event in events {
            switch event {
            case .sequenceStart, .itemStart: depth += 1
            case .sequenceEnd, .itemEnd: depth -= 1
            default: break
            }
            maximum = max(maximum, depth)
        }
        #expect(depth == 0 && maximum == 4 && events.count == 10)
    }

    @Test func truncatedInsideUndefinedSequenceIsATypedErrorWithOffset() throws {
        let open: [UInt8] = [0x40, 0x00, 0x30, 0xA7, 0x53, 0x51, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]
        let bytes = open + [0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF] + Self.explicit(0x0040, 0xA160, "UT", [0x41, 0x42])
        do {
            _ = try Self.events(bytes, chunk: 3)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .unexpectedEndOfData)
            #expect(error.offset == bytes.count)
        }
    }

    /// 64 MiB of Pixel Data in 64 KiB slices: skipped as it arrives, nothing of it is held.
    @Test func bulkDataIsNotHeld() throws {
        var whole = ByteBuffer()
        whole.writeBytes(Self.explicit(0x0008, 0x0060, "CS", Array("CT".utf8)))
        whole.writeBytes([0xE0, 0x7F, 0x10, 0x00, 0x4F, 0x57, 0, 0, 0, 0, 0, 0x04])  // OW, 64 MiB
        whole.writeRepeatingByte(7, count: 64 << 20)
        var reader = try DataSetReader(transferSyntaxUID: "1.2.840.10008.1.2.1")
        var input = whole
        var events: [DataSetEvent] = []
        var largestHeld = 0
        while input.readableBytes > 0 {
            reader.feed(input.readSlice(length: min(65536, input.readableBytes))!)
            while let event = try reader.next() { events.append(event) }
            largestHeld = max(largestHeld, reader.bufferedByteCount)
        }
        reader.finish()
        while let event = try reader.next() { events.append(event) }
        #expect(largestHeld == 0, "the reader kept \(largestHeld) bytes between chunks")
        #expect(events.count == 2)
        if case .skippedElement(let header, let length) = events.last {
            #expect(header.tag == .pixelData && length == 64 << 20)
        } else {
            Issue.record("pixel data not skipped: \(String(describing: events.last))")
        }
        #expect(reader.offset == whole.readableBytes)
    }

    /// An undefined-length value that is not an item sequence: pydicom scans for the delimiter.
    @Test func undefinedLengthValueWithoutItemsIsScannedForTheDelimiter() throws {
        let open: [UInt8] = [0x09, 0x00, 0x10, 0x10, 0x4F, 0x42, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF]
        let content: [UInt8] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0xFE, 0xFF, 0xDD]
        let bytes = open + content + [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0] + Self.explicit(0x0010, 0x0020, "LO", Array("ID".utf8))
        for chunk in [1, 3, 64] {
            let events = try Self.events(bytes, chunk: chunk)
            #expect(events.count == 2)
            guard case .skippedElement(let header, let length) = events[0] else {
                Issue.record("not skipped: \(events)")
                continue
            }
            #expect(header.tag == Tag(0x0009_1010) && length == content.count)
        }
    }

    @Test func unknownExplicitVRIsATypedError() {
        let bytes: [UInt8] = [0x10, 0x00, 0x10, 0x00, 0x51, 0x51, 2, 0, 0x41, 0x42]
        #expect(throws: DataSetError(.unknownVR, offset: 0, tag: Tag(0x0010_0010))) {
            _ = try Self.events(bytes, chunk: 4)
        }
    }
}

@Suite struct DICOMJSONTests {
    /// Attributes are available as soon as their element has passed, before the rest arrives.
    @Test func attributesAreAvailableEarly() throws {
        var extractor = try MetadataExtractor(transferSyntaxUID: "1.2.840.10008.1.2.1")
        let head = DataSetReaderTests.explicit(0x0008, 0x0060, "CS", Array("CT".utf8))
            + DataSetReaderTests.explicit(0x0020, 0x000D, "UI", Array("1.2.3\0".utf8))
        try extractor.consume(ByteBuffer(bytes: head + [0x20, 0x00]))
        #expect(extractor.attributes.modality == "CT")
        #expect(extractor.attributes.studyInstanceUID == "1.2.3")
        #expect(extractor.attributes.sopInstanceUID == nil)
    }

    @Test func bulkDataURIOrOmitted() throws {
        let bytes = DataSetReaderTests.explicit(0x0042, 0x0011, "OB", [UInt8](repeating: 1, count: 2000))
            + DataSetReaderTests.explicit(0x0042, 0x0012, "LO", Array("application/pdf ".utf8))
        var omitted = try MetadataExtractor(transferSyntaxUID: "1.2.840.10008.1.2.1")
        try omitted.consume(ByteBuffer(bytes: bytes))
        let plain = String(decoding: try omitted.finish().json.readableBytesView, as: UTF8.self)
        #expect(plain == #"{"00420011":{"vr":"OB"},"00420012":{"vr":"LO","Value":["application/pdf"]}}"#)
        var referenced = try MetadataExtractor(transferSyntaxUID: "1.2.840.10008.1.2.1",
                                               options: MetadataOptions(bulkDataURI: { "urn:\($0.tag.hexString):\($0.length)" }))
        try referenced.consume(ByteBuffer(bytes: bytes))
        let withURI = String(decoding: try referenced.finish().json.readableBytesView, as: UTF8.self)
        #expect(withURI.hasPrefix(#"{"00420011":{"vr":"OB","BulkDataURI":"urn:00420011:2000"}"#))
    }
}
