import Crypto
import Domain
import Foundation
@testable import Ingest
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Storage
import Testing

/// The commit of a C-STORE in `IngestSink`, against the real SQLite catalog and filesystem store. The
/// only fakes are wrappers that inject faults (a failing put/completion/catalog write, a slow completion).
@Suite("Ingest commit")
struct IngestCommitTests {
    static let ct = "1.2.840.10008.5.1.4.1.1.2"
    static let explicitLE = "1.2.840.10008.1.2.1"

    // MARK: Failed re-send after a committed object

    /// The re-send's JSON write fails after its Part10 object completed: the previous object, JSON and row
    /// stay, and the row's sha256 is the stored object's.
    @Test func resendFailingAtMetadataKeepsThePreviousState() async throws {
        try await withHarness { h in
            #expect(try await h.store(uid: "1.2.3.100", patientID: "FIRST") == .success)
            let before = try #require(try await h.catalog.instance(sopInstanceUID: "1.2.3.100"))
            h.faults.failPut = { $0.hasSuffix(".json") }
            let status = try await h.store(uid: "1.2.3.100", patientID: "SECOND")
            #expect(status.code == 0xA700)
            try h.expectConsistent(uid: "1.2.3.100", patientID: "FIRST", row: try await h.catalog.instance(sopInstanceUID: "1.2.3.100"))
            #expect(try await h.catalog.instance(sopInstanceUID: "1.2.3.100") == before)
            #expect(h.files() == ["DICOM/1.2.3.100.dcm", "METADATA/1.2.3.100.json"])
        }
    }

    /// The re-send's Part10 completion fails after its JSON was written: nothing of it remains.
    @Test func resendFailingAtPart10CompletionKeepsThePreviousState() async throws {
        try await withHarness { h in
            #expect(try await h.store(uid: "1.2.3.101", patientID: "FIRST") == .success)
            h.faults.failFinish = { _ in true }
            #expect(try await h.store(uid: "1.2.3.101", patientID: "SECOND").code == 0xA700)
            try h.expectConsistent(uid: "1.2.3.101", patientID: "FIRST", row: try await h.catalog.instance(sopInstanceUID: "1.2.3.101"))
            #expect(h.files() == ["DICOM/1.2.3.101.dcm", "METADATA/1.2.3.101.json"])
        }
    }

    /// Both objects of the re-send completed but the catalog write fails: the new objects go, the
    /// previous ones and the row stay.
    @Test func resendFailingAtCatalogKeepsThePreviousState() async throws {
        try await withHarness { h in
            #expect(try await h.store(uid: "1.2.3.102", patientID: "FIRST") == .success)
            h.faults.failRecord = { CatalogError(.unavailable, detail: "injected") }
            #expect(try await h.store(uid: "1.2.3.102", patientID: "SECOND").code == 0xA700)
            try h.expectConsistent(uid: "1.2.3.102", patientID: "FIRST", row: try await h.catalog.instance(sopInstanceUID: "1.2.3.102"))
            #expect(h.files() == ["DICOM/1.2.3.102.dcm", "METADATA/1.2.3.102.json"])
        }
    }

    /// Successful re-sends alternate between the two slots and leave exactly one object pair.
    @Test func resendsSwitchSlotsAndDropThePreviousObjects() async throws {
        try await withHarness { h in
            #expect(try await h.store(uid: "1.2.3.103", patientID: "ONE") == .success)
            #expect(try await h.store(uid: "1.2.3.103", patientID: "TWO") == .success)
            let second = try #require(try await h.catalog.instance(sopInstanceUID: "1.2.3.103"))
            #expect(second.objectURI.hasSuffix("/DICOM/1.2.3.103~1.dcm"))
            #expect(second.receiveCount == 2)
            try h.expectConsistent(uid: "1.2.3.103", patientID: "TWO", row: second)
            #expect(h.files() == ["DICOM/1.2.3.103~1.dcm", "METADATA/1.2.3.103~1.json"])
            #expect(try await h.store(uid: "1.2.3.103", patientID: "THREE") == .success)
            try h.expectConsistent(uid: "1.2.3.103", patientID: "THREE", row: try await h.catalog.instance(sopInstanceUID: "1.2.3.103"))
            #expect(h.files() == ["DICOM/1.2.3.103.dcm", "METADATA/1.2.3.103.json"])
        }
    }

