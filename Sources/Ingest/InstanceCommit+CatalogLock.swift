import Domain
import Logging

extension InstanceCommit {
    /// `run(current:)` while the catalog holds the instance's SOP Instance UID, so that a receive of the same
    /// instance on another node sharing the catalog cannot interleave with this one's slot check, object
    /// writes and row switch. The sink's in-process serializer still orders the receives of this node
    /// (and of objects whose keys coincide) before they ask the catalog.
    func runHoldingCatalogLock() async -> Result<InstanceRecord, StoreFailure> {
        do {
            return try await sink.recorder.withInstanceLockReadingObjects(sopInstanceUID: record.sopInstanceUID) { current in
                await run(current: current)
            }
        } catch {
            // The lock was not granted or the row not read under it, so nothing was written: the sender may retry.
            await upload.abort()
            logger.warning("catalog instance lock or read under it failed", metadata: ["error": "\(error)"])
            return .failure(StoreFailure(.outOfResources("Catalog unavailable")))
        }
    }
}
