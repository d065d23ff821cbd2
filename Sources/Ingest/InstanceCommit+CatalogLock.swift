import Domain
import Logging

extension InstanceCommit {
    /// `run()` while the catalog holds the instance's SOP Instance UID, so that a receive of the same
    /// instance on another node sharing the catalog cannot interleave with this one's slot check, object
    /// writes and row switch. The sink's in-process serializer still orders the receives of this node
    /// (and of objects whose keys coincide) before they ask the catalog.
    func runHoldingCatalogLock() async -> Result<InstanceRecord, StoreFailure> {
        do {
            return try await sink.recorder.withInstanceLock(sopInstanceUID: record.sopInstanceUID) { await run() }
        } catch {
            // The lock was not granted, so nothing was written: the sender may retry.
            await upload.abort()
            logger.warning("catalog instance lock not granted", metadata: ["error": "\(error)"])
            return .failure(StoreFailure(.outOfResources("Catalog unavailable")))
        }
    }
}
