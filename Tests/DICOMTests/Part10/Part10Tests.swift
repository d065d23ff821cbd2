import DICOM
import Foundation
import NIOCore
import TestSupport
import Testing

/// Part10 header + the original data set bytes must read back cleanly in pydicom and DCMTK.
@Suite struct Part10Tests {
    @Test func headerLayoutAndGroupLength() throws {
        var header = try Part10.fileMetaHeader(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUID: "1.2.3.4.5",
                                           transferSyntaxUID: "1.2.840.10008.1.2.1", sourceAETitle: "STORESCU",
                                           sendingAETitle: "STORESCU", receivingAETitle: "INGEST")
        let bytes = Array(header.readableBytesView)
        #expect(bytes.prefix(128).allSatisfy { $0 == 0 })
        #expect(Array(bytes[128..<132]) == Array("DICM".utf8))
        header.moveReaderIndex(forwardBy: 132)
        #expect(header.readInteger(endianness: .little, as: UInt32.self) == 0x0000_0002)
        #expect(header.readBytes(length: 2) == Array("UL".utf8))
        #expect(header.readInteger(endianness: .little, as: UInt16.self) == 4)
        let groupLength = header.readInteger(endianness: .little, as: UInt32.self)
        #expect(Int(groupLength ?? 0) == header.readableBytes)
        #expect(bytes.count % 2 == 0)
    }

    @Test func readBackByPydicomAndDcmdump() throws {
        let synthetic = try Oracle.syntheticFiles()
        let work = try Oracle.temporaryDirectory("part10")
        defer {
            try? FileManager.default.removeItem(at: work)
            try? FileManager.default.removeItem(at: synthetic)
        }
        let data = try Oracle.pydicomData()
        let inputs = [
            synthetic.appendingPathComponent("vr_explicit_le.dcm"), synthetic.appendingPathComponent("vr_implicit_le.dcm"),
            synthetic.appendingPathComponent("vr_explicit_be.dcm"), synthetic.appendingPathComponent("vr_deflated.dcm"),
            synthetic.appendingPathComponent("encapsulated_jpeg.dcm"),
            data.appendingPathComponent("test_files/CT_small.dcm"), data.appendingPathComponent("test_files/MR_small.dcm"),
        ]
        let (_, entries) = try Oracle.manifest(inputs: inputs.map(\.path), threshold: 1024, into: work)
        #expect(entries.count == inputs.count)
        for (index, entry) in entries.enumerated() {
            let offset = try #require(entry.datasetOffset)
            let syntax = try #require(entry.transferSyntax)
            let original = try Data(contentsOf: URL(fileURLWithPath: entry.path))
            let dataSet = original.dropFirst(offset)
            let header = try Part10.fileMetaHeader(sopClassUID: "1.2.840.10008.5.1.4.1.1.7", sopInstanceUID: "1.2.826.0.1.3680043.8.498.99\(index)",
                                               transferSyntaxUID: syntax, sourceAETitle: "SENDER", sendingAETitle: "SENDER",
                                               receivingAETitle: "INGEST")
            let output = work.appendingPathComponent("out\(index).dcm")
            try (Data(header.readableBytesView) + dataSet).write(to: output)

            let check = try Oracle.python(["-c", """
                import sys, warnings
                import pydicom
                with warnings.catch_warnings():
                    warnings.simplefilter("error")
                    ours = pydicom.dcmread(sys.argv[2])
                    m = ours.file_meta
                    for element in m:
                        pass
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    original = pydicom.dcmread(sys.argv[1], force=True)
                assert m.FileMetaInformationVersion == b"\\x00\\x01", m.FileMetaInformationVersion
                assert m.MediaStorageSOPClassUID == "1.2.840.10008.5.1.4.1.1.7"
                assert m.TransferSyntaxUID == sys.argv[3], m.TransferSyntaxUID
                assert m.ImplementationClassUID == "\(Implementation.classUID)"
                assert m.ImplementationVersionName == "\(Implementation.versionName)"
                assert m.SourceApplicationEntityTitle == "SENDER" and m.SendingApplicationEntityTitle == "SENDER"
                assert m.ReceivingApplicationEntityTitle == "INGEST"
                with open(sys.argv[2], "rb") as fp:
                    fp.seek(132)
                    pydicom.filereader._read_file_meta_info(fp)
                    end = fp.tell()
                assert m.FileMetaInformationGroupLength == end - 144, (m.FileMetaInformationGroupLength, end)
                with open(sys.argv[1], "rb") as a, open(sys.argv[2], "rb") as b:
                    assert a.read()[int(sys.argv[4]):] == b.read()[end:], "data set bytes differ"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    assert ours.to_json_dict() == original.to_json_dict(), "data set changed"
                print("ok")
                """, entry.path, output.path, syntax, String(offset)])
            #expect(check.status == 0 && check.stdout.contains("ok"), "pydicom on \(entry.path): \(check.stderr)")

            let dump = try Oracle.run("/usr/bin/dcmdump", ["-dc", output.path])
            #expect(dump.status == 0, "dcmdump failed on \(entry.path): \(dump.stderr)")
            #expect(!dump.stderr.contains("W:") && !dump.stderr.contains("E:") && !dump.stdout.contains("W:") && !dump.stdout.contains("E:"),
                    "dcmdump complained about \(entry.path): \(dump.stderr)")
            #expect(dump.stdout.contains("(0002,0000) UL"), "no group length in dcmdump output")
        }
    }
}

/// The File Meta Information is built from values a peer sent; a value that does not fit its element is
/// an error to answer, never a trap.
@Suite struct Part10HeaderLimitsTests {
    @Test func overlongNonASCIIInstanceUIDThrowsInsteadOfTrapping() {
        let uid = String(repeating: "\u{E9}", count: 40_000)
        #expect(throws: Part10.HeaderError.self) {
            _ = try Part10.fileMetaHeader(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUID: uid,
                                          transferSyntaxUID: "1.2.840.10008.1.2.1", sourceAETitle: "A",
                                          sendingAETitle: nil, receivingAETitle: nil)
        }
    }

    @Test func valuesBeyondTheirVRLengthThrow() {
        #expect(throws: Part10.HeaderError.self) {
            _ = try Part10.fileMetaHeader(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUID: String(repeating: "1", count: 65),
                                          transferSyntaxUID: "1.2.840.10008.1.2.1", sourceAETitle: "A",
                                          sendingAETitle: nil, receivingAETitle: nil)
        }
        #expect(throws: Part10.HeaderError.self) {
            _ = try Part10.fileMetaHeader(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUID: "1.2.3",
                                          transferSyntaxUID: "1.2.840.10008.1.2.1", sourceAETitle: "CAF\u{C9}",
                                          sendingAETitle: nil, receivingAETitle: nil)
        }
    }

    @Test func sixtyFourCharacterUIDFits() throws {
        let header = try Part10.fileMetaHeader(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", sopInstanceUID: String(repeating: "1", count: 64),
                                               transferSyntaxUID: "1.2.840.10008.1.2.1", sourceAETitle: "A",
                                               sendingAETitle: nil, receivingAETitle: nil)
        #expect(header.readableBytes > 132)
    }
}
