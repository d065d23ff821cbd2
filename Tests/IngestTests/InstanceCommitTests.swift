import Crypto
import Domain
import Foundation
@testable import Ingest
import Logging
import NIOCore
import Testing

/// The rule "a C-STORE success means stored" (object complete, JSON written, catalog row committed),
/// checked step by step against in-memory ports that fail on demand: every failure answers its status
/// and leaves nothing half-recorded, a re-send never touches what the committed row names, and a
/// cancelled C-STORE leaves nothing behind.
@Suite("Instance commit (in-memory ports)")
struct InstanceCommitTests {
    /// One injected fault, at one step of a C-STORE.
    enum Fault: Sendable, CustomTestStringConvertible {
        case store(InMemoryObjectStore.Step)
        case record(InMemoryRecorder.RecordFault)
        /// Catalog reads throw from this (1-based) read on: 1 is the slot choice, 2 the re-check under the lock.
        case readCatalog(from: Int)

        var testDescription: String {
            switch self {
            case .store(let step): return "object store: \(step)"
            case .record(let fault): return "catalog write: \(fault)"
            case .readCatalog(let from): return "catalog read #\(from)"
            }
        }

        func inject(into rig: IngestRig) {
            switch self {
            case .store(let step): rig.store.failing = [step]
            case .record(let fault): rig.recorder.recordFault = fault
            case .readCatalog(let from): rig.recorder.failReadsFrom = rig.recorder.reads + from
            }
        }
    }

    /// Each step of a C-STORE that can fail, with the status it answers (PS3.4 B.2.3: A7xx is retried by
    /// the sender; C000 is not).
    static let faults: [(Fault, StoreStatus)] = [
        (.readCatalog(from: 1), .outOfResources("Catalog unavailable")),
        (.store(.beginUpload), .outOfResources("Object store unavailable")),
        (.store(.write), .outOfResources("Object store write failed")),
        (.readCatalog(from: 2), .outOfResources("Catalog unavailable")),
        (.store(.finish), .outOfResources("Object store unavailable")),
        (.store(.put), .outOfResources("Metadata object store unavailable")),
        (.record(.unavailable), .outOfResources("Catalog unavailable")),
        (.record(.invalidValue(field: "studyInstanceUID")), .cannotUnderstand("Catalog refused studyInstanceUID; not retryable")),
    ]

    // MARK: Failure at each step

    @Test("a new instance failing at one step: its status, and nothing stored or recorded", arguments: faults)
    func newInstanceFailingAtOneStep(fault: Fault, expected: StoreStatus) async throws {
        let rig = IngestRig()
        fault.inject(into: rig)
        let status = try await rig.store(uid: "1.2.3.10", patientID: "NEW")
        #expect(status == expected)
        rig.expectNothingLeft()
        #expect(rig.recorder.failures == 1, "the failed instance is counted on the association")
    }

    @Test("a re-send failing at one step: its status, and the previous object, JSON and row untouched", arguments: faults)
    func resendFailingAtOneStep(fault: Fault, expected: StoreStatus) async throws {
        let rig = IngestRig()
        #expect(try await rig.store(uid: "1.2.3.11", patientID: "FIRST") == .success)
        let before = try #require(rig.recorder.rows["1.2.3.11"])
        let objectsBefore = rig.store.digests
        fault.inject(into: rig)
        let status = try await rig.store(uid: "1.2.3.11", patientID: "SECOND")
        #expect(status == expected)
        #expect(rig.recorder.rows["1.2.3.11"] == before)
        #expect(rig.store.digests == objectsBefore)
        #expect(rig.store.openUploads == 0)
        try rig.expectConsistent(uid: "1.2.3.11", patientID: "FIRST")
    }

    /// A write that fails after the upload has begun: the listener cancels the receiver and discards the
    /// rest of the data set; the partial upload is aborted.
    @Test func objectWriteFailingMidStreamAbortsTheUpload() async throws {
        let rig = IngestRig()
        let (receiver, rest) = try await rig.beginHalfway(uid: "1.2.3.12", patientID: "MID")
        #expect(rig.store.openUploads == 1, "the default layout needs no data set attribute: the upload starts at once")
        rig.store.failing = [.write]
        await #expect(throws: StoreFailure(.outOfResources("Object store write failed"))) { try await receiver.receive(rest) }
        await receiver.cancel()
        rig.expectNothingLeft()
    }

