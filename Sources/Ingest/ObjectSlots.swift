import Domain
import Foundation

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

    /// When a receive's slot is known.
    enum Choice: Sendable {
        /// Read from the catalog before the upload began (a store that names its objects when they start).
        case chosen(ObjectSlots)
        /// At the commit, from the row read under the catalog's lock (a `RenamableUpload`, begun in the
        /// primary slot and renamed when the other one is to be written).
        case atCommit(primary: Keys)

        /// The key the Part10 upload begins with.
        var uploadKey: String {
            switch self {
            case .chosen(let slots): slots.written.dicom
            case .atCommit(let primary): primary.dicom
            }
        }

        /// Every Part10 key the receive may end up writing.
        var possibleKeys: [String] {
            switch self {
            case .chosen(let slots): [slots.written.dicom]
            case .atCommit(let primary): [primary.dicom, ObjectSlots.alternate(of: primary).dicom]
            }
        }
    }

    /// The keys this receive writes.
    var written: Keys
    /// The other slot: where the committed row may point (and what is deleted once the row has moved).
    var other: Keys

    /// The alternate slot of `primary`: `~1` inserted before each file extension.
    static func alternate(of primary: Keys) -> Keys {
        (ObjectSlotKey.alternate(of: primary.dicom), ObjectSlotKey.alternate(of: primary.metadata))
    }

    /// The slot a receive of `sopInstanceUID` on `listenerID` writes, read from the committed row.
    /// Throws `StoreFailure` (Duplicate SOP Instance, 0111) when another listener holds the UID: the
    /// duplicate policy is per listener, and nothing is written before that is known.
    static func choose(primary: Keys, for sopInstanceUID: String, listenerID: UUID, store: any ObjectStore,
                       recorder: any IngestRecorder) async throws -> ObjectSlots {
        try choose(primary: primary, row: try await recorder.committedObjects(sopInstanceUID: sopInstanceUID),
                   listenerID: listenerID, store: store)
    }

    /// The slot to write given the committed row `row` (nil: none yet), as above. An upload the store
    /// names only when it finishes (`RenamableUpload`) chooses this way at its commit, under the catalog's
    /// lock, from the row read with the lock: one catalog read less per receive.
    static func choose(primary: Keys, row: CommittedInstanceObjects?, listenerID: UUID,
                       store: any ObjectStore) throws(StoreFailure) -> ObjectSlots {
        let alternate = alternate(of: primary)
        guard let row else { return ObjectSlots(written: primary, other: alternate) }
        guard row.listenerID == listenerID else { throw StoreFailure(heldByAnotherListener) }
        if refers(row, to: primary, in: store) {
            return ObjectSlots(written: alternate, other: primary)
        }
        return ObjectSlots(written: primary, other: alternate)
    }

    static func refers(_ row: CommittedInstanceObjects, to keys: Keys, in store: any ObjectStore) -> Bool {
        row.objectURI == store.uri(for: keys.dicom) || row.metadataURI == store.uri(for: keys.metadata)
    }

    static let heldByAnotherListener = StoreStatus.duplicateSOPInstance("SOP Instance UID held by another listener")
}
