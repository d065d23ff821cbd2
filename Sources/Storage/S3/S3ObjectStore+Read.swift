import Domain
import NIOCore
import NIOHTTP1

extension S3ObjectStore {
    /// `GetObject` of a small text object (the output manifests AWS HealthImaging writes); nil when S3
    /// answers 404. A larger object than `maxBytes` is refused rather than held in memory.
    public func readText(key: String, maxBytes: Int = 16 * 1024 * 1024) async throws -> String? {
        try ObjectKey.validate(key)
        let response: S3Response
        do {
            response = try await transport.execute(S3Request(operation: "GetObject", method: .GET, key: key))
        } catch let error as ObjectStoreError where error.code == .notFound {
            return nil
        }
        guard let body = response.body else { return "" }
        guard body.readableBytes <= maxBytes else {
            throw ObjectStoreError(.unavailable, detail: "GetObject: object larger than \(maxBytes) bytes")
        }
        return String(buffer: body)
    }
}
