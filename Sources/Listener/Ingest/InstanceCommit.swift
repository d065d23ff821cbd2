import Domain
import Foundation
import Logging
import NIOCore

/// Where one receive writes its Part10 and JSON objects, so that a failed re-send never touches what the
/// catalog row refers to.
///
/// Neither store can replace an object atomically together with a catalog row: an S3 multipart upload
/// becomes the object at `CompleteMultipartUpload`, a file at its `rename`, and the row commits in another
/// system. Overwriting the key the row names therefore leaves object, JSON and row describing different
/// data sets whenever a later step fails. So every instance has two key slots: the primary keys of the
/// layout (`…/<SOPInstanceUID>.dcm`, `.json`) and an alternate pair with `~1` before the extension (`~`
/// never occurs in a primary key, the layout reduces every value to `[A-Za-z0-9._-]`).
/// A receive writes the slot the committed row does *not* name (the primary one for a new instance),
/// switches the row to it in the catalog transaction, and only then deletes the previous slot's objects.
/// A failure at any step before the row switch deletes what it wrote and leaves the previous objects and
/// row exactly as they were; a failure after it leaves at most a stale object in the unused slot, which
/// the next re-send overwrites. The same scheme works on both stores because it needs nothing but
/// put/complete and delete of whole objects.
struct ObjectSlots: Sendable {
    typealias Keys = (dicom: String, metadata: String)

    /// The keys this receive writes.
    var written: Keys
    /// The other slot: where the committed row may point (and what is deleted once the row has moved).
    var other: Keys

    static let alternateMarker = "~1"

    /// The alternate slot of `primary`: `~1` inserted before each file extension.
    static func alternate(of primary: Keys) -> Keys {
        (insertMarker(primary.dicom), insertMarker(primary.metadata))
    }

    private static func insertMarker(_ key: String) -> String {
        let nameStart = key.lastIndex(of: "/").map { key.index(after: $0) } ?? key.startIndex
        guard let dot = key[nameStart...].lastIndex(of: ".") else { return key + alternateMarker }
        return String(key[..<dot]) + alternateMarker + String(key[dot...])
    }

    /// The slot a receive of `sopInstanceUID` on `listenerId` writes, read from the committed row.
    /// Throws `StoreFailure` (Duplicate SOP Instance, 0111) when another listener holds the UID: the
    /// duplicate policy is per listener, and nothing is written before that is known.
    static func choose(primary: Keys, for sopInstanceUID: String, listenerId: UUID, store: any ObjectStore,
                       recorder: any IngestRecorder) async throws -> ObjectSlots {
        let alternate = alternate(of: primary)
        guard let existing = try await recorder.instance(sopInstanceUID: sopInstanceUID) else {
            return ObjectSlots(written: primary, other: alternate)
        }
        guard existing.listenerId == listenerId else { throw StoreFailure(heldByAnotherListener) }
        if refers(existing, to: primary, in: store) {
            return ObjectSlots(written: alternate, other: primary)
        }
        return ObjectSlots(written: primary, other: alternate)
    }

    static func refers(_ row: InstanceRecord, to keys: Keys, in store: any ObjectStore) -> Bool {
        row.objectUri == store.uri(for: keys.dicom) || row.metadataUri == store.uri(for: keys.metadata)
    }

    static let heldByAnotherListener = StoreStatus.duplicateSOPInstance("SOP Instance UID held by another listener")
}

/// The commit step of one C-STORE, run while the sink's serializer holds the instance's UID and object:
/// complete the Part10 object and write the JSON (in the slot of `ObjectSlots`), upsert the row, then
/// drop the previous slot. Every failure returns the status to answer and leaves the previous state intact.
struct InstanceCommit: Sendable {
    let sink: IngestSink
    let upload: any ObjectUpload
    let slots: ObjectSlots
    /// The row to write; `objectUri`, `metadataUri` and `storedBytes` are filled in here.
    let record: InstanceRecord
    /// The DICOM JSON body, nil when the listener does not create metadata.
    let metadataJSON: ByteBuffer?
    let logger: Logger