    /// The catalog write committed but its answer was lost: the row names the new objects, so they stay;
    /// the sender is told to retry (A700) and its retry replaces them consistently.
    @Test func catalogAnswerLostAfterCommitKeepsTheObjectsTheRowNames() async throws {
        let rig = IngestRig()
        rig.recorder.recordFault = .committedThenLost
        #expect(try await rig.store(uid: "1.2.3.13", patientID: "LOST") == .outOfResources("Catalog unavailable"))
        try rig.expectConsistent(uid: "1.2.3.13", patientID: "LOST")
        rig.recorder.recordFault = nil
        #expect(try await rig.store(uid: "1.2.3.13", patientID: "RETRY") == .success)
        try rig.expectConsistent(uid: "1.2.3.13", patientID: "RETRY")
    }

    /// The catalog write failed and the row cannot be read to know whether it committed: the new objects
    /// are kept (deleting them could leave a committed row without its object), and no row names anything missing.
    @Test func catalogOutcomeUnknownKeepsTheNewObjects() async throws {
        let rig = IngestRig()
        rig.recorder.recordFault = .unavailable
        rig.recorder.failReadsFrom = 3
        #expect(try await rig.store(uid: "1.2.3.14", patientID: "UNKNOWN") == .outOfResources("Catalog unavailable"))
        #expect(rig.store.keys == ["DICOM/1.2.3.14.dcm", "METADATA/1.2.3.14.json"])
        #expect(rig.recorder.rows.isEmpty)
    }

    // MARK: Duplicates

    /// Re-sends of one SOP Instance UID alternate between the primary and the `~1` slot; after each, the
    /// row names the pair that holds its bytes and the other pair is gone.
    @Test func resendsAlternateSlotsAndTheRowAlwaysNamesItsBytes() async throws {
        let rig = IngestRig()
        let expectedKeys = [["DICOM/1.2.3.20.dcm", "METADATA/1.2.3.20.json"], ["DICOM/1.2.3.20~1.dcm", "METADATA/1.2.3.20~1.json"]]
        for (index, patient) in ["ONE", "TWO", "THREE", "FOUR"].enumerated() {
            #expect(try await rig.store(uid: "1.2.3.20", patientID: patient) == .success)
            try rig.expectConsistent(uid: "1.2.3.20", patientID: patient)
            #expect(rig.store.keys == expectedKeys[index % 2])
            #expect(rig.recorder.rows["1.2.3.20"]?.receiveCount == index + 1)
        }
    }

    /// A row that names the alternate slot (left by an earlier re-send) sends the next receive to the
    /// primary slot, overwriting what a failed receive may have left there.
    @Test func staleObjectInTheUnusedSlotIsOverwritten() async throws {
        let rig = IngestRig()
        #expect(try await rig.store(uid: "1.2.3.21", patientID: "ONE") == .success)
        #expect(try await rig.store(uid: "1.2.3.21", patientID: "TWO") == .success)
        _ = try await rig.store.put(key: "DICOM/1.2.3.21.dcm", body: ByteBuffer(string: "stale"),
                                    options: ObjectPutOptions(contentType: ObjectPutOptions.dicomContentType))
        #expect(try await rig.store(uid: "1.2.3.21", patientID: "THREE") == .success)
        try rig.expectConsistent(uid: "1.2.3.21", patientID: "THREE")
        #expect(rig.store.keys == ["DICOM/1.2.3.21.dcm", "METADATA/1.2.3.21.json"])
    }

    /// Another listener's SOP Instance UID: Duplicate SOP Instance (0111) before anything is written.
    @Test func anotherListenersInstanceIsRefusedBeforeAnyWrite() async throws {
        let rig = IngestRig()
        #expect(try await rig.store(uid: "1.2.3.22", patientID: "OWNER") == .success)
        let before = rig.store.digests
        let other = ListenerConfig(name: "other", port: 2, storage: rig.listener.storage)
        let status = try await rig.store(uid: "1.2.3.22", patientID: "INTRUDER", listener: other)
        #expect(status == .duplicateSOPInstance("SOP Instance UID held by another listener"))
        #expect(rig.store.digests == before)
        try rig.expectConsistent(uid: "1.2.3.22", patientID: "OWNER")
    }

