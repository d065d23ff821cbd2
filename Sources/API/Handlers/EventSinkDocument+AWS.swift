import Domain
import NIOHTTP1

/// The members of each sink kind, and the rules of the AWS kinds' shared members (`region`, `endpoint`) and of
/// `eventbridge` and `sns` (`healthimaging`'s own members: `HealthImagingSinkDocument`).
extension EventSinkDocument {
    /// The members that belong to one kind only; any other kind refuses them.
    static let kindMembers: [EventSinkKind: Set<String>] = [
        .webhook: ["url", "secret"],
        .eventbridge: ["eventBusName", "source", "region", "endpoint"],
        // An SNS topic is published to in its own region, which its ARN names.
        .sns: ["topicArn", "endpoint"],
        .healthimaging: HealthImagingSinkDocument.members.union(["region", "endpoint"]),
    ]

    /// A sink keeps its kind: its settings, secret and deliveries belong to that kind. PUT with another kind
    /// is a conflict with the stored sink; delete it and create the new one.
    static func kindChange(from current: EventSinkKind, to requested: EventSinkKind) -> Problem {
        Problem(.conflict, slug: "conflict", title: "Conflict",
                detail: "The kind of an event sink cannot change (\(current.rawValue) to \(requested.rawValue)); delete the sink and create a new one.",
                errors: [Problem.FieldError(field: "kind", message: "must stay \(current.rawValue), the kind of the stored sink")])
    }

    /// The issues of the kind-specific members: members of other kinds, then the AWS members' syntax, the
    /// region that must be resolvable and the endpoint the operator must allow. Each rule is one that
    /// openapi.yaml states (a pattern, a required member), except the region, which depends on the
    /// environment, and the endpoint allow-list, which the operator sets.
    static func kindIssues(kind: EventSinkKind, object: [String: JSONValue], settings: EventSinkSettings,
                           policy: AWSEventSinkPolicy) -> [Problem.FieldError] {
        var errors: [Problem.FieldError] = []
        func fail(_ field: String, _ message: String) { errors.append(.init(field: field, message: message)) }
        let own = kindMembers[kind] ?? []
        let foreign = kindMembers.values.reduce(into: Set<String>()) { $0.formUnion($1) }.subtracting(own)
        for key in object.keys.sorted() where foreign.contains(key) {
            fail(key, "must not be sent for a\(kind == .eventbridge ? "n" : "") \(kind.rawValue) sink")
        }
        guard kind != .webhook else { return errors }

        if let region = settings.region, !ListenerValidation.matches(region, AWSResourceName.regionPattern) {
            fail("region", "must be an AWS region: 1-32 lowercase letters, digits or hyphens")
        }
        if let endpoint = settings.endpoint {
            if !ListenerValidation.matches(endpoint, ListenerValidation.Pattern.endpoint) {
                fail("endpoint", "must be an absolute http or https URL of scheme, host and optional port")
            } else if !policy.admits(endpoint: endpoint) {
                fail("endpoint", "must be one of the AWS endpoints the operator allows (DICOM_INGEST_EVENTS_AWS_ENDPOINTS)")
            }
        }
        var arnRegion: String?
        switch kind {
        case .eventbridge:
            if let bus = settings.eventBusName {
                if !ListenerValidation.matches(bus, AWSResourceName.eventBusNamePattern) {
                    fail("eventBusName", "must be an event bus name (letters, digits, '.', '_', '/', '-') or an event bus ARN "
                        + "(arn:aws:events:<region>:<12-digit account>:event-bus/<name>), at most 256 characters")
                } else {
                    arnRegion = AWSResourceName.region(ofARN: bus)
                }
            }
            if let source = settings.source, !ListenerValidation.matches(source, AWSResourceName.eventSourcePattern) {
                fail("source", "must be 1-256 letters, digits, '.', '_', '/' or '-'")
            }
        case .sns:
            if object["topicArn"] == nil { fail("topicArn", "is required for an sns sink") }
            if let topic = settings.topicArn {
                if !ListenerValidation.matches(topic, AWSResourceName.topicARNPattern) {
                    fail("topicArn", "must be an SNS topic ARN: arn:aws[-a-z]*:sns:<region>:<12-digit account>:<topic name>")
                }
            }
        case .webhook, .healthimaging:
            break
        }
        if kind == .eventbridge, settings.region == nil, arnRegion == nil, policy.requiresRegion, policy.defaultRegion == nil {
            fail("region", "is required for an eventbridge sink: the service has no AWS_REGION and eventBusName is not an ARN")
        }
        return errors
    }
}
