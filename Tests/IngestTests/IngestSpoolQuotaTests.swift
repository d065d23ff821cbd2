import Domain
import Foundation
@testable import Ingest
import Storage
import Testing

/// A `spooled` C-STORE that crosses the spool's quota while its data set streams in: answered A700 with the
/// reason as Error Comment, nothing of it left in the spool or the catalog, its reservation given back.
@Suite("Spool quota during a C-STORE")
struct IngestSpoolQuotaTests {
    private func files(under root: String) -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var out: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue,
               !path.hasSuffix(".spool-id") {
                out.append(path)
            }
        }
        return out.sorted()
    }

    @Test func anInstanceCrossingTheQuotaMidStreamIsRefusedWhole() async throws {
        try await withHarness { h in
            let base = URL(fileURLWithPath: h.root).deletingLastPathComponent()
            var listener = h.listener
            listener.storage.ackMode = .spooled
            func sink(_ spool: Spool) throws -> IngestSink {
                try IngestSink(listener: listener, store: spool.store(for: listener.id, target: FilesystemObjectStore(root: h.root)),
                               recorder: h.catalog, serializer: h.serializer, spool: spool, logger: h.logger)
            }
            let probe = try Spool(root: base.appendingPathComponent("probe").path, maxBytes: 1 << 30)
            #expect(try await h.store(uid: "1.2.3.700", patientID: "PROBE", sink: try sink(probe)) == .success)
            let oneInstance = await probe.bytes()

            // Room for one instance and a half: the second starts (the spool is not full) and crosses the quota.
            let spoolRoot = base.appendingPathComponent("spool").path
            let spool = try Spool(root: spoolRoot, maxBytes: oneInstance + oneInstance / 2)
            let spooled = try sink(spool)
            #expect(try await h.store(uid: "1.2.3.701", patientID: "FIRST", sink: spooled) == .success)
            let before = files(under: spoolRoot)
            #expect(await spool.refusal() == nil)

            let status = try await h.store(uid: "1.2.3.702", patientID: "SECOND", sink: spooled)
            #expect(status.code == 0xA700)
            #expect(status.errorComment?.hasPrefix("Spool full") == true)
            #expect(try await h.catalog.instance(sopInstanceUID: "1.2.3.702") == nil)
            #expect(files(under: spoolRoot) == before)
            #expect(await spool.bytes() == oneInstance)
            #expect(await spool.reservedBytes() == 0)
        }
    }
}
