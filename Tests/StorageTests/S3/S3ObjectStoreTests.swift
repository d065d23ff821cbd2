@testable import AWS
import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing

@testable import Storage

/// Against the real moto S3 emulator with signature checking on; objects are read back with boto3.
/// Keys here avoid `+`, `=` and non-ASCII: moto's signature check decodes those before canonicalising
/// and refuses even boto3's own requests for them. Our encoding of such keys is proven equal to
/// botocore's by the SigV4 vectors (SigV4SignerTests).
@Suite(.serialized) struct S3ObjectStoreTests {
    static let mib = 1024 * 1024

    @Test func objectsRoundTripAtEverySizeBoundary() async throws {
        let env = try S3TestEnvironment.load()
        let store = try env.store(partSize: 5 * Self.mib)
        let prefix = S3TestEnvironment.uniquePrefix("roundtrip")
        let sizes = [0, 1, 5 * Self.mib - 1, 5 * Self.mib, 5 * Self.mib + 1]
        var expected: [String: (sha: String, length: Int, gzip: Bool)] = [:]
        for size in sizes {
            for gzip in [false, true] {
                let key = "\(prefix)/size \(size)\(gzip ? ".gz" : "")~x.dcm"
                let options = ObjectPutOptions(contentType: ObjectPutOptions.dicomContentType, gzipLevel: gzip ? 1 : nil)
                let upload = try await store.beginUpload(key: key, options: options)
                let sha = try await TestData(total: size).forEachChunk { try await upload.write($0) }
                let stored = try await upload.finish()
                #expect(stored.contentLength == Int64(size))
                #expect(stored.uri == "s3://\(env.bucket)/\(key)")
                expected[key] = (sha, size, gzip)
            }
        }
        // put() of a small body is one call.
        let putKey = "\(prefix)/put.json"
        let json = ByteBuffer(string: "{\"00080018\":{\"vr\":\"UI\"}}")
        let stored = try await store.put(key: putKey, body: json, options: ObjectPutOptions(contentType: ObjectPutOptions.dicomJSONContentType))
        #expect(stored.storedLength == Int64(json.readableBytes))

        let inspection = try env.inspect(keys: Array(expected.keys) + [putKey])
        #expect(inspection.missing.isEmpty)
        for (key, want) in expected {
            let got = try #require(inspection.objects[key], "\(key) missing")
            #expect(got.sha256 == want.sha, "\(key)")
            #expect(got.length == want.length, "\(key)")
            #expect(got.contentType == ObjectPutOptions.dicomContentType)
            #expect(got.contentEncoding == (want.gzip ? "gzip" : nil), "\(key)")
            // Multipart ETags end in -<parts>: only bodies above the 5 MiB threshold are multipart.
            let storedSize = want.gzip ? got.storedLength : want.length
            #expect(got.eTag.contains("-") == (storedSize > 5 * Self.mib), "\(key): \(got.eTag) stored \(storedSize)")
        }
        #expect(inspection.objects[putKey]?.contentType == ObjectPutOptions.dicomJSONContentType)
        #expect(inspection.objects[putKey]?.length == json.readableBytes)
    }

    @Test func storageClassAndEncryptionHeadersReachS3() async throws {
        let env = try S3TestEnvironment.load()
        let store = try env.store()
        let key = S3TestEnvironment.uniquePrefix("headers") + "/a.dcm"
        _ = try await store.put(key: key, body: ByteBuffer(string: "DICM"), options: ObjectPutOptions(
            contentType: ObjectPutOptions.dicomContentType, storageClass: "STANDARD_IA", serverSideEncryption: .aes256))
        let info = try #require(try env.inspect(keys: [key]).objects[key])
        #expect(info.storageClass == "STANDARD_IA")
        #expect(info.serverSideEncryption == "AES256")
    }

    @Test func abortAfterTwoPartsLeavesNoMultipartUpload() async throws {
        let env = try S3TestEnvironment.load()
        let store = try env.store(partSize: 5 * Self.mib)
        let prefix = S3TestEnvironment.uniquePrefix("abort")
        let key = prefix + "/half.dcm"
        let upload = try await store.beginUpload(key: key, options: ObjectPutOptions(contentType: "application/dicom"))
        // 2 full parts handed off plus bytes of a third: part 1 uploaded, part 2 in flight.
        _ = try await TestData(total: 10 * Self.mib + 100).forEachChunk { try await upload.write($0) }
        let during = try env.inspect(keys: [], uploadsPrefix: prefix)
        #expect(during.uploads == [key], "the multipart upload exists while the stream runs")
        await upload.abort()
        let after = try env.inspect(keys: [key], uploadsPrefix: prefix)
        #expect(after.uploads == [])
        #expect(after.missing == [key])
        await #expect(throws: ObjectStoreError.self) { try await upload.write(ByteBuffer(string: "late")) }
    }

