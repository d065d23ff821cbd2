import Domain
import Foundation
import NIOCore
import Storage
import TestSupport
import Testing

/// The spool's quota is a reservation taken as the bytes arrive: a write that would cross
/// `maxBytes` (or 90 % of the volume) fails before its bytes are written, its partial file is removed and
/// its reservation given back; writes in flight together never exceed the limit.
@Suite struct SpoolQuotaTests {
    static let mebibyte = 1 << 20

    private func makeSpool(maxBytes: Int64, volumeSpace: Spool.VolumeSpace? = nil) throws -> (Spool, any ObjectStore, String) {
        let base = try makeTemporaryDirectory("spool-quota").path
        let spool = try Spool(root: base + "/spool", maxBytes: maxBytes, volumeSpace: volumeSpace ?? Spool.statvfsSpace)
        let listenerID = UUID()
        let store = spool.store(for: listenerID, target: FilesystemObjectStore(root: base + "/target"))
        return (spool, store, spool.folder(for: listenerID))
    }

    /// Every regular file under `folder`, temp files included.
    private func files(under folder: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: folder)
        var out: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                out.append(path)
            }
        }
        return out.sorted()
    }

    private func chunk(_ size: Int) -> ByteBuffer {
        ByteBuffer(repeating: 0x5A, count: size)
    }

    /// Writes `total` bytes in chunks of `chunkSize` and finishes; returns the stored size, or the refusal.
    private func write(_ store: any ObjectStore, key: String, total: Int, chunkSize: Int) async throws -> Result<Int64, SpoolFull> {
        let upload = try await store.beginUpload(key: key, options: ObjectPutOptions(contentType: ObjectPutOptions.dicomContentType))
        var sent = 0
        do {
            while sent < total {
                let size = min(chunkSize, total - sent)
                try await upload.write(chunk(size))
                sent += size
                await Task.yield()
            }
            return .success(try await upload.finish().storedLength)
        } catch let full as SpoolFull {
            await upload.abort()
            return .failure(full)
        }
    }

    @Test func aWriteCrossingTheQuotaFailsAndLeavesNothing() async throws {
        let (spool, store, folder) = try makeSpool(maxBytes: Int64(3 * Self.mebibyte))
        let outcome = try await write(store, key: "DICOM/big.dcm", total: 5 * Self.mebibyte, chunkSize: Self.mebibyte)
        guard case .failure(let full) = outcome else {
            Issue.record("a 5 MiB instance was written into a 3 MiB spool: \(outcome)")
            return
        }
        #expect(full.reason.hasPrefix("Spool full"))
        #expect(files(under: folder).isEmpty)
        #expect(await spool.bytes() == 0)
        #expect(await spool.reservedBytes() == 0)
        // Below its quota, so new instances are still admitted; but full for `/readyz` until bytes are freed.
        #expect(await spool.refusal() == nil)
        #expect(await spool.readinessRefusal()?.hasPrefix("Spool full") == true)

        // The room is whole again: an instance that fits is written.
        let small = try await write(store, key: "DICOM/small.dcm", total: 2 * Self.mebibyte, chunkSize: 64 * 1024)
        #expect(try small.get() == Int64(2 * Self.mebibyte))
        #expect(files(under: folder) == ["DICOM/small.dcm"])
        #expect(await spool.bytes() == Int64(2 * Self.mebibyte))
        #expect(await spool.reservedBytes() == 0)
        try await store.delete(key: "DICOM/small.dcm")
        #expect(await spool.bytes() == 0)
        #expect(await spool.readinessRefusal() == nil)
    }

    @Test func theQuotaHoldsToTheByte() async throws {
        let limit = 3 * Self.mebibyte + 100
        let (spool, store, _) = try makeSpool(maxBytes: Int64(limit))
        #expect(try await write(store, key: "DICOM/exact.dcm", total: limit, chunkSize: 1000).get() == Int64(limit))
        #expect(await spool.bytes() == Int64(limit))
        #expect(await spool.refusal()?.hasPrefix("Spool full") == true)
        guard case .failure = try await write(store, key: "DICOM/one-more.dcm", total: 1, chunkSize: 1) else {
            Issue.record("a byte beyond the quota was written")
            return
        }
    }

    @Test func concurrentWritesCannotJointlyOvershoot() async throws {
        let limit = Int64(10 * Self.mebibyte)
        let (spool, store, folder) = try makeSpool(maxBytes: limit)
        let outcomes = try await withThrowingTaskGroup(of: Result<Int64, SpoolFull>.self) { group in
            for index in 0..<6 {
                group.addTask {
                    try await write(store, key: "DICOM/\(index).dcm", total: 3 * Self.mebibyte, chunkSize: 256 * 1024)
                }
            }
            var all: [Result<Int64, SpoolFull>] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        let stored = outcomes.compactMap { try? $0.get() }
        #expect(!stored.isEmpty)
        #expect(stored.count < 6)
        #expect(stored.reduce(0, +) <= limit)
        #expect(await spool.bytes() == stored.reduce(0, +))
        #expect(await spool.reservedBytes() == 0)
        // Only the complete files remain; no temp file of a refused write.
        #expect(files(under: folder).count == stored.count)
        #expect(files(under: folder).allSatisfy { !$0.contains(".tmp-") })
    }

    @Test func theVolumeIsNeverFilledBeyondNinetyPercent() async throws {
        // 100 MiB volume with 12 MiB free: 2 MiB of room below 90 %, whatever the quota says.
        let volume: Spool.VolumeSpace = { _ in (total: Int64(100 * SpoolQuotaTests.mebibyte), available: Int64(12 * SpoolQuotaTests.mebibyte)) }
        let (spool, store, folder) = try makeSpool(maxBytes: 1 << 40, volumeSpace: volume)
        guard case .failure(let full) = try await write(store, key: "DICOM/big.dcm", total: 3 * Self.mebibyte, chunkSize: Self.mebibyte) else {
            Issue.record("the volume was filled beyond 90 %")
            return
        }
        #expect(full.reason.contains("90%"))
        #expect(files(under: folder).isEmpty)
        #expect(await spool.reservedBytes() == 0)
        #expect(try await write(store, key: "DICOM/fits.dcm", total: 2 * Self.mebibyte, chunkSize: Self.mebibyte).get()
            == Int64(2 * Self.mebibyte))
    }

    @Test func aWholeObjectBeyondTheQuotaIsRefusedBeforeItIsWritten() async throws {
        let (spool, store, folder) = try makeSpool(maxBytes: 1000)
        await #expect(throws: SpoolFull.self) {
            _ = try await store.put(key: "METADATA/a.json", body: chunk(1001),
                                    options: ObjectPutOptions(contentType: ObjectPutOptions.dicomJSONContentType))
        }
        #expect(files(under: folder).isEmpty)
        #expect(await spool.reservedBytes() == 0)
        _ = try await store.put(key: "METADATA/b.json", body: chunk(1000),
                                options: ObjectPutOptions(contentType: ObjectPutOptions.dicomJSONContentType))
        #expect(await spool.bytes() == 1000)
    }
}
