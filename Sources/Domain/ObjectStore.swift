public import NIOCore

/// How an object is written. `gzipLevel` non-nil means: compress the body as it streams and store it
/// with `Content-Encoding: gzip`.
public struct ObjectPutOptions: Sendable, Hashable {
    public var contentType: String
    public var gzipLevel: Int?
    public var storageClass: String?
    public var serverSideEncryption: ServerSideEncryption?
    public var kmsKeyID: String?

    public init(contentType: String, gzipLevel: Int? = nil, storageClass: String? = nil,
                serverSideEncryption: ServerSideEncryption? = nil, kmsKeyID: String? = nil) {
        self.contentType = contentType
        self.gzipLevel = gzipLevel
        self.storageClass = storageClass
        self.serverSideEncryption = serverSideEncryption
        self.kmsKeyID = kmsKeyID
    }

    public static let dicomContentType = "application/dicom"
    public static let dicomJSONContentType = "application/dicom+json"
}

/// A completed object.
public struct StoredObject: Sendable, Hashable {
    public var key: String
    /// `s3://bucket/key` or `file:///absolute/path`.
    public var uri: String
    /// Bytes handed to the store (before compression).
    public var contentLength: Int64
    /// Bytes at rest (after compression).
    public var storedLength: Int64

    public init(key: String, uri: String, contentLength: Int64, storedLength: Int64) {
        self.key = key
        self.uri = uri
        self.contentLength = contentLength
        self.storedLength = storedLength
    }
}

public struct ObjectStoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// The key is not acceptable (`..`, absolute, NUL, empty segment, too long).
        case invalidKey
        /// The store refused or failed after retries; a later retry may succeed.
        case unavailable
        /// Credentials missing or refused.
        case unauthorized
        /// The upload was aborted or used after finish/abort.
        case aborted
        case notFound
    }
    public var code: Code
    /// Safe for logs: names the operation and status, never object contents.
    public var detail: String

    public init(_ code: Code, detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "ObjectStoreError(\(code)): \(detail)" }
}

/// A streaming write of one object. `write` suspends while the store is behind (backpressure), so the
/// caller's memory stays bounded whatever the object size. Exactly one of `finish` or `abort` ends it;
/// after `abort` nothing of the object remains (no temp file, no multipart upload).
public protocol ObjectUpload: Sendable {
    func write(_ chunk: ByteBuffer) async throws
    func finish() async throws -> StoredObject
    func abort() async
}

/// An upload whose object gets its name only when it is finished (a temp file renamed into place), so the
/// name can still change then: `finish(renamingTo:)` ends it as the object `key`, which must be in the
/// same folder as the key the upload began with. The C-STORE commit chooses an instance's key slot under
/// the catalog's lock this way, instead of reading the row once more before the upload starts.
public protocol RenamableUpload: ObjectUpload {
    func finish(renamingTo key: String) async throws -> StoredObject
}

/// One storage target: S3 bucket (+ endpoint, credentials) or a filesystem root. Keys are relative,
/// `/`-separated.
public protocol ObjectStore: Sendable {
    func beginUpload(key: String, options: ObjectPutOptions) async throws -> any ObjectUpload
    /// A small object in one call.
    func put(key: String, body: ByteBuffer, options: ObjectPutOptions) async throws -> StoredObject
    func delete(key: String) async throws
    /// The URI a completed object of `key` has (`StoredObject.uri`), without touching the store: the sink
    /// compares it with a catalog row to know whether a key is the one the row refers to.
    func uri(for key: String) -> String
    /// Readiness probe: the bucket or root answers and is writable as far as can be told cheaply.
    func check() async throws
    /// True when every upload this store begins is a `RenamableUpload` (its object is named when finished).
    var uploadsAreRenamable: Bool { get }
}

extension ObjectStore {
    public var uploadsAreRenamable: Bool { false }
}

/// Builds (and caches) the object store for a listener's storage target.
public protocol ObjectStoreProvider: Sendable {
    func objectStore(for target: StorageTarget) async throws -> any ObjectStore
}
