import Domain
import Foundation
import NIOCore
import TestSupport
import Testing

@testable import Storage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An upload writes the slices it receives as they are (`writev(2)`); the file must hold exactly their
/// bytes in order, whatever their number, sizes and shared storage.
@Suite("Filesystem slice writes")
struct FilesystemSliceWriteTests {
    /// Slices of a few shared buffers, as PDV payloads are slices of their PDUs: sizes 1 byte to 70 KiB.
    static func slices(count: Int) -> (slices: [ByteBuffer], bytes: [UInt8]) {
        var slices: [ByteBuffer] = []
        var expected: [UInt8] = []
        var generator = UInt32(12345)
        var pdu = ByteBuffer()
        for index in 0..<count {
            generator = generator &* 1_103_515_245 &+ 12345
            let size = index % 7 == 0 ? 70_000 : Int(generator % 3000) + 1
            if pdu.readableBytes < size {
                pdu = ByteBuffer(bytes: (0..<(size + 40_000)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
            }
            let slice = pdu.readSlice(length: size)!
            expected += Array(buffer: slice)
            slices.append(slice)
        }
        return (slices, expected)
    }

    @Test(arguments: [1, 3, 1024, 2500])
    func writeAllPutsEverySliceInOrder(_ count: Int) throws {
        let folder = try makeTemporaryDirectory("fs-slices")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("out").path
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        try #require(fd >= 0)
        let (slices, expected) = Self.slices(count: count)
        try FileOps.writeAll(fd, slices + [ByteBuffer()])
        close(fd)
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: path))) == expected)
    }

    @Test func anUploadOfManySmallSlicesHoldsTheirBytes() async throws {
        let root = try makeTemporaryDirectory("fs-slices-upload").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let store = FilesystemObjectStore(root: root)
        let (slices, expected) = Self.slices(count: 1500)
        let upload = try await store.beginUpload(key: "a/b.dcm", options: ObjectPutOptions(contentType: "application/dicom"))
        for slice in slices { try await upload.write(slice) }
        let stored = try await upload.finish()
        #expect(stored.contentLength == Int64(expected.count))
        #expect(stored.storedLength == Int64(expected.count))
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: root + "/a/b.dcm"))) == expected)
    }
}