    // MARK: Serialisation by object key

    /// Two different instances whose keys resolve to one object (a template without the SOP Instance UID,
    /// as a catalog written before such templates were refused may still hold) never commit at once.
    @Test func instancesSharingAnObjectKeyCommitOneAtATime() async throws {
        try await withHarness(keyTemplate: "{StudyInstanceUID}") { h in
            h.faults.holdFinish = true
            async let a = h.store(uid: "1.2.3.201", patientID: "A")
            async let b = h.store(uid: "1.2.3.202", patientID: "B")
            let statuses = try await [a, b]
            #expect(statuses.allSatisfy { $0 == .success }, "\(statuses)")
            #expect(h.faults.maximumConcurrentFinishes == 1)
        }
    }

    // MARK: Duplicate policy per listener

    /// Another listener reusing a SOP Instance UID gets Duplicate SOP Instance (0111) before anything is
    /// written; the owner's object and row stay, even when both listeners share one target.
    @Test func anotherListenerCannotReplaceAnInstance() async throws {
        try await withHarness { h in
            #expect(try await h.store(uid: "1.2.3.300", patientID: "OWNER") == .success)
            let before = try #require(try await h.catalog.instance(sopInstanceUID: "1.2.3.300"))
            let other = try h.sink(listener: ListenerConfig(name: "other", port: 2, storage: h.target))
            let status = try await h.store(uid: "1.2.3.300", patientID: "INTRUDER", sink: other)
            #expect(status.code == 0x0111)
            #expect(status.errorComment == "SOP Instance UID held by another listener")
            #expect(try await h.catalog.instance(sopInstanceUID: "1.2.3.300") == before)
            try h.expectConsistent(uid: "1.2.3.300", patientID: "OWNER", row: before)
            #expect(h.files() == ["DICOM/1.2.3.300.dcm", "METADATA/1.2.3.300.json"])
        }
    }

    // MARK: Permanent catalog errors

    /// A value the catalog refuses for good answers a non-retryable Cxxx with an Error Comment; an
    /// unavailable catalog stays A700 (retryable).
    @Test func permanentCatalogErrorsAreNotRetryable() async throws {
        try await withHarness { h in
            h.faults.failRecord = { CatalogError(.invalidValue, field: "studyInstanceUID", detail: "injected") }
            let permanent = try await h.store(uid: "1.2.3.400", patientID: "X")
            #expect(permanent.code & 0xF000 == 0xC000, "\(permanent)")
            #expect(permanent.errorComment == "Catalog refused studyInstanceUID; not retryable")
            h.faults.failRecord = { CatalogError(.unavailable, detail: "injected") }
            #expect(try await h.store(uid: "1.2.3.401", patientID: "X").code == 0xA700)
            #expect(h.files().isEmpty)
        }
    }

    /// Control characters in a value reach the catalog normalised; the Part10 object keeps them as sent.
    @Test func controlCharactersAreStrippedFromTheRowOnly() async throws {
        try await withHarness { h in
            #expect(try await h.store(uid: "1.2.3.500", patientID: "P\u{0}\u{1B}ID") == .success)
            let row = try #require(try await h.catalog.instance(sopInstanceUID: "1.2.3.500"))
            #expect(row.patientID == "PID")
            let object = try Data(contentsOf: URL(string: row.objectURI)!)
            #expect(object.range(of: Data("P\u{0}\u{1B}ID".utf8)) != nil)
        }
    }
}

// MARK: - Harness

/// Faults a test switches on; consulted by `FaultInjectingStore` and `FaultInjectingRecorder`.
final class CommitFaults: @unchecked Sendable {
    // @unchecked: every stored property is guarded by `lock`.
    private let lock = NIOLock()
    private var _failPut: (@Sendable (String) -> Bool)?
    private var _failFinish: (@Sendable (String) -> Bool)?
    private var _failRecord: (@Sendable () -> any Error)?
    private var _holdFinish = false
    private var inFlight: [String: Int] = [:]
    private var _maximumConcurrentFinishes = 0

