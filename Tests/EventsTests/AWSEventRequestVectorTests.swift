import AWS
import Domain
@testable import Events
import Foundation
import Testing

/// Requests computed by botocore (scripts/aws_event_vectors.py → Fixtures/aws-events/vectors.json): its
/// serializers build the PutEvents / Publish body from the services' models and SigV4Auth signs it.
struct AWSEventVectors: Decodable {
    enum CodingKeys: String, CodingKey { case accessKeyID = "accessKeyId", secretAccessKey, putEvents, publish }

    struct Signed: Decodable {
        var body: String
        var canonicalRequest: String
        var stringToSign: String
        var signature: String
        var authorization: String
        var headers: [[String]]
    }

    struct PutEvents: Decodable, CustomTestStringConvertible {
        var name: String
        var endpoint: String
        var region: String
        var eventBusName: String?
        var source: String?
        var eventType: String
        var event: String
        var sessionToken: String?
        var body: String
        var canonicalRequest: String
        var stringToSign: String
        var signature: String
        var authorization: String
        var headers: [[String]]
        var testDescription: String { name }
    }

    struct Publish: Decodable, CustomTestStringConvertible {
        var name: String
        var endpoint: String
        var region: String
        var topicArn: String
        var eventType: String
        var eventId: String
        var subject: String
        var event: String
        var sessionToken: String?
        var body: String
        var canonicalRequest: String
        var stringToSign: String
        var signature: String
        var authorization: String
        var headers: [[String]]
        var testDescription: String { name }
    }

    var accessKeyID: String
    var secretAccessKey: String
    var putEvents: [PutEvents]
    var publish: [Publish]

    static let loaded: AWSEventVectors = {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/aws-events/vectors.json")
        do {
            return try JSONDecoder().decode(AWSEventVectors.self, from: Data(contentsOf: path))
        } catch {
            fatalError("cannot read \(path.path) (run scripts/aws_event_vectors.py): \(error)")
        }
    }()

    /// 2026-11-29T12:00:00Z, the generator's fixed time.
    static let date = Date(timeIntervalSince1970: 1_795_953_600)

    func credentials(token: String?) -> AWSCredentials {
        AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secretAccessKey, sessionToken: token)
    }
}

@Suite struct AWSEventRequestVectorTests {
    @Test func fixedDateIsTheGeneratorsTimestamp() {
        #expect(SigV4Signer.amzDate(AWSEventVectors.date) == "20261129T120000Z")
    }

    @Test(arguments: AWSEventVectors.loaded.putEvents)
    func putEventsRequestEqualsBotocores(_ vector: AWSEventVectors.PutEvents) throws {
        let settings = EventSinkSettings(eventBusName: vector.eventBusName, source: vector.source, region: vector.region,
                                         endpoint: vector.endpoint)
        let request = try EventBridgeTransport.request(
            eventType: vector.eventType, event: vector.event, settings: settings, endpoint: vector.endpoint, region: vector.region,
            credentials: AWSEventVectors.loaded.credentials(token: vector.sessionToken), date: AWSEventVectors.date)
        #expect(request.body == vector.body)
        #expect(request.signed.canonicalRequest == vector.canonicalRequest)
        #expect(request.signed.stringToSign == vector.stringToSign)
        #expect(request.signed.signature == vector.signature)
        #expect(request.signed.authorization == vector.authorization)
        #expect(request.headers.map { [$0.0, $0.1] }.sorted { $0[0] < $1[0] } == vector.headers)
        #expect(request.url == vector.endpoint + "/")
    }

    @Test(arguments: AWSEventVectors.loaded.publish)
    func publishRequestEqualsBotocores(_ vector: AWSEventVectors.Publish) throws {
        let request = try SNSTransport.request(
            topicARN: vector.topicArn, eventID: vector.eventId, eventType: vector.eventType, subject: vector.subject,
            event: vector.event, endpoint: vector.endpoint, region: vector.region,
            credentials: AWSEventVectors.loaded.credentials(token: vector.sessionToken), date: AWSEventVectors.date)
        #expect(request.body == vector.body)
        #expect(request.signed.canonicalRequest == vector.canonicalRequest)
        #expect(request.signed.stringToSign == vector.stringToSign)
        #expect(request.signed.signature == vector.signature)
        #expect(request.signed.authorization == vector.authorization)
        #expect(request.headers.map { [$0.0, $0.1] }.sorted { $0[0] < $1[0] } == vector.headers)
    }

