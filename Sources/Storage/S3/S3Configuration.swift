import AWS
/// Retries of one S3 operation: exponential backoff with full jitter (delay drawn uniformly from
/// `0 ..< min(maxDelay, baseDelay * 2^attempt)`), at most `maxAttempts` attempts and never past
/// `maxTotalTime` after the first attempt started.
public struct S3RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    public var maxTotalTime: Duration
    /// Upper bound of one attempt (connect + send + response).
    public var attemptTimeout: Duration

    public init(maxAttempts: Int = 8, baseDelay: Duration = .milliseconds(100), maxDelay: Duration = .seconds(5),
                maxTotalTime: Duration = .seconds(120), attemptTimeout: Duration = .seconds(60)) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxTotalTime = maxTotalTime
        self.attemptTimeout = attemptTimeout
    }
}

/// One S3 bucket and how to reach it.
public struct S3Configuration: Sendable, Hashable {
    public static let minimumPartSize = 5 * 1024 * 1024
    public static let defaultPartSize = 5 * 1024 * 1024
    /// S3's limit on parts per multipart upload.
    public static let maximumPartCount = 10_000

    public var bucket: String
    public var region: String
    /// Custom endpoint (`http://127.0.0.1:9000`, MinIO, moto…). Setting one implies path-style addressing.
    public var endpoint: String?
    public var forcePathStyle: Bool
    /// Multipart part size, at least 5 MiB (S3's minimum for every part but the last).
    public var partSize: Int
    /// Objects whose stored size is at most this go up in one PUT; never more than `partSize`.
    public var singlePutThreshold: Int
    public var retry: S3RetryPolicy

    public init(bucket: String, region: String = "us-east-1", endpoint: String? = nil, forcePathStyle: Bool = false,
                partSize: Int = S3Configuration.defaultPartSize, singlePutThreshold: Int? = nil,
                retry: S3RetryPolicy = S3RetryPolicy()) {
        self.bucket = bucket
        self.region = region
        self.endpoint = endpoint.flatMap { $0.isEmpty ? nil : $0 }
        self.forcePathStyle = forcePathStyle
        self.partSize = max(Self.minimumPartSize, partSize)
        self.singlePutThreshold = min(self.partSize, max(0, singlePutThreshold ?? self.partSize))
        self.retry = retry
    }

    /// The custom S3 endpoint named by the environment: `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`.
    public static func endpoint(fromEnvironment environment: [String: String]) -> String? {
        AWSEnvironment.endpoint(service: "S3", in: environment)
    }

    /// The region named by the environment: `AWS_REGION`, else `AWS_DEFAULT_REGION`.
    public static func region(fromEnvironment environment: [String: String]) -> String? {
        AWSEnvironment.region(in: environment)
    }
}
