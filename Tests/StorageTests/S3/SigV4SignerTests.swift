@testable import AWS
import AsyncHTTPClient
import Foundation
import Logging
import TestSupport
import Testing

@testable import Storage

/// Vectors computed by botocore (scripts/sigv4_vectors.py → Fixtures/sigv4/vectors.json).
struct SigV4Vectors: Decodable {
    enum CodingKeys: String, CodingKey { case timestamp, accessKeyID = "accessKeyId", secretAccessKey, requests, presigned }

    struct RequestVector: Decodable {
        var name: String
        var method: String
        var endpoint: String
        var bucket: String
        var key: String
        var addressing: String
        var region: String
        var sessionToken: String?
        var query: [[String]]
        var headers: [[String]]
        var bodySHA256: String
        var url: String
        var canonicalRequest: String
        var stringToSign: String
        var signature: String
        var authorization: String
    }

    struct PresignVector: Decodable {
        var name: String
        var endpoint: String
        var bucket: String
        var key: String
        var addressing: String
        var region: String
        var sessionToken: String?
        var expiresSeconds: Int
        var canonicalRequest: String
        var stringToSign: String
        var signature: String
        var url: String
    }

    var timestamp: String
    var accessKeyID: String
    var secretAccessKey: String
    var requests: [RequestVector]
    var presigned: [PresignVector]

    static func load() throws -> SigV4Vectors {
        let path = repositoryRoot.appendingPathComponent("Tests/StorageTests/Fixtures/sigv4/vectors.json")
        return try JSONDecoder().decode(SigV4Vectors.self, from: Data(contentsOf: path))
    }

    var date: Date {
        // 20261129T120000Z
        var components = DateComponents()
        components.year = 2026; components.month = 11; components.day = 29
        components.hour = 12; components.minute = 0; components.second = 0
        components.timeZone = TimeZone(identifier: "UTC")
        return Calendar(identifier: .gregorian).date(from: components)!
    }
}

extension SigV4Vectors.RequestVector: CustomTestStringConvertible {
    var testDescription: String { name }
}

extension SigV4Vectors.PresignVector: CustomTestStringConvertible {
    var testDescription: String { name }
}

@Suite struct SigV4SignerTests {
    static let vectors = try! SigV4Vectors.load()

    func transport(endpoint: String, bucket: String, addressing: String, region: String) throws -> S3Transport {
        // Our addressing for the vector's endpoint: path-style vectors use a custom endpoint; virtual-host
        // vectors use AWS's regional endpoint.
        let configuration = S3Configuration(bucket: bucket, region: region,
                                            endpoint: addressing == "path" ? endpoint : nil)
        return try S3Transport(configuration: configuration, credentials: StaticCredentialsProvider(
            AWSCredentials(accessKeyID: "x", secretAccessKey: "y")), httpClient: .shared, logger: .init(label: "test"))
    }

    @Test func vectorsCoverTheRequiredCases() {
        let keys = Self.vectors.requests.map(\.key)
        #expect(keys.contains { $0.contains(" ") })
        #expect(keys.contains { $0.contains("+") && $0.contains("~") && $0.contains("=") })
        #expect(keys.contains { $0.unicodeScalars.contains { !$0.isASCII } })
        #expect(Self.vectors.requests.contains { $0.query.contains { $0[0] == "uploadId" } })
        #expect(Self.vectors.requests.contains { $0.query.contains { $0[0] == "list-type" } })
        #expect(Self.vectors.requests.contains { $0.sessionToken != nil })
        #expect(Self.vectors.requests.count >= 10)
    }

    @Test(arguments: SigV4SignerTests.vectors.requests)
    func headerSignatureEqualsBotocore(_ vector: SigV4Vectors.RequestVector) throws {
        let t = try transport(endpoint: vector.endpoint, bucket: vector.bucket, addressing: vector.addressing,
                              region: vector.region)
        let location = t.location(key: vector.key.isEmpty ? nil : vector.key)
        let query = vector.query.map { ($0[0], $0[1]) }
        #expect(t.url(host: location.host, canonicalURI: location.canonicalURI, queryString: "")
                == vector.url.components(separatedBy: "?")[0])
        let signer = SigV4Signer(
            credentials: AWSCredentials(accessKeyID: Self.vectors.accessKeyID,
                                        secretAccessKey: Self.vectors.secretAccessKey,
                                        sessionToken: vector.sessionToken),
            region: vector.region)
        let signed = signer.sign(method: vector.method, canonicalURI: location.canonicalURI, query: query,
                                 host: location.host, headers: vector.headers.map { ($0[0], $0[1]) },
                                 payloadSHA256: vector.bodySHA256, date: Self.vectors.date)
        #expect(signed.canonicalRequest == vector.canonicalRequest)
        #expect(signed.stringToSign == vector.stringToSign)
        #expect(signed.signature == vector.signature)
        #expect(signed.authorization == vector.authorization)
    }

    @Test(arguments: SigV4SignerTests.vectors.presigned)
    func presignedURLEqualsBotocore(_ vector: SigV4Vectors.PresignVector) throws {
        let t = try transport(endpoint: vector.endpoint, bucket: vector.bucket, addressing: vector.addressing,
                              region: vector.region)
        let credentials = AWSCredentials(accessKeyID: Self.vectors.accessKeyID,
                                         secretAccessKey: Self.vectors.secretAccessKey,
                                         sessionToken: vector.sessionToken)
        let location = t.location(key: vector.key)
        let signer = SigV4Signer(credentials: credentials, region: vector.region)
        let presigned = signer.presign(method: "GET", canonicalURI: location.canonicalURI, query: [],
                                       host: location.host, expiresSeconds: vector.expiresSeconds,
                                       date: Self.vectors.date)
        #expect(presigned.canonicalRequest == vector.canonicalRequest)
        #expect(presigned.stringToSign == vector.stringToSign)
        #expect(presigned.signature == vector.signature)
        let url = t.presignedURL(method: "GET", key: vector.key, expires: .seconds(vector.expiresSeconds),
                                 credentials: credentials, date: Self.vectors.date)
        #expect(url.hasSuffix("&X-Amz-Signature=\(vector.signature)"))
        #expect(url.hasPrefix(vector.url.components(separatedBy: "?")[0] + "?"))
    }

    @Test func amzDateIsUTC() {
        #expect(SigV4Signer.amzDate(Date(timeIntervalSince1970: 0)) == "19700101T000000Z")
        #expect(SigV4Signer.amzDate(Self.vectors.date) == Self.vectors.timestamp)
    }
}
