extension IngestRecorder {
    /// A catalog that serves one process needs no lock of its own: the sink's in-process serializer
    /// already orders the receives of one SOP Instance UID.
    public func withInstanceLock<T: Sendable>(sopInstanceUID: String, _ body: @Sendable () async -> T) async throws -> T {
        await body()
    }

    /// The lock, then the read under it: two steps where the catalog has no single call for both.
    public func withInstanceLockReadingObjects<T: Sendable>(sopInstanceUID: String,
                                                            _ body: @Sendable (CommittedInstanceObjects?) async -> T) async throws -> T {
        let outcome: Result<T, any Error> = try await withInstanceLock(sopInstanceUID: sopInstanceUID) {
            let current: CommittedInstanceObjects?
            do {
                current = try await committedObjects(sopInstanceUID: sopInstanceUID)
            } catch {
                return .failure(error)
            }
            return .success(await body(current))
        }
        return try outcome.get()
    }
}
