extension IngestRecorder {
    /// A catalog that serves one process needs no lock of its own: the sink's in-process serializer
    /// already orders the receives of one SOP Instance UID.
    public func withInstanceLock<T: Sendable>(sopInstanceUID: String, _ body: @Sendable () async -> T) async throws -> T {
        await body()
    }
}
