import AWS
import Events
import Foundation
import Testing

/// Requests botocore's own `medical-imaging` client sends (scripts/healthimaging_vectors.py →
/// Fixtures/healthimaging/vectors.json), rebuilt with `HealthImagingClient` from the same inputs.
struct HealthImagingVectors: Decodable {
    enum CodingKeys: String, CodingKey { case timestamp, accessKeyID = "accessKeyId", secretAccessKey, requests }

    struct Vector: Decodable, CustomTestStringConvertible {
        var name: String
        var operation: String
        var region: String
        var endpoint: String?
        var sessionToken: String?
        var parameters: [String: String]
        var method: String
        var url: String
        var body: String
        var signedHeaders: [String: String]
        var canonicalRequest: String
        var stringToSign: String
        var signature: String
        var authorization: String

        var testDescription: String { name }
    }

    var timestamp: String
    var accessKeyID: String
    var secretAccessKey: String
    var requests: [Vector]

    static func load() throws -> HealthImagingVectors {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/healthimaging/vectors.json")
        return try JSONDecoder().decode(HealthImagingVectors.self, from: Data(contentsOf: path))
    }

    /// 20261129T120000Z
    static let date = Date(timeIntervalSince1970: 1_795_953_600)
}

@Suite struct HealthImagingSigningTests {
    static let vectors: [HealthImagingVectors.Vector] = (try? HealthImagingVectors.load().requests) ?? []

    @Test func vectorsAreThere() throws {
        let loaded = try HealthImagingVectors.load()
        #expect(loaded.requests.count == 5)
        #expect(SigV4Signer.amzDate(HealthImagingVectors.date) == loaded.timestamp)
    }

    @Test(arguments: vectors)
    func requestEqualsBotocores(_ vector: HealthImagingVectors.Vector) throws {
        let keys = try HealthImagingVectors.load()
        let credentials = AWSCredentials(accessKeyID: keys.accessKeyID, secretAccessKey: keys.secretAccessKey,
                                         sessionToken: vector.sessionToken)
        let endpoint = HealthImagingClient.endpoint(configured: vector.endpoint, region: vector.region, environment: [:])
        let p = vector.parameters
        let request: AWSServiceRequest
        switch vector.operation {
        case "StartDICOMImportJob":
            let job = HealthImagingClient.StartJob(
                datastoreID: try #require(p["datastoreId"]), jobName: try #require(p["jobName"]),
                dataAccessRoleARN: try #require(p["dataAccessRoleArn"]), clientToken: try #require(p["clientToken"]),
                inputS3URI: try #require(p["inputS3Uri"]), outputS3URI: try #require(p["outputS3Uri"]),
                inputOwnerAccountID: p["inputOwnerAccountId"])
            request = try HealthImagingClient.startRequest(job, endpoint: endpoint, region: vector.region, credentials: credentials,
                                                           date: HealthImagingVectors.date)
        case "GetDICOMImportJob":
            request = try HealthImagingClient.getRequest(datastoreID: try #require(p["datastoreId"]), jobID: try #require(p["jobId"]),
                                                         endpoint: endpoint, region: vector.region, credentials: credentials,
                                                         date: HealthImagingVectors.date)
        default:
            Issue.record("unknown operation \(vector.operation)")
            return
        }
        #expect(request.method == vector.method)
        #expect(request.url == vector.url)
        #expect(request.body == vector.body)
        #expect(request.signed.canonicalRequest == vector.canonicalRequest)
        #expect(request.signed.stringToSign == vector.stringToSign)
        #expect(request.signed.signature == vector.signature)
        #expect(request.signed.authorization == vector.authorization)
        // Every header botocore signed is sent with the same value (host is set by the HTTP client).
        let sent = Dictionary(request.headers, uniquingKeysWith: { first, _ in first })
        for (name, value) in vector.signedHeaders {
            #expect(sent[name] == value, "header \(name)")
        }
        #expect(sent["x-amz-content-sha256"] == nil)
    }

    @Test func endpointComesFromTheSinkThenTheEnvironmentThenTheRegion() {
        let env = ["AWS_ENDPOINT_URL_MEDICAL_IMAGING": "http://127.0.0.1:9001/", "AWS_ENDPOINT_URL": "http://127.0.0.1:9002"]
        #expect(HealthImagingClient.endpoint(configured: "http://h:1", region: "eu-west-1", environment: env) == "http://h:1")
        #expect(HealthImagingClient.endpoint(configured: nil, region: "eu-west-1", environment: env) == "http://127.0.0.1:9001")
        #expect(HealthImagingClient.endpoint(configured: nil, region: "eu-west-1", environment: ["AWS_ENDPOINT_URL": "http://x:2"])
            == "http://x:2")
        #expect(HealthImagingClient.endpoint(configured: nil, region: "eu-west-1", environment: [:])
            == "https://medical-imaging.eu-west-1.amazonaws.com")
    }

    @Test func bodyEscapesLikePythonsJSONDumps() {
        let job = HealthImagingClient.StartJob(datastoreID: "d", jobName: "j", dataAccessRoleARN: "arn:\"q\"\\é",
                                               clientToken: "t", inputS3URI: "s3://b/ü/", outputS3URI: "s3://o/")
        // json.dumps({...}) with ensure_ascii=True, keys sorted.
        #expect(HealthImagingClient.body(of: job)
            == #"{"clientToken": "t", "dataAccessRoleArn": "arn:\"q\"\\\u00e9", "inputS3Uri": "s3://b/\u00fc/", "jobName": "j", "outputS3Uri": "s3://o/"}"#)
    }
}
