public import AWS
public import AsyncHTTPClient
public import Domain
public import Logging

/// Builds the object store of a listener's storage target and keeps one per target identity
/// (backend, bucket, region, endpoint, root), so listeners sharing a bucket share its store.
public struct DefaultObjectStoreProvider: ObjectStoreProvider {
    private let httpClient: HTTPClient
    private let credentials: any AWSCredentialsProvider
    private let defaultRegion: String?
    private let defaultEndpoint: String?
    private let partSize: Int
    private let retry: S3RetryPolicy
    private let logger: Logger
    private let cache = StoreCache()

    /// - Parameters:
    ///   - defaultRegion: used when a target names none (then `us-east-1`).
    ///   - defaultEndpoint: custom S3 endpoint when a target names none, e.g.
    ///     `S3Configuration.endpoint(fromEnvironment:)` (`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`).
    public init(httpClient: HTTPClient, credentials: any AWSCredentialsProvider, defaultRegion: String?,
                defaultEndpoint: String?, logger: Logger, partSize: Int = S3Configuration.defaultPartSize,
                retry: S3RetryPolicy = S3RetryPolicy()) {
        self.httpClient = httpClient
        self.credentials = credentials
        self.defaultRegion = defaultRegion
        self.defaultEndpoint = defaultEndpoint
        self.partSize = partSize
        self.retry = retry
        self.logger = logger
    }

    public func objectStore(for target: StorageTarget) async throws -> any ObjectStore {
        let identity = identity(of: target)
        if let store = await cache.store(for: identity) { return store }
        let store: any ObjectStore
        switch target.backend {
        case .filesystem:
            guard let path = target.path, !path.isEmpty else {
                throw ObjectStoreError(.unavailable, detail: "filesystem storage target has no path")
            }
            store = FilesystemObjectStore(root: path)
        case .s3:
            guard let bucket = target.bucket, !bucket.isEmpty else {
                throw ObjectStoreError(.unavailable, detail: "s3 storage target has no bucket")
            }
            let configuration = S3Configuration(bucket: bucket, region: identity.region ?? "us-east-1",
                                                endpoint: identity.endpoint, partSize: partSize, retry: retry)
            store = try S3ObjectStore(configuration: configuration, credentials: credentials, httpClient: httpClient,
                                      logger: logger)
        }
        return await cache.insert(store, for: identity)
    }

    private func identity(of target: StorageTarget) -> StoreIdentity {
        switch target.backend {
        case .filesystem:
            return StoreIdentity(backend: .filesystem, bucket: nil, region: nil, endpoint: nil, path: target.path)
        case .s3:
            let region = nonEmpty(target.region) ?? nonEmpty(defaultRegion)
            return StoreIdentity(backend: .s3, bucket: target.bucket, region: region ?? "us-east-1",
                                 endpoint: nonEmpty(target.endpoint) ?? nonEmpty(defaultEndpoint), path: nil)
        }
    }

    private func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }
}

struct StoreIdentity: Hashable, Sendable {
    var backend: StorageBackend
    var bucket: String?
    var region: String?
    var endpoint: String?
    var path: String?
}

actor StoreCache {
    private var stores: [StoreIdentity: any ObjectStore] = [:]

    func store(for identity: StoreIdentity) -> (any ObjectStore)? {
        stores[identity]
    }

    /// Keeps the first store inserted for an identity and returns it.
    func insert(_ store: any ObjectStore, for identity: StoreIdentity) -> any ObjectStore {
        if let existing = stores[identity] { return existing }
        stores[identity] = store
        return store
    }
}
