/// What the operator lets the AWS event sinks (`eventbridge`, `sns`) reach: the region a sink that names
/// none is delivered in, and the endpoints a sink's `endpoint` may name. Requests to these endpoints are
/// signed with the service's credentials, so, as for a listener's `storage.endpoint`, the operator decides
/// through the environment which hosts receive them; an administrator of the REST API cannot add one.
public struct AWSEventSinkPolicy: Sendable, Hashable {
    /// `AWS_REGION` / `AWS_DEFAULT_REGION` of the service; nil when the environment names none.
    public var defaultRegion: String?
    /// Whether a sink whose region cannot be resolved (no `region`, no region in its ARN, no
    /// `defaultRegion`) is refused when it is created. The executable always requires one.
    public var requiresRegion: Bool
    /// Admitted endpoints; nil admits every endpoint.
    public var endpoints: [StorageAccessPolicy.EndpointPattern]?

    public init(defaultRegion: String?, requiresRegion: Bool, endpoints: [StorageAccessPolicy.EndpointPattern]?) {
        self.defaultRegion = defaultRegion
        self.requiresRegion = requiresRegion
        self.endpoints = endpoints
    }

    /// No restriction (library and test use).
    public static let unrestricted = AWSEventSinkPolicy(defaultRegion: nil, requiresRegion: false, endpoints: nil)

    /// Whether a sink's `endpoint` is one the operator allows.
    public func admits(endpoint: String) -> Bool {
        guard let endpoints else { return true }
        return endpoints.contains { $0.admits(endpoint) }
    }
}

/// The names of the AWS resources an event sink points at, as the services define them.
public enum AWSResourceName {
    /// An AWS region as used in host names (`eu-west-1`, `us-gov-west-1`, `cn-north-1`); the listener's
    /// `storage.region` rule, so a region never adds anything but a DNS label to a host name.
    public static let regionPattern = ListenerValidation.Pattern.region
    /// SNS `TopicArn`: `arn:<partition>:sns:<region>:<12-digit account>:<topic name>` (topic names are
    /// 1-256 letters, digits, hyphens and underscores, `.fifo` for FIFO topics).
    public static let topicARNPattern = #"^arn:aws[a-z-]*:sns:[a-z0-9-]{1,32}:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$"#
    /// EventBridge `EventBusName`: a bus name or a bus ARN (PutEventsRequestEntry, at most 256 characters).
    public static let eventBusNamePattern = "^(arn:aws[a-z-]*:events:[a-z0-9-]{1,32}:[0-9]{12}:event-bus/)?[A-Za-z0-9._/-]{1,256}$"
    /// EventBridge `Source` of the entries this service puts (at most 256 characters).
    public static let eventSourcePattern = "^[A-Za-z0-9._/-]{1,256}$"
    public static let maxEventBusNameLength = 256
    public static let maxEventSourceLength = 256
    public static let maxTopicARNLength = 1024

    /// The region field of an ARN (`arn:partition:service:region:account:resource`), nil when it has none.
    public static func region(ofARN arn: String) -> String? {
        guard arn.hasPrefix("arn:") else { return nil }
        let fields = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard fields.count == 6, !fields[3].isEmpty else { return nil }
        return String(fields[3])
    }

    /// The default endpoint of an AWS service in a region: `https://<service>.<region>.amazonaws.com`, or
    /// `.amazonaws.com.cn` in the China regions.
    public static func defaultEndpoint(service: String, region: String) -> String {
        "https://\(service).\(region).amazonaws.com" + (region.hasPrefix("cn-") ? ".cn" : "")
    }
}
