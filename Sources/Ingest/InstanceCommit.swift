import Domain
import Logging
import NIOCore

/// The commit step of one C-STORE, run while the sink's serializer holds the instance's UID and object:
/// complete the Part10 object and write the JSON (in the slot of `ObjectSlots`), upsert the row, then
/// drop the previous slot. Every failure returns the status to answer and leaves the previous state intact.
struct InstanceCommit: Sendable {
    let sink: IngestSink
    let upload: any ObjectUpload
    let slots: ObjectSlots.Choice
    /// The row to write; `objectURI`, `metadataURI` and `storedBytes` are filled in here.
    let record: InstanceRecord
    /// The DICOM JSON body, nil when the listener does not create metadata.
    let metadataJSON: ByteBuffer?
    let logger: Logger

    /// `current`: the committed row's objects, read under the instance lock. The row cannot move while the
    /// lock is held, and it may have changed since the slot was chosen, so it is checked again here.
    func run(current: CommittedInstanceObjects?) async -> Result<InstanceRecord, StoreFailure> {
        let store = sink.store
        let slots: ObjectSlots
        // The Part10 object's completion: a renamable upload is finished in the slot chosen here.
        let finishUpload: @Sendable () async throws -> StoredObject
        switch self.slots {
        case .chosen(let chosen):
            slots = chosen
            if let current {
                guard current.listenerID == record.listenerID else {
                    await upload.abort()
                    return .failure(StoreFailure(ObjectSlots.heldByAnotherListener))
                }
                // A concurrent receive of this instance committed into the slot this one streamed to:
                // completing it would overwrite what the row names. The sender's retry writes the other slot.
                if ObjectSlots.refers(current, to: slots.written, in: store) {
                    await upload.abort()
                    return .failure(StoreFailure(.outOfResources("Instance received concurrently; retry")))
                }
            }
            finishUpload = { [upload] in try await upload.finish() }
        case .atCommit(let primary):
            guard let renamable = upload as? any RenamableUpload else {
                await upload.abort()
                logger.error("the object store's upload cannot be renamed; slot not chosen")
                return .failure(StoreFailure(.outOfResources("Object store unavailable")))
            }
            do {
                slots = try ObjectSlots.choose(primary: primary, row: current, listenerID: record.listenerID, store: store)
            } catch {
                await upload.abort()
                return .failure(error)
            }
            let key = slots.written.dicom
            finishUpload = { try await renamable.finish(renamingTo: key) }
        }

        // The Part10 completion and the metadata write are independent: run them at once, so their
        // round trips (or fsyncs) overlap instead of adding up.
        let target = sink.listener.storage
        async let finishing: Result<StoredObject, any Error> = {
            do { return .success(try await finishUpload()) } catch { return .failure(error) }
        }()
        async let describing: Result<StoredObject?, any Error> = {
            guard let json = metadataJSON else { return .success(nil) }
            do {
                return .success(try await store.put(
                    key: slots.written.metadata, body: json,
                    options: ObjectPutOptions(contentType: ObjectPutOptions.dicomJSONContentType,
                                              gzipLevel: target.gzip ? target.gzipLevel : nil,
                                              storageClass: target.storageClass,
                                              serverSideEncryption: target.serverSideEncryption, kmsKeyID: target.kmsKeyID)))
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
            if let full = error as? SpoolFull { return .failure(StoreFailure(.outOfResources(full.reason))) }
            return .failure(StoreFailure(.outOfResources("Metadata object store unavailable")))
        }

        var row = record
        row.objectURI = stored.uri
        row.storedBytes = stored.storedLength
        row.metadataURI = metadata?.uri
        let committed: InstanceRecord
        do {
            committed = try await sink.recorder.recordInstance(row)
        } catch {
            await dropWrittenUnlessCommitted(stored: stored, metadata: metadata)
            return .failure(StoreFailure(Self.status(for: error)))
        }

        // The row now names the new slot: the previous one is garbage.
        if let current {
            if current.objectURI == store.uri(for: slots.other.dicom) {
                await delete(slots.other.dicom, why: "replaced by a re-send")
            }
            if current.metadataURI == store.uri(for: slots.other.metadata) {
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
        let row: CommittedInstanceObjects?
        do {
            row = try await sink.recorder.committedObjects(sopInstanceUID: record.sopInstanceUID)
        } catch {
            logger.warning("catalog write failed and its outcome is unknown; new objects kept", metadata: ["error": "\(error)"])
            return
        }
        if row?.objectURI != stored.uri { await delete(stored.key, why: "catalog write failed") }
        if let metadata, row?.metadataURI != metadata.uri { await delete(metadata.key, why: "catalog write failed") }
    }

    private func delete(_ key: String, why: String) async {
        do {
            try await sink.store.delete(key: key)
        } catch {
            logger.warning("could not delete an object no row refers to", metadata: ["key": "\(key)", "why": "\(why)", "error": "\(error)"])
        }
    }
}