    var failPut: (@Sendable (String) -> Bool)? {
        get { lock.withLock { _failPut } }
        set { lock.withLock { _failPut = newValue } }
    }
    var failFinish: (@Sendable (String) -> Bool)? {
        get { lock.withLock { _failFinish } }
        set { lock.withLock { _failFinish = newValue } }
    }
    var failRecord: (@Sendable () -> any Error)? {
        get { lock.withLock { _failRecord } }
        set { lock.withLock { _failRecord = newValue } }
    }
    /// Each completion stays in flight a while (up to 2 s, or until a second one on the same key arrives),
    /// so two unserialised commits of one key are seen overlapping.
    var holdFinish: Bool {
        get { lock.withLock { _holdFinish } }
        set { lock.withLock { _holdFinish = newValue } }
    }
    var maximumConcurrentFinishes: Int { lock.withLock { _maximumConcurrentFinishes } }

    func finishing(_ key: String) async {
        let hold = lock.withLock {
            inFlight[key, default: 0] += 1
            _maximumConcurrentFinishes = max(_maximumConcurrentFinishes, inFlight[key]!)
            return _holdFinish
        }
        if hold {
            for _ in 0..<200 {
                if lock.withLock({ inFlight[key, default: 0] }) > 1 { break }
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
    }

    func finished(_ key: String) { lock.withLock { inFlight[key, default: 1] -= 1 } }
}

struct FaultInjectingStore: ObjectStore {
    let base: FilesystemObjectStore
    let faults: CommitFaults

    func beginUpload(key: String, options: ObjectPutOptions) async throws -> any ObjectUpload {
        Upload(base: try await base.beginUpload(key: key, options: options), key: key, faults: faults)
    }
    func put(key: String, body: ByteBuffer, options: ObjectPutOptions) async throws -> StoredObject {
        if faults.failPut?(key) == true { throw ObjectStoreError(.unavailable, detail: "injected put failure") }
        return try await base.put(key: key, body: body, options: options)
    }
    func delete(key: String) async throws { try await base.delete(key: key) }
    func check() async throws { try await base.check() }
    func uri(for key: String) -> String { base.uri(for: key) }

    struct Upload: ObjectUpload {
        let base: any ObjectUpload
        let key: String
        let faults: CommitFaults
        func write(_ chunk: ByteBuffer) async throws { try await base.write(chunk) }
        func finish() async throws -> StoredObject {
            await faults.finishing(key)
            defer { faults.finished(key) }
            if faults.failFinish?(key) == true {
                await base.abort()
                throw ObjectStoreError(.unavailable, detail: "injected completion failure")
            }
            return try await base.finish()
        }
        func abort() async { await base.abort() }
    }
}

struct FaultInjectingRecorder: IngestRecorder {
    let base: SQLiteCatalog
    let faults: CommitFaults

    func startAssociation(_ association: AssociationRecord) async throws { try await base.startAssociation(association) }
    func endAssociation(id: UUID, outcome: AssociationOutcome, endedAt: Date) async throws {
        try await base.endAssociation(id: id, outcome: outcome, endedAt: endedAt)
    }
    func recordInstance(_ instance: InstanceRecord) async throws -> InstanceRecord {
        if let fault = faults.failRecord { throw fault() }
        return try await base.recordInstance(instance)
    }
    func recordFailure(associationID: UUID) async throws { try await base.recordFailure(associationID: associationID) }
    func addRejectedAttempts(associationID: UUID, count: Int) async throws {
        try await base.addRejectedAttempts(associationID: associationID, count: count)
    }
    func instance(sopInstanceUID: String) async throws -> InstanceRecord? { try await base.instance(sopInstanceUID: sopInstanceUID) }
}

struct CommitHarness {
    let root: String
    let catalog: SQLiteCatalog
    let faults: CommitFaults
    let target: StorageTarget
    let listener: ListenerConfig
    let serializer = KeyedSerializer()
    let logger = Logger(label: "ingest-commit-tests")

    func sink(listener: ListenerConfig) throws -> IngestSink {
        try IngestSink(listener: listener, store: FaultInjectingStore(base: FilesystemObjectStore(root: root), faults: faults),
                       recorder: FaultInjectingRecorder(base: catalog, faults: faults), serializer: serializer, logger: logger)
    }

    /// One C-STORE of a small CT data set, in two fragments, through `sink` (this harness's listener by default).
    func store(uid: String, patientID: String, sink: IngestSink? = nil) async throws -> StoreStatus {
        try await Self.store(uid: uid, patientID: patientID, sink: try sink ?? self.sink(listener: listener), catalog: catalog)
    }

    /// One C-STORE of `dataSet(uid:patientID:)`, in two fragments, through `sink`, its association row in `catalog`.
    static func store(uid: String, patientID: String, sink: IngestSink, catalog: any IngestRecorder) async throws -> StoreStatus {
        let association = AssociationContext(listener: sink.listener, callingAETitle: "MODALITY", calledAETitle: "STORESCP",
                                             peerAddress: "127.0.0.1:40000")
        try await catalog.startAssociation(AssociationRecord(
            id: association.associationID, listenerID: sink.listener.id, callingAETitle: "MODALITY", calledAETitle: "STORESCP",
            peerAddress: "127.0.0.1:40000"))
        let receiver = try await sink.beginStore(StoreRequest(
            association: association, messageID: 1, affectedSOPClassUID: IngestCommitTests.ct, affectedSOPInstanceUID: uid,
            transferSyntaxUID: IngestCommitTests.explicitLE))
        var data = dataSet(uid: uid, patientID: patientID)
        let half = data.readableBytes / 2
        do {
            try await receiver.receive(data.readSlice(length: half)!)
            try await receiver.receive(data)
        } catch let failure as StoreFailure {
            // As the listener does: the rest of the data set is discarded and the status answered.
            await receiver.cancel()
            return failure.status
        }
        return await receiver.finish()
    }

    /// Object and JSON named by `row` exist and describe the data set sent with `patientID`.
    func expectConsistent(uid: String, patientID: String, row: InstanceRecord?,
                          sourceLocation: SourceLocation = #_sourceLocation) throws {
        let row = try #require(row, sourceLocation: sourceLocation)
        let object = try Data(contentsOf: URL(string: row.objectURI)!)
        let digest = SHA256.hash(data: object).map { String(format: "%02x", $0) }.joined()
        #expect(digest == row.sha256, "row sha256 is not the stored object's", sourceLocation: sourceLocation)
        #expect(object.range(of: Data(patientID.utf8)) != nil, sourceLocation: sourceLocation)
        #expect(row.patientID == patientID, sourceLocation: sourceLocation)
        let json = try String(contentsOf: URL(string: try #require(row.metadataURI))!, encoding: .utf8)
        #expect(json.contains("\"\(patientID)\""), "JSON is not the row's data set", sourceLocation: sourceLocation)
    }

    /// Every file under the root, relative and sorted (no temp files may remain).
    func files() -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: root)
        var out: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: root + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                out.append(path)
            }
        }
        return out.sorted()
    }

