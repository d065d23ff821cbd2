import Domain
import Storage

/// Reads a small text object of any bucket through the S3 object store of that bucket (the service's
/// S3 endpoint, region and credentials): how the HealthImaging poller reads a job's failure manifest.
enum S3TextReader {
    static func read(bucket: String, key: String, stores: any ObjectStoreProvider) async throws -> String? {
        let store = try await stores.objectStore(for: StorageTarget(backend: .s3, bucket: bucket))
        guard let s3 = store as? S3ObjectStore else {
            throw ObjectStoreError(.unavailable, detail: "the output bucket is not served by an S3 object store")
        }
        return try await s3.readText(key: key)
    }
}