    /// A concurrent receive of the same instance committed into the slot this one streamed to, between
    /// the slot choice and the commit: completing would overwrite what the row names, so the upload is
    /// aborted and the sender told to retry.
    @Test func concurrentCommitIntoTheSameSlotIsRetried() async throws {
        let rig = IngestRig()
        var winner = IngestRig.row(uid: "1.2.3.23", listener: rig.listener, objectURI: rig.store.uri(for: "DICOM/1.2.3.23.dcm"))
        winner.metadataURI = rig.store.uri(for: "METADATA/1.2.3.23.json")
        rig.recorder.rowBeforeRead = [2: winner]
        let status = try await rig.store(uid: "1.2.3.23", patientID: "LATE")
        #expect(status == .outOfResources("Instance received concurrently; retry"))
        #expect(rig.store.openUploads == 0)
        #expect(rig.store.keys.isEmpty)
        #expect(rig.recorder.rows["1.2.3.23"] == winner)
    }

    /// Another listener took the UID between the slot choice and the commit: 0111, nothing written.
    @Test func anotherListenerCommittingFirstIsADuplicate() async throws {
        let rig = IngestRig()
        let other = ListenerConfig(name: "other", port: 2, storage: rig.listener.storage)
        rig.recorder.rowBeforeRead = [2: IngestRig.row(uid: "1.2.3.24", listener: other, objectURI: "mem://bucket/elsewhere.dcm")]
        let status = try await rig.store(uid: "1.2.3.24", patientID: "LATE")
        #expect(status == .duplicateSOPInstance("SOP Instance UID held by another listener"))
        #expect(rig.store.keys.isEmpty)
        #expect(rig.store.openUploads == 0)
    }

    /// Two receives of one instance at once: each either succeeds or is told to retry, and the end state
    /// is one row naming the one object pair that holds its bytes.
    @Test func simultaneousReceivesOfOneInstanceEndConsistent() async throws {
        let rig = IngestRig()
        async let a = rig.store(uid: "1.2.3.25", patientID: "A")
        async let b = rig.store(uid: "1.2.3.25", patientID: "B")
        let statuses = try await [a, b]
        #expect(statuses.contains(.success), "\(statuses)")
        #expect(statuses.allSatisfy { $0 == .success || $0 == .outOfResources("Instance received concurrently; retry") }, "\(statuses)")
        let row = try #require(rig.recorder.rows["1.2.3.25"])
        try rig.expectConsistent(uid: "1.2.3.25", patientID: row.patientID ?? "")
        #expect(rig.store.keys.count == 2)
        #expect(rig.store.openUploads == 0)
    }

    // MARK: A store that names its objects when they are finished (the filesystem target, the spool)

    /// The slot is chosen at the commit from the row read with the lock: re-sends alternate slots as
    /// above, with one catalog read per receive instead of two.
    @Test func renamableUploadsAlternateSlotsWithOneReadPerReceive() async throws {
        let rig = IngestRig(renamable: true)
        let expectedKeys = [["DICOM/1.2.3.30.dcm", "METADATA/1.2.3.30.json"], ["DICOM/1.2.3.30~1.dcm", "METADATA/1.2.3.30~1.json"]]
        for (index, patient) in ["ONE", "TWO", "THREE"].enumerated() {
            let reads = rig.recorder.reads
            #expect(try await rig.store(uid: "1.2.3.30", patientID: patient) == .success)
            #expect(rig.recorder.reads == reads + 1)
            try rig.expectConsistent(uid: "1.2.3.30", patientID: patient)
            #expect(rig.store.keys == expectedKeys[index % 2])
            #expect(rig.store.openUploads == 0)
        }
    }

    /// A concurrent receive committed into the primary slot while this one streamed there: the commit sees
    /// it under the lock and finishes this one in the other slot, so the sender gets success, not a retry.
    @Test func renamableUploadConcurrentCommitGoesToTheOtherSlot() async throws {
        let rig = IngestRig(renamable: true)
        var winner = IngestRig.row(uid: "1.2.3.31", listener: rig.listener, objectURI: rig.store.uri(for: "DICOM/1.2.3.31.dcm"))
        winner.metadataURI = rig.store.uri(for: "METADATA/1.2.3.31.json")
        rig.recorder.rowBeforeRead = [1: winner]
        #expect(try await rig.store(uid: "1.2.3.31", patientID: "LATE") == .success)
        try rig.expectConsistent(uid: "1.2.3.31", patientID: "LATE")
        #expect(rig.store.keys == ["DICOM/1.2.3.31~1.dcm", "METADATA/1.2.3.31~1.json"])
        #expect(rig.store.openUploads == 0)
    }

