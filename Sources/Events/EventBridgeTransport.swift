public import AWS
public import Domain
public import Foundation

/// Puts the CloudEvent on an EventBridge bus: `PutEvents` (JSON 1.1 protocol, `X-Amz-Target:
/// AWSEvents.PutEvents`) with one entry whose `Source` is the sink's `source` (default `dicom-ingest`),
/// `DetailType` the CloudEvents `type`, `Detail` the CloudEvents JSON and `EventBusName` the sink's bus
/// (default `default`). Rules match on `source` and `detail-type`; the CloudEvent is the `detail`.
///
/// EventBridge answers 200 even when it refused the entry: `FailedEntryCount` and the entry's
/// `ErrorCode` say so, and such an answer is a failed attempt, retried like any other.
public struct EventBridgeTransport: EventTransport {
    public static let defaultSource = "dicom-ingest"
    public static let defaultEventBusName = "default"
    /// PutEvents: an entry (Source, DetailType, Detail, EventBusName) is at most 256 KiB.
    public static let maxEntryBytes = 256 * 1024
    public static let target = "AWSEvents.PutEvents"
    public static let contentType = "application/x-amz-json-1.1"

    let client: AWSServiceClient

    public init(client: AWSServiceClient) {
        self.client = client
    }

    public func deliver(_ delivery: ClaimedDelivery) async throws {
        let settings = delivery.sink.settings
        let region = try client.region(settings: settings, arn: settings.eventBusName)
        let endpoint = client.endpoint(settings: settings, serviceID: "EventBridge", endpointPrefix: "events", region: region)
        let credentials = try await client.currentCredentials()
        let request = try Self.request(eventType: delivery.eventType, event: delivery.body, settings: settings, endpoint: endpoint,
                                       region: region, credentials: credentials, date: Date())
        try Self.check(try await client.send(request, operation: "PutEvents"))
    }

    /// The PutEvents body as botocore writes it (`json.dumps` of the parameters in this order).
    public static func body(source: String, detailType: String, detail: String, eventBusName: String) -> String {
        "{\"Entries\": [{\"Source\": \(ASCIIJSON.quoted(source)), \"DetailType\": \(ASCIIJSON.quoted(detailType)), "
            + "\"Detail\": \(ASCIIJSON.quoted(detail)), \"EventBusName\": \(ASCIIJSON.quoted(eventBusName))}]}"
    }

    /// The signed PutEvents request for one event.
    public static func request(eventType: String, event: String, settings: EventSinkSettings, endpoint: String, region: String,
                               credentials: AWSCredentials, date: Date) throws -> AWSServiceRequest {
        let source = settings.source ?? defaultSource
        let bus = settings.eventBusName ?? defaultEventBusName
        let entryBytes = source.utf8.count + eventType.utf8.count + event.utf8.count + bus.utf8.count
        guard entryBytes <= maxEntryBytes else {
            throw DeliveryError("eventbridge: the event is \(entryBytes) bytes, above the 256 KiB PutEvents entry limit")
        }
        return try AWSServiceRequest.make(
            endpoint: endpoint, region: region, service: "events",
            headers: [("X-Amz-Target", target), ("Content-Type", contentType)],
            body: body(source: source, detailType: eventType, detail: event, eventBusName: bus),
            credentials: credentials, date: date)
    }

    /// Throws unless the answer is a 2xx whose entry was accepted.
    public static func check(_ response: AWSServiceRequest.Response) throws {
        guard (200..<300).contains(response.status) else {
            let code = AWSErrorCode.json(response).map { " \($0)" } ?? ""
            throw DeliveryError("eventbridge PutEvents: HTTP \(response.status)\(code)")
        }
        let object: [String: Any]
        do {
            guard let parsed = try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any] else {
                throw DeliveryError("eventbridge PutEvents: HTTP \(response.status) without a JSON object")
            }
            object = parsed
        } catch let error as DeliveryError {
            throw error
        } catch {
            throw DeliveryError("eventbridge PutEvents: HTTP \(response.status) with an unreadable answer")
        }
        let entries = object["Entries"] as? [[String: Any]] ?? []
        let failed = (object["FailedEntryCount"] as? NSNumber)?.intValue ?? 0
        if let code = entries.compactMap({ $0["ErrorCode"] as? String }).first {
            throw DeliveryError("eventbridge PutEvents entry failed: \(AWSErrorCode.sanitized(code))")
        }
        guard failed == 0 else { throw DeliveryError("eventbridge PutEvents: FailedEntryCount \(failed)") }
        guard entries.contains(where: { $0["EventId"] is String }) else {
            throw DeliveryError("eventbridge PutEvents: no EventId in the answer")
        }
    }
}

/// The error code of an AWS error answer, in a form safe to store: letters, digits, `.`, `_`, `-`, at
/// most 128 characters (never the message, which may echo the request).
enum AWSErrorCode {
    /// JSON protocols: the `x-amzn-ErrorType` header, else `__type` / `code` of the body; the part after
    /// `#` and before `:` (`com.amazon.coral.service#ResourceNotFoundException:http://…`).
    static func json(_ response: AWSServiceRequest.Response) -> String? {
        var raw = response.headers.first { $0.0.lowercased() == "x-amzn-errortype" }?.1
        if raw == nil, let data = response.body.data(using: .utf8) {
            do {
                if let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] {
                    raw = (object["__type"] as? String) ?? (object["code"] as? String) ?? (object["Code"] as? String)
                }
            } catch {
                raw = nil  // not JSON: the status alone describes the failure
            }
        }
        guard let text = raw else { return nil }
        var code = Substring(text)
        if let hash = code.lastIndex(of: "#") { code = code[code.index(after: hash)...] }
        if let colon = code.firstIndex(of: ":") { code = code[..<colon] }
        let clean = sanitized(String(code))
        return clean.isEmpty ? nil : clean
    }

    /// Query and REST-XML protocols: `<Error><Code>`.
    static func xml(_ response: AWSServiceRequest.Response) -> String? {
        AWSXML.value(of: "Code", in: response.body).map(sanitized).flatMap { $0.isEmpty ? nil : $0 }
    }

    static func sanitized(_ code: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in code.unicodeScalars where out.count < 128 {
            if (scalar >= "A" && scalar <= "Z") || (scalar >= "a" && scalar <= "z") || (scalar >= "0" && scalar <= "9")
                || scalar == "." || scalar == "_" || scalar == "-" {
                out.append(scalar)
            }
        }
        return String(out)
    }
}
