import Domain
import Foundation
import Logging

extension Forwarder {
    /// The last step of one forward, once its objects are complete in the target, run holding the
    /// catalog's lock on the instance (the lock a receive holds while it completes its objects and
    /// switches the row), so the row cannot move meanwhile:
    /// - the row still names this object: a re-sent instance may have left its previous object in the
    ///   target under the other key slot (it was `stored` there when the re-send arrived, and the receive
    ///   could only drop its spool copies); that object is deleted, then the row becomes `stored`, so the
    ///   target holds only the object the row's sha256 describes. A failed delete fails the attempt, which
    ///   is retried;
    /// - a later receive superseded it during the upload: what this forward wrote is deleted again unless
    ///   the row now names the same key (then the later receive's own forward writes it).
    struct Finishing: Sendable {
        let row: InstanceRecord
        let stored: StoredObject
        let store: any ObjectStore
        let key: String
        let metadataKey: String?
        let queue: any ForwardQueue & IngestRecorder
        let logger: Logger

        func run() async -> Result<Outcome, any Error> {
            do {
                let current = try await queue.instance(sopInstanceUID: row.sopInstanceUID)
                guard let current, current.storageState == .spooled, current.sha256 == row.sha256,
                      current.objectURI == row.objectURI
                else {
                    await dropSuperseded(current)
                    return .success(.superseded)
                }
                if current.receiveCount > 1 {
                    for written in [key] + (metadataKey.map { [$0] } ?? []) {
                        let sibling = ObjectSlotKey.sibling(of: written)
                        guard sibling != written else { continue }
                        try await store.delete(key: sibling)
                    }
                }
                guard try await queue.markStored(sopInstanceUID: row.sopInstanceUID, sha256: row.sha256, objectURI: row.objectURI,
                                                 storedBytes: stored.storedLength, storedAt: Date())
                else {
                    // Not reachable while the lock holds the row still; kept as the queue's contract says.
                    return .success(.superseded)
                }
                return .success(.stored(stored))
            } catch {
                return .failure(error)
            }
        }

        private func dropSuperseded(_ current: InstanceRecord?) async {
            logger.info("spooled instance superseded by a later receive while forwarding")
            var stale = current?.objectURI == store.uri(for: key) ? [] : [key]
            if let metadataKey, current?.metadataURI != store.uri(for: metadataKey) { stale.append(metadataKey) }
            for staleKey in stale {
                do {
                    try await store.delete(key: staleKey)
                } catch {
                    logger.warning("could not delete the object of a superseded forward", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