    @Test func defaultPortIsLeftOutOfTheHostAsBotocoreDoes() throws {
        let credentials = AWSEventVectors.loaded.credentials(token: nil)
        let explicit = try EventBridgeTransport.request(
            eventType: "t", event: "{}", settings: EventSinkSettings(), endpoint: "https://events.eu-west-1.amazonaws.com:443/",
            region: "eu-west-1", credentials: credentials, date: AWSEventVectors.date)
        #expect(explicit.url == "https://events.eu-west-1.amazonaws.com/")
        #expect(explicit.headers.contains { $0.0 == "host" && $0.1 == "events.eu-west-1.amazonaws.com" })
        #expect(!explicit.headers.contains { $0.0 == "x-amz-content-sha256" })
    }

    @Test func anEventAboveTheEntryLimitIsRefusedBeforeSending() {
        let big = "{\"a\":\"" + String(repeating: "x", count: EventBridgeTransport.maxEntryBytes) + "\"}"
        #expect(throws: DeliveryError.self) {
            try EventBridgeTransport.request(eventType: "t", event: big, settings: EventSinkSettings(), endpoint: "http://127.0.0.1:1",
                                             region: "us-east-1", credentials: AWSEventVectors.loaded.credentials(token: nil),
                                             date: AWSEventVectors.date)
        }
        #expect(throws: DeliveryError.self) {
            try SNSTransport.request(topicARN: "arn:aws:sns:us-east-1:123456789012:t", eventID: "e", eventType: "t", subject: "1.2",
                                     event: big, endpoint: "http://127.0.0.1:1", region: "us-east-1",
                                     credentials: AWSEventVectors.loaded.credentials(token: nil), date: AWSEventVectors.date)
        }
    }
}

/// What PutEvents and Publish answers mean, on the documented answer shapes.
@Suite struct AWSEventAnswerTests {
    func response(_ status: Int, _ body: String, headers: [(String, String)] = []) -> AWSServiceRequest.Response {
        AWSServiceRequest.Response(status: status, headers: headers, body: body)
    }

    @Test func putEventsAcceptedEntryIsDelivery() throws {
        try EventBridgeTransport.check(response(200, #"{"FailedEntryCount":0,"Entries":[{"EventId":"11710aed-b79e-4468-a20b-bb3c0c3b4860"}]}"#))
    }

    @Test func putEventsFailedEntryIsAFailedAttemptNamingTheErrorCode() {
        let answer = #"{"FailedEntryCount":1,"Entries":[{"ErrorCode":"InternalFailure","ErrorMessage":"Patient DOE^JOHN"}]}"#
        #expect {
            try EventBridgeTransport.check(response(200, answer))
        } throws: { error in
            let detail = (error as? DeliveryError)?.detail ?? ""
            return detail == "eventbridge PutEvents entry failed: InternalFailure" && !detail.contains("DOE")
        }
    }

    @Test func putEventsFailedCountWithoutCodeIsAFailedAttempt() {
        #expect(throws: DeliveryError("eventbridge PutEvents: FailedEntryCount 1")) {
            try EventBridgeTransport.check(response(200, #"{"FailedEntryCount":1,"Entries":[{}]}"#))
        }
    }

    @Test func putEventsErrorAnswerNamesTheTypeWithoutNamespaceOrMessage() {
        #expect(throws: DeliveryError("eventbridge PutEvents: HTTP 400 ResourceNotFoundException")) {
            try EventBridgeTransport.check(response(400, #"{"__type":"com.amazon.coral#ResourceNotFoundException","message":"Event bus x does not exist."}"#))
        }
        #expect(throws: DeliveryError("eventbridge PutEvents: HTTP 403 AccessDeniedException")) {
            try EventBridgeTransport.check(response(403, "", headers: [("x-amzn-ErrorType", "AccessDeniedException:http://internal.amazon.com/")]))
        }
        #expect(throws: DeliveryError("eventbridge PutEvents: HTTP 503")) {
            try EventBridgeTransport.check(response(503, "<html>busy</html>"))
        }
    }

    @Test func putEventsAnswerWithoutEventIdIsNotDelivery() {
        #expect(throws: DeliveryError.self) { try EventBridgeTransport.check(response(200, "{}")) }
        #expect(throws: DeliveryError.self) { try EventBridgeTransport.check(response(200, "not json")) }
    }

    @Test func snsErrorCodeIsReadFromTheQueryProtocolErrorDocument() {
        let body = "<ErrorResponse><Error><Type>Sender</Type><Code>NotFound</Code><Message>Topic does not exist</Message></Error></ErrorResponse>"
        #expect(AWSErrorCode.xml(response(404, body)) == "NotFound")
        #expect(AWSErrorCode.xml(response(500, "")) == nil)
    }

    @Test func errorCodesKeepOnlyCodeCharacters() {
        #expect(AWSErrorCode.sanitized("Bad<script>Code \"x\"") == "BadscriptCodex")
        #expect(AWSErrorCode.sanitized(String(repeating: "A", count: 500)).count == 128)
    }
}