    /// Another listener took the UID before the commit: 0111, and the upload, begun in the primary slot,
    /// leaves nothing.
    @Test func renamableUploadAnotherListenersInstanceIsADuplicate() async throws {
        let rig = IngestRig(renamable: true)
        let other = ListenerConfig(name: "other", port: 2, storage: rig.listener.storage)
        rig.recorder.rowBeforeRead = [1: IngestRig.row(uid: "1.2.3.32", listener: other, objectURI: "mem://bucket/elsewhere.dcm")]
        let status = try await rig.store(uid: "1.2.3.32", patientID: "LATE")
        #expect(status == .duplicateSOPInstance("SOP Instance UID held by another listener"))
        #expect(rig.store.keys.isEmpty)
        #expect(rig.store.openUploads == 0)
    }

    /// The read with the lock fails: retryable, and nothing stored or recorded.
    @Test func renamableUploadFailingReadUnderTheLockLeavesNothing() async throws {
        let rig = IngestRig(renamable: true)
        rig.recorder.failReadsFrom = rig.recorder.reads + 1
        #expect(try await rig.store(uid: "1.2.3.33", patientID: "NEW") == .outOfResources("Catalog unavailable"))
        rig.expectNothingLeft()
    }

    // MARK: Cancellation

    /// Cancelled mid-stream (peer abort, connection lost, shutdown): the upload is aborted, nothing is
    /// stored or recorded.
    @Test func cancelMidStreamLeavesNothing() async throws {
        let rig = IngestRig()
        let (receiver, _) = try await rig.beginHalfway(uid: "1.2.3.30", patientID: "GONE")
        #expect(rig.store.openUploads == 1)
        await receiver.cancel()
        rig.expectNothingLeft()
    }

    /// Cancelled while the head of the data set is held for the key's attributes: no upload was begun.
    @Test func cancelWhileWaitingForKeyAttributesLeavesNothing() async throws {
        let rig = IngestRig(keyTemplate: "{StudyInstanceUID}/{SOPInstanceUID}")
        let receiver = try await rig.begin(uid: "1.2.3.31")
        var data = IngestRig.dataSet(uid: "1.2.3.31", patientID: "EARLY")
        try await receiver.receive(data.readSlice(length: 20)!)
        #expect(rig.store.openUploads == 0, "Study Instance UID not read yet: no key, no upload")
        await receiver.cancel()
        rig.expectNothingLeft()
    }

    /// A cancelled re-send leaves the committed instance as it was.
    @Test func cancelledResendKeepsThePreviousState() async throws {
        let rig = IngestRig()
        #expect(try await rig.store(uid: "1.2.3.32", patientID: "KEPT") == .success)
        let before = (rig.store.digests, rig.recorder.rows)
        let (receiver, _) = try await rig.beginHalfway(uid: "1.2.3.32", patientID: "DROPPED")
        await receiver.cancel()
        #expect(rig.store.digests == before.0)
        #expect(rig.recorder.rows == before.1)
        #expect(rig.store.openUploads == 0)
        try rig.expectConsistent(uid: "1.2.3.32", patientID: "KEPT")
    }
}

// MARK: - Rig

/// The sink over in-memory ports, and the C-STORE a listener would drive through it.
struct IngestRig {
    static let ct = "1.2.840.10008.5.1.4.1.1.2"
    static let explicitLE = "1.2.840.10008.1.2.1"

    let store: InMemoryObjectStore
    let recorder = InMemoryRecorder()
    let serializer = KeyedSerializer()
    let listener: ListenerConfig

    init(keyTemplate: String? = nil, renamable: Bool = false) {
        store = InMemoryObjectStore(renamable: renamable)
        listener = ListenerConfig(name: "ct", port: 1, storage: StorageTarget(path: "/unused", keyTemplate: keyTemplate, gzip: false))
    }

    func sink(_ listener: ListenerConfig) throws -> IngestSink {
        try IngestSink(listener: listener, store: store, recorder: recorder, serializer: serializer, logger: Logger(label: "instance-commit-tests"))
    }