    /// Explicit VR Little Endian: SOP Class/Instance, Patient ID, Study/Series Instance UID (PS3.5 §7.1.2).
    static func dataSet(uid: String, patientID: String) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 256)
        func element(_ group: UInt16, _ element: UInt16, _ vr: String, _ value: String) {
            var bytes = Array(value.utf8)
            if bytes.count % 2 == 1 { bytes.append(vr == "UI" ? 0 : 0x20) }
            buffer.writeInteger(group, endianness: .little)
            buffer.writeInteger(element, endianness: .little)
            buffer.writeString(vr)
            buffer.writeInteger(UInt16(bytes.count), endianness: .little)
            buffer.writeBytes(bytes)
        }
        element(0x0008, 0x0016, "UI", IngestCommitTests.ct)
        element(0x0008, 0x0018, "UI", uid)
        element(0x0010, 0x0020, "LO", patientID)
        element(0x0020, 0x000D, "UI", "1.2.3.9")
        element(0x0020, 0x000E, "UI", "1.2.3.9.1")
        return buffer
    }
}

func withHarness(keyTemplate: String? = nil, _ body: (CommitHarness) async throws -> Void) async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ingest-commit-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: dir) }
    let root = dir.appendingPathComponent("objects").path
    let catalog = try SQLiteCatalog(path: dir.appendingPathComponent("catalog.sqlite").path, logger: Logger(label: "ingest-commit-tests"))
    let target = StorageTarget(backend: .filesystem, path: root, keyTemplate: keyTemplate, gzip: false)
    let harness = CommitHarness(root: root, catalog: catalog, faults: CommitFaults(), target: target,
                                listener: ListenerConfig(name: "ct", port: 1, storage: target))
    do {
        try await catalog.migrate()
        try await body(harness)
    } catch {
        await catalog.close()
        throw error
    }
    await catalog.close()
}