    func run() async -> Result<InstanceRecord, StoreFailure> {
        let store = sink.store
        // Under the lock the row cannot move: check it again, since it may have changed since the slot was chosen.
        let current: InstanceRecord?
        do {
            current = try await sink.recorder.instance(sopInstanceUID: record.sopInstanceUID)
        } catch {
            await upload.abort()
            logger.warning("catalog read before commit failed", metadata: ["error": "\(error)"])
            return .failure(StoreFailure(.outOfResources("Catalog unavailable")))
        }
        if let current {
            guard current.listenerId == record.listenerId else {
                await upload.abort()
                return .failure(StoreFailure(ObjectSlots.heldByAnotherListener))
            }
            // A concurrent receive of this instance committed into the slot this one streamed to: completing
            // it would overwrite what the row names. The sender's retry writes the other slot.
            if ObjectSlots.refers(current, to: slots.written, in: store) {
                await upload.abort()
                return .failure(StoreFailure(.outOfResources("Instance received concurrently; retry")))
            }
        }

        // The Part10 completion and the metadata write are independent: run them at once, so their
        // round trips (or fsyncs) overlap instead of adding up.
        let target = sink.listener.storage
        async let finishing: Result<StoredObject, any Error> = {
            do { return .success(try await upload.finish()) } catch { return .failure(error) }
        }()
        async let describing: Result<StoredObject?, any Error> = {
            guard let json = metadataJSON else { return .success(nil) }
            do {
                return .success(try await store.put(
                    key: slots.written.metadata, body: json,
                    options: ObjectPutOptions(contentType: ObjectPutOptions.dicomJSONContentType,
                                              gzipLevel: target.gzip ? target.gzipLevel : nil,
                                              storageClass: target.storageClass,
                                              serverSideEncryption: target.serverSideEncryption, kmsKeyId: target.kmsKeyId)))
            } catch {
                return .failure(error)
            }
        }()
        let (finished, described) = await (finishing, describing)
        let stored: StoredObject
        let metadata: StoredObject?
        switch (finished, described) {
        case (.success(let object), .success(let json)):
            stored = object
            metadata = json
        case (.failure(let error), let json):
            if case .success(let written?) = json { await delete(written.key, why: "Part10 completion failed") }
            logger.warning("object store completion failed", metadata: ["error": "\(error)"])
            return .failure(StoreFailure(.outOfResources("Object store unavailable")))
        case (.success(let object), .failure(let error)):
            await delete(object.key, why: "metadata write failed")
            logger.warning("metadata write failed", metadata: ["error": "\(error)"])
            return .failure(StoreFailure(.outOfResources("Metadata object store unavailable")))
        }

        var row = record
        row.objectUri = stored.uri
        row.storedBytes = stored.storedLength
        row.metadataUri = metadata?.uri
        let committed: InstanceRecord
        do {
            committed = try await sink.recorder.recordInstance(row)
        } catch {
            await dropWrittenUnlessCommitted(stored: stored, metadata: metadata)
            return .failure(StoreFailure(Self.status(for: error)))
        }

        // The row now names the new slot: the previous one is garbage.
        if let current {
            if current.objectUri == store.uri(for: slots.other.dicom) {
                await delete(slots.other.dicom, why: "replaced by a re-send")
            }
            if current.metadataUri == store.uri(for: slots.other.metadata) {
                await delete(slots.other.metadata, why: "replaced by a re-send")
            }
        }
        return .success(committed)
    }

    /// The answer to a failed catalog write: permanent refusals are not retried by the sender.
    static func status(for error: any Error) -> StoreStatus {
        guard let error = error as? CatalogError else { return .outOfResources("Catalog unavailable") }
        switch error.code {
        case .conflict where error.field == "listenerId":
            return ObjectSlots.heldByAnotherListener
        case .invalidValue:
            return .cannotUnderstand("Catalog refused \(error.field ?? "a value"); not retryable")
        default:
            return .outOfResources("Catalog unavailable")
        }
    }

    /// The catalog write failed, but it may still have committed (a connection lost after COMMIT): the new
    /// objects are deleted only when the row is known not to name them; if that cannot be read, they stay.
    private func dropWrittenUnlessCommitted(stored: StoredObject, metadata: StoredObject?) async {
        let row: InstanceRecord?
        do {
            row = try await sink.recorder.instance(sopInstanceUID: record.sopInstanceUID)
        } catch {
            logger.warning("catalog write failed and its outcome is unknown; new objects kept", metadata: ["error": "\(error)"])
            return
        }
        if row?.objectUri != stored.uri { await delete(stored.key, why: "catalog write failed") }
        if let metadata, row?.metadataUri != metadata.uri { await delete(metadata.key, why: "catalog write failed") }
    }

    private func delete(_ key: String, why: String) async {
        do {
            try await sink.store.delete(key: key)
        } catch {
            logger.warning("could not delete an object no row refers to", metadata: ["key": "\(key)", "why": "\(why)", "error": "\(error)"])
        }
    }
}
