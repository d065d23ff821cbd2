import AWS
public import Domain
import NIOHTTP1

extension S3ObjectStore: IncompleteUploadCleanup {
    public var singleRequestLimit: Int64 { Int64(configuration.singlePutThreshold) }

    /// `ListMultipartUploads`, then `AbortMultipartUpload` of each upload whose key is exactly `key`.
    /// The prefix is the key's first segment: S3-compatible servers such as moto refuse the signature of a
    /// `prefix` that contains `/` (botocore's requests fail there the same way). The first page (up to
    /// 1000 uploads under that segment) is read.
    public func abortIncompleteUploads(key: String) async throws -> Int {
        try ObjectKey.validate(key)
        let prefix = String(key.prefix { $0 != "/" })
        let response = try await transport.execute(S3Request(
            operation: "ListMultipartUploads", method: .GET, key: nil, query: [("prefix", prefix), ("uploads", "")]))
        var aborted = 0
        for upload in AWSXML.values(of: "Upload", in: response.bodyText) {
            guard AWSXML.value(of: "Key", in: upload) == key, let uploadID = AWSXML.value(of: "UploadId", in: upload),
                  !uploadID.isEmpty else { continue }
            try await abortMultipartUpload(key: key, uploadID: uploadID)
            aborted += 1
        }
        return aborted
    }
}