    @Test func aFailingSourceStreamAbortsTheUpload() async throws {
        let env = try S3TestEnvironment.load()
        let store = try env.store(partSize: 5 * Self.mib)
        let prefix = S3TestEnvironment.uniquePrefix("cancel")
        let key = prefix + "/cancelled.dcm"
        struct SourceFailed: Error {}
        let upload = try await store.beginUpload(key: key, options: ObjectPutOptions(contentType: "application/dicom"))
        // The producer's task is cancelled half-way: the upload sees it on the next write and aborts itself.
        let task = upload.writeCancellingItself(total: 20 * Self.mib, cancelAfter: 11 * Self.mib)
        await #expect(throws: CancellationError.self) { try await task.value }
        let after = try env.inspect(keys: [key], uploadsPrefix: prefix)
        #expect(after.uploads == [])
        #expect(after.missing == [key])
    }

    @Test func wrongSecretIsRefusedByTheEmulator() async throws {
        let env = try S3TestEnvironment.load()
        let store = try env.store(secret: "not-the-secret")
        let key = S3TestEnvironment.uniquePrefix("auth") + "/x.dcm"
        let error = await #expect(throws: ObjectStoreError.self) {
            _ = try await store.put(key: key, body: ByteBuffer(string: "x"), options: ObjectPutOptions(contentType: "application/dicom"))
        }
        #expect(error?.code == .unauthorized)
        #expect(error?.detail.contains("PutObject") == true)
        #expect(error?.detail.contains("403") == true)
        // The same request with the right secret is accepted.
        _ = try await env.store().put(key: key, body: ByteBuffer(string: "x"), options: ObjectPutOptions(contentType: "application/dicom"))
    }

    /// moto 5 answers 500 to any query-signed (presigned) request once IAM auth is on (it reads only the
    /// Authorization header), so a live GET cannot judge the URL here. Instead botocore re-signs the same
    /// request (same credentials, date and expiry, taken from our URL) and must produce the same URL.
    @Test func presignedGetURLEqualsBotocoresForTheLiveCredentials() async throws {
        let env = try S3TestEnvironment.load()
        let store = try env.store()
        let key = S3TestEnvironment.uniquePrefix("presign") + "/a b+c~ü=.dcm"
        let url = try await store.presignedGetURL(key: key, expires: .seconds(300))
        #expect(url.hasPrefix(env.endpoint + "/" + env.bucket + "/tests/presign/"))
        #expect(url.contains("X-Amz-Expires=300&"))
        let botocoreURL = String(decoding: try env.runPython(Self.presignScript, arguments: [url]), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(url == botocoreURL)
    }

    static let presignScript = #"""
import datetime, os, sys
from unittest import mock
from urllib.parse import urlsplit, parse_qs
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
url = sys.argv[1]
parts = urlsplit(url)
q = parse_qs(parts.query)
now = datetime.datetime.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")
auth = botocore.auth.S3SigV4QueryAuth(
    Credentials(os.environ["TEST_S3_ACCESS_KEY_ID"], os.environ["TEST_S3_SECRET_ACCESS_KEY"]),
    "s3", os.environ["TEST_S3_REGION"], expires=int(q["X-Amz-Expires"][0]))
req = AWSRequest(method="GET", url=f"{parts.scheme}://{parts.netloc}{parts.path}", headers={})
with mock.patch("botocore.auth.get_current_datetime", return_value=now):
    auth.add_auth(req)
print(req.url)
"""#

    @Test func deleteCheckAndKeyValidation() async throws {
        let env = try S3TestEnvironment.load()
        let store = try env.store()
        try await store.check()
        let key = S3TestEnvironment.uniquePrefix("delete") + "/gone.dcm"
        _ = try await store.put(key: key, body: ByteBuffer(string: "x"), options: ObjectPutOptions(contentType: "application/dicom"))
        try await store.delete(key: key)
        #expect(try env.inspect(keys: [key]).missing == [key])
        for bad in ["", "/abs", "a/../b", "a//b", "a\\b", "nul\u{0}", "./a", "a/"] {
            let error = await #expect(throws: ObjectStoreError.self) {
                _ = try await store.beginUpload(key: bad, options: ObjectPutOptions(contentType: "x"))
            }
            #expect(error?.code == .invalidKey, "\(bad.debugDescription)")
        }
        let missingBucket = try S3ObjectStore(
            configuration: S3Configuration(bucket: "no-such-bucket-\(UInt32.random(in: 0...UInt32.max))", region: env.region,
                                           endpoint: env.endpoint),
            credentials: StaticCredentialsProvider(env.credentials), httpClient: .shared, logger: Logger(label: "t"))
        let error = await #expect(throws: ObjectStoreError.self) { try await missingBucket.check() }
        #expect(error?.code == .notFound)
    }
}
