public import AWS
public import Domain
public import Foundation

/// Publishes the CloudEvent to an SNS topic: `Publish` (query protocol, a form-encoded POST) with the
/// CloudEvents JSON as `Message` and three String message attributes for subscription filter policies:
/// `type` (the CloudEvents type), `subject` (the Study Instance UID) and `id` (the CloudEvents id). For a
/// FIFO topic (`.fifo`) the study is the `MessageGroupId` and the event id the `MessageDeduplicationId`,
/// so a retried attempt inside SNS's five-minute window is not delivered twice. The region is the topic's.
public struct SNSTransport: EventTransport {
    public static let apiVersion = "2010-03-31"
    public static let contentType = "application/x-www-form-urlencoded; charset=utf-8"
    /// Publish: message and attributes are at most 256 KiB.
    public static let maxMessageBytes = 256 * 1024

    let client: AWSServiceClient

    public init(client: AWSServiceClient) {
        self.client = client
    }

    public func deliver(_ delivery: ClaimedDelivery) async throws {
        let settings = delivery.sink.settings
        guard let topicARN = settings.topicArn else { throw DeliveryError("sns: the sink has no topicArn") }
        let region = try client.region(settings: settings, arn: topicARN)
        let endpoint = client.endpoint(settings: settings, serviceID: "SNS", endpointPrefix: "sns", region: region)
        let credentials = try await client.currentCredentials()
        let request = try Self.request(topicARN: topicARN, eventID: delivery.eventID.uuidString.lowercased(), eventType: delivery.eventType,
                                       subject: delivery.subject, event: delivery.body, endpoint: endpoint, region: region,
                                       credentials: credentials, date: Date())
        let response = try await client.send(request, operation: "Publish")
        guard (200..<300).contains(response.status) else {
            let code = AWSErrorCode.xml(response).map { " \($0)" } ?? ""
            throw DeliveryError("sns Publish: HTTP \(response.status)\(code)")
        }
    }

    /// The Publish parameters in the order botocore serializes them.
    public static func parameters(topicARN: String, eventID: String, eventType: String, subject: String, event: String) -> [(String, String)] {
        var parameters: [(String, String)] = [
            ("Action", "Publish"), ("Version", apiVersion), ("TopicArn", topicARN), ("Message", event),
        ]
        for (index, (name, value)) in [("type", eventType), ("subject", subject), ("id", eventID)].enumerated() {
            let prefix = "MessageAttributes.entry.\(index + 1)"
            parameters += [("\(prefix).Name", name), ("\(prefix).Value.DataType", "String"), ("\(prefix).Value.StringValue", value)]
        }
        if topicARN.hasSuffix(".fifo") {
            parameters += [("MessageGroupId", subject), ("MessageDeduplicationId", eventID)]
        }
        return parameters
    }

    /// `name=value&…`, each percent-encoded with only `A-Za-z0-9-_.~` left as is (botocore's
    /// `percent_encode_sequence`), in the given order.
    public static func formBody(_ parameters: [(String, String)]) -> String {
        parameters.map { SigV4Signer.uriEncode($0.0, keepSlash: false) + "=" + SigV4Signer.uriEncode($0.1, keepSlash: false) }
            .joined(separator: "&")
    }

    /// The signed Publish request for one event.
    public static func request(topicARN: String, eventID: String, eventType: String, subject: String, event: String, endpoint: String,
                               region: String, credentials: AWSCredentials, date: Date) throws -> AWSServiceRequest {
        let messageBytes = event.utf8.count + "type".utf8.count + eventType.utf8.count + "subject".utf8.count + subject.utf8.count
            + "id".utf8.count + eventID.utf8.count + 3 * "String".utf8.count
        guard messageBytes <= maxMessageBytes else {
            throw DeliveryError("sns: the event is \(messageBytes) bytes, above the 256 KiB Publish limit")
        }
        return try AWSServiceRequest.make(
            endpoint: endpoint, region: region, service: "sns", headers: [("Content-Type", contentType)],
            body: formBody(parameters(topicARN: topicARN, eventID: eventID, eventType: eventType, subject: subject, event: event)),
            credentials: credentials, date: date)
    }
}
