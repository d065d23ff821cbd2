public import AWS
public import AsyncHTTPClient
public import Domain
import Foundation
public import Logging
public import Metrics
public import NIOCore
import NIOHTTP1

/// An S3 bucket (AWS or an S3-compatible endpoint) as an `ObjectStore`: our own SigV4 client on
/// AsyncHTTPClient. Small objects are one `PutObject`; larger ones a multipart upload with at most two
/// parts in memory (one uploading, one filling).
public final class S3ObjectStore: ObjectStore {
    public let configuration: S3Configuration
    let transport: S3Transport
    let logger: Logger

    /// - Parameter metricsFactory: where `s3_requests_total` / `s3_retries_total` go; nil means the
    ///   global `MetricsSystem` factory.
    public init(configuration: S3Configuration, credentials: any AWSCredentialsProvider, httpClient: HTTPClient,
                logger: Logger, metricsFactory: (any MetricsFactory)? = nil) throws {
        self.configuration = configuration
        self.logger = logger
        self.transport = try S3Transport(configuration: configuration, credentials: credentials,
                                         httpClient: httpClient, logger: logger, metricsFactory: metricsFactory)
    }

    /// `s3://bucket/key`.
    public func uri(for key: String) -> String {
        "s3://\(configuration.bucket)/\(key)"
    }

    public func beginUpload(key: String, options: ObjectPutOptions) async throws -> any ObjectUpload {
        try ObjectKey.validate(key)
        return try S3Upload(store: self, key: key, options: options)
    }

    public func put(key: String, body: ByteBuffer, options: ObjectPutOptions) async throws -> StoredObject {
        let upload = try await beginUpload(key: key, options: options)
        try await upload.write(body)
        return try await upload.finish()
    }

    public func delete(key: String) async throws {
        try ObjectKey.validate(key)
        _ = try await transport.execute(S3Request(operation: "DeleteObject", method: .DELETE, key: key), cleanup: true)
    }

    /// `HeadBucket`: the bucket exists and our credentials are accepted.
    public func check() async throws {
        _ = try await transport.execute(S3Request(operation: "HeadBucket", method: .HEAD, key: nil))
    }

    /// A URL anyone can GET for `expires` (1 s … 7 days), signed with the current credentials.
    /// With temporary credentials the URL stops working when they expire, whatever `expires` says.
    public func presignedGetURL(key: String, expires: Duration) async throws -> String {
        try ObjectKey.validate(key)
        let credentials = try await transport.credentialsProvider.credentials()
        return transport.presignedURL(method: "GET", key: key, expires: expires, credentials: credentials, date: Date())
    }

    // MARK: - Operations used by uploads

    /// Headers describing the object (PutObject and CreateMultipartUpload).
    func objectHeaders(_ options: ObjectPutOptions) -> [(String, String)] {
        var headers: [(String, String)] = [("content-type", options.contentType)]
        if options.gzipLevel != nil {
            headers.append(("content-encoding", "gzip"))
        }
        if let storageClass = options.storageClass, !storageClass.isEmpty {
            headers.append(("x-amz-storage-class", storageClass))
        }
        if let sse = options.serverSideEncryption {
            headers.append(("x-amz-server-side-encryption", sse.rawValue))
            if sse == .kms, let kmsKeyID = options.kmsKeyID, !kmsKeyID.isEmpty {
                headers.append(("x-amz-server-side-encryption-aws-kms-key-id", kmsKeyID))
            }
        }
        return headers
    }

    func putObject(key: String, body: ByteBuffer, options: ObjectPutOptions) async throws {
        _ = try await transport.execute(S3Request(operation: "PutObject", method: .PUT, key: key,
                                                  headers: objectHeaders(options), body: body))
    }

    func createMultipartUpload(key: String, options: ObjectPutOptions) async throws -> String {
        let response = try await transport.execute(S3Request(
            operation: "CreateMultipartUpload", method: .POST, key: key, query: [("uploads", "")],
            headers: objectHeaders(options)))
        guard let uploadID = AWSXML.value(of: "UploadId", in: response.bodyText), !uploadID.isEmpty else {
            throw ObjectStoreError(.unavailable, detail: "CreateMultipartUpload: response has no UploadId")
        }
        return uploadID
    }

    /// Starts one part upload now; the future carries its ETag.
    func uploadPart(key: String, uploadID: String, partNumber: Int, body: ByteBuffer,
                    credentials: AWSCredentials, cancellation: RetryCancellation) -> EventLoopFuture<CompletedPart> {
        let request = S3Request(operation: "UploadPart", method: .PUT, key: key,
                                query: [("partNumber", String(partNumber)), ("uploadId", uploadID)], body: body)
        return transport.execute(request, credentials: credentials, cancellation: cancellation).flatMapThrowing { response in
            guard let etag = response.headers.first(name: "etag"), !etag.isEmpty else {
                throw ObjectStoreError(.unavailable, detail: "UploadPart \(partNumber): response has no ETag")
            }
            return CompletedPart(number: partNumber, etag: etag)
        }
    }

    func completeMultipartUpload(key: String, uploadID: String, parts: [CompletedPart]) async throws {
        var xml = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        for part in parts.sorted(by: { $0.number < $1.number }) {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\(AWSXML.escape(part.etag))</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        _ = try await transport.execute(S3Request(
            operation: "CompleteMultipartUpload", method: .POST, key: key, query: [("uploadId", uploadID)],
            headers: [("content-type", "application/xml")], body: ByteBuffer(string: xml)))
    }

    func abortMultipartUpload(key: String, uploadID: String) async throws {
        do {
            _ = try await transport.execute(S3Request(
                operation: "AbortMultipartUpload", method: .DELETE, key: key, query: [("uploadId", uploadID)]), cleanup: true)
        } catch let error as ObjectStoreError where error.code == .notFound {
            // NoSuchUpload: already gone.
        }
    }
}

struct CompletedPart: Sendable {
    var number: Int
    var etag: String
}