    func begin(uid: String, listener: ListenerConfig? = nil) async throws -> any InstanceReceiver {
        let listener = listener ?? self.listener
        let association = AssociationContext(listener: listener, callingAETitle: "MODALITY", calledAETitle: "STORESCP",
                                             peerAddress: "127.0.0.1:40000")
        return try await sink(listener).beginStore(StoreRequest(
            association: association, messageID: 1, affectedSOPClassUID: Self.ct, affectedSOPInstanceUID: uid,
            transferSyntaxUID: Self.explicitLE))
    }

    /// One C-STORE in two fragments, as the listener drives it: a `StoreFailure` from `receive` cancels
    /// the receiver and is the answer.
    func store(uid: String, patientID: String, listener: ListenerConfig? = nil) async throws -> StoreStatus {
        let receiver: any InstanceReceiver
        do {
            receiver = try await begin(uid: uid, listener: listener)
        } catch let failure as StoreFailure {
            return failure.status
        }
        var data = Self.dataSet(uid: uid, patientID: patientID)
        do {
            try await receiver.receive(data.readSlice(length: data.readableBytes / 2)!)
            try await receiver.receive(data)
        } catch let failure as StoreFailure {
            await receiver.cancel()
            return failure.status
        }
        return await receiver.finish()
    }

    /// The row of `uid` names a Part10 object holding exactly the bytes its sha256 describes (the data set
    /// sent with `patientID`) and a JSON object of the same data set.
    func expectConsistent(uid: String, patientID: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let row = try #require(recorder.rows[uid], sourceLocation: sourceLocation)
        let object = try #require(store.object(at: row.objectURI), "row names a missing object", sourceLocation: sourceLocation)
        let digest = SHA256.hash(data: object).map { String(format: "%02x", $0) }.joined()
        #expect(digest == row.sha256, "row sha256 is not the stored object's", sourceLocation: sourceLocation)
        #expect(Int64(object.count) == row.sizeBytes, sourceLocation: sourceLocation)
        #expect(Data(object).range(of: Data(patientID.utf8)) != nil, sourceLocation: sourceLocation)
        #expect(row.patientID == patientID, sourceLocation: sourceLocation)
        let metadataURI = try #require(row.metadataURI, sourceLocation: sourceLocation)
        let json = try #require(store.object(at: metadataURI), "row names a missing JSON object", sourceLocation: sourceLocation)
        #expect(String(decoding: json, as: UTF8.self).contains("\"\(patientID)\""), "JSON is not the row's data set",
                sourceLocation: sourceLocation)
    }

    /// A committed row of `listener`, as another receive would have written it.
    static func row(uid: String, listener: ListenerConfig, objectURI: String) -> InstanceRecord {
        InstanceRecord(sopInstanceUID: uid, sopClassUID: ct, seriesInstanceUID: "1.2.3.9.1", studyInstanceUID: "1.2.3.9",
                       transferSyntaxUID: explicitLE, sizeBytes: 1, storedBytes: 1, objectURI: objectURI, sha256: "00",
                       listenerID: listener.id, associationID: UUID(), callingAETitle: "OTHER", calledAETitle: "STORESCP",
                       peerAddress: "127.0.0.1:1", receivedAt: Date())
    }

    /// No object, no upload still open, no row: what a failed or cancelled new instance leaves.
    func expectNothingLeft(sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(store.keys.isEmpty, "objects left behind: \(store.keys)", sourceLocation: sourceLocation)
        #expect(store.openUploads == 0, "an upload was neither finished nor aborted", sourceLocation: sourceLocation)
        #expect(recorder.rows.isEmpty, "a row was recorded", sourceLocation: sourceLocation)
    }

    /// The small CT data set of the SQLite-backed commit tests.
    static func dataSet(uid: String, patientID: String) -> ByteBuffer {
        CommitHarness.dataSet(uid: uid, patientID: patientID)
    }

    /// Begins a C-STORE of `uid` and hands the receiver the first half of its data set; returns the
    /// receiver and the rest.
    func beginHalfway(uid: String, patientID: String) async throws -> (any InstanceReceiver, ByteBuffer) {
        let receiver = try await begin(uid: uid)
        var data = Self.dataSet(uid: uid, patientID: patientID)
        try await receiver.receive(data.readSlice(length: data.readableBytes / 2)!)
        return (receiver, data)
    }
}
