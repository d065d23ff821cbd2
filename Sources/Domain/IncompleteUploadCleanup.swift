/// An object store whose large objects are written as multipart uploads (S3): an upload cut off by a
/// crash (SIGKILL, power loss) leaves its parts behind, invisible and billed, until someone aborts it.
public protocol IncompleteUploadCleanup: Sendable {
    /// Objects of at most this many bytes are written in one request and never leave parts behind.
    var singleRequestLimit: Int64 { get }
    /// Aborts every incomplete multipart upload of exactly `key`; returns how many there were.
    /// Only the holder of the key's work may call it: it also ends an upload still in progress.
    func abortIncompleteUploads(key: String) async throws -> Int
}
