import AWS
import AsyncHTTPClient
import Crypto
import Domain
import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1
import Synchronization

/// One S3 call, with its body fully buffered (a single PUT body or one multipart part), so a retry
/// re-sends exactly the same bytes and the payload hash is computed once.
struct S3Request: Sendable {
    var operation: String
    var method: HTTPMethod
    /// nil addresses the bucket itself.
    var key: String?
    var query: [(String, String)]
    var headers: [(String, String)]
    var body: ByteBuffer?
    var payloadSHA256: String

    init(operation: String, method: HTTPMethod, key: String?, query: [(String, String)] = [],
         headers: [(String, String)] = [], body: ByteBuffer? = nil) {
        self.operation = operation
        self.method = method
        self.key = key
        self.query = query
        self.headers = headers
        self.body = body
        if let body {
            // The signed x-amz-content-sha256 is the body's real SHA-256, so S3 refuses a body corrupted on
            // the way (XAmzContentSHA256Mismatch) on every PUT and part; a Content-MD5 as well would hash
            // the same bytes a second time for no extra protection.
            var sha = SHA256()
            body.withUnsafeReadableBytes { sha.update(bufferPointer: $0) }
            self.payloadSHA256 = SigV4Signer.hex(sha.finalize())
        } else {
            self.payloadSHA256 = SigV4Signer.emptyPayloadSHA256
        }
    }
}

struct S3Response: Sendable {
    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: ByteBuffer?

    var bodyText: String {
        body.map { String(buffer: $0) } ?? ""
    }
}

/// Addressing, signing, sending and retrying. Futures (not tasks) carry a request in flight, so a
/// multipart part can upload while the caller fills the next one without any unstructured task.
final class S3Transport: Sendable {
    let configuration: S3Configuration
    let credentialsProvider: any AWSCredentialsProvider
    let httpClient: HTTPClient
    let logger: Logger
    /// nil: the global `MetricsSystem` factory at the time of each request.
    let metricsFactory: (any MetricsFactory)?
    private let scheme: String
    /// Host header value (with the port when it is not the scheme's default).
    private let endpointHost: String
    private let pathStyle: Bool
    /// Attempts of a cleanup request whose task is cancelled, and the time from its first attempt within which
    /// they may be retried: enough for a passing 500 or 503, short enough not to hold up a shutdown.
    static let cleanupAttemptsOnceCancelled = 3
    static let cleanupRetryBound: Duration = .seconds(5)

    init(configuration: S3Configuration, credentials: any AWSCredentialsProvider, httpClient: HTTPClient,
         logger: Logger, metricsFactory: (any MetricsFactory)? = nil) throws {
        self.configuration = configuration
        self.metricsFactory = metricsFactory
        self.credentialsProvider = credentials
        self.httpClient = httpClient
        self.logger = logger
        if let endpoint = configuration.endpoint {
            guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", let host = url.host, !host.isEmpty
            else {
                throw ObjectStoreError(.unavailable, detail: "invalid S3 endpoint URL")
            }
            self.scheme = scheme
            let defaultPort = scheme == "https" ? 443 : 80
            if let port = url.port, port != defaultPort {
                self.endpointHost = "\(host.lowercased()):\(port)"
            } else {
                self.endpointHost = host.lowercased()
            }
            self.pathStyle = true
        } else {
            self.scheme = "https"
            self.pathStyle = configuration.forcePathStyle || !Self.isVirtualHostCompatible(configuration.bucket)
            self.endpointHost = pathStyle
                ? "s3.\(configuration.region).amazonaws.com"
                : "\(configuration.bucket).s3.\(configuration.region).amazonaws.com"
        }
    }

    /// Bucket names that can be a DNS label under TLS: lowercase letters, digits, hyphens, no dots.
    static func isVirtualHostCompatible(_ bucket: String) -> Bool {
        guard (3...63).contains(bucket.utf8.count) else { return false }
        return bucket.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 45 }
            && !bucket.hasPrefix("-") && !bucket.hasSuffix("-")
    }

    /// Host header and canonical (once-encoded) path of a key or of the bucket.
    func location(key: String?) -> (host: String, canonicalURI: String) {
        let encodedKey = key.map { SigV4Signer.uriEncode($0, keepSlash: true) }
        if pathStyle {
            let bucketPath = "/" + SigV4Signer.uriEncode(configuration.bucket, keepSlash: false)
            return (endpointHost, encodedKey.map { bucketPath + "/" + $0 } ?? bucketPath)
        }
        return (endpointHost, "/" + (encodedKey ?? ""))
    }

    func url(host: String, canonicalURI: String, queryString: String) -> String {
        "\(scheme)://\(host)\(canonicalURI)" + (queryString.isEmpty ? "" : "?\(queryString)")
    }

    // MARK: - Presigning

    func presignedURL(method: String, key: String, expires: Duration, credentials: AWSCredentials, date: Date) -> String {
        let (host, uri) = location(key: key)
        let signer = SigV4Signer(credentials: credentials, region: configuration.region)
        let seconds = max(1, min(604_800, Int(expires.seconds.rounded(.down))))
        let presigned = signer.presign(method: method, canonicalURI: uri, query: [], host: host,
                                       expiresSeconds: seconds, date: date)
        return url(host: host, canonicalURI: uri, queryString: presigned.queryString)
    }

    // MARK: - Sending with retries

    /// Fetches credentials, then sends with retries.
    /// A cancelled task (shutdown past its grace period) makes no further attempt, so the request fails instead
    /// of retrying for the rest of its time bound. The attempt in flight is cancelled too, except for a
    /// `cleanup` request (aborting a multipart upload, deleting an object), which a cancelled upload still sends
    /// so that it leaves nothing behind: its attempts run to their end, and a retryable answer (a 500 or 503,
    /// which S3 gives now and then) is retried up to `cleanupAttemptsOnceCancelled` attempts within
    /// `cleanupRetryBound`, so one such answer does not leave a multipart upload behind.
    func execute(_ request: S3Request, cleanup: Bool = false) async throws -> S3Response {
        let credentials = try await credentialsProvider.credentials()
        let cancellation = RetryCancellation(cleanup: cleanup)
        return try await withTaskCancellationHandler {
            try await execute(request, credentials: credentials, cancellation: cancellation).get()
        } onCancel: {
            cancellation.cancel()
        }
    }

    /// Sends `request`, retrying retryable failures; the future fails with `ObjectStoreError`.
    func execute(_ request: S3Request, credentials: AWSCredentials,
                 cancellation: RetryCancellation? = nil) -> EventLoopFuture<S3Response> {
        let eventLoop = httpClient.eventLoopGroup.any()
        let promise = eventLoop.makePromise(of: S3Response.self)
        let started = NIODeadline.now()
        let deadline = started + TimeAmount(configuration.retry.maxTotalTime)
        attempt(1, request: request, credentials: credentials, eventLoop: eventLoop, started: started,
                deadline: deadline, cancellation: cancellation, promise: promise)
        return promise.futureResult
    }

    private func attempt(_ number: Int, request: S3Request, credentials: AWSCredentials, eventLoop: any EventLoop,
                         started: NIODeadline, deadline: NIODeadline, cancellation: RetryCancellation?,
                         promise: EventLoopPromise<S3Response>) {
        let now = NIODeadline.now()
        let attemptDeadline = min(deadline, now + TimeAmount(configuration.retry.attemptTimeout))
        let httpRequest: HTTPClient.Request
        do {
            httpRequest = try makeHTTPRequest(request, credentials: credentials)
        } catch {
            promise.fail(ObjectStoreError(.unavailable, detail: "\(request.operation): cannot build request"))
            return
        }
        let task = httpClient.execute(request: httpRequest, delegate: ResponseAccumulator(request: httpRequest),
                                      eventLoop: .delegate(on: eventLoop), deadline: attemptDeadline, logger: logger)
        cancellation?.track(task)
        task.futureResult
            .whenComplete { result in
                cancellation?.untrack(task)
                let outcome: Outcome
                switch result {
                case .success(let response):
                    let s3Response = S3Response(status: response.status, headers: response.headers, body: response.body)
                    self.count(request.operation, status: String(response.status.code))
                    outcome = Self.classify(s3Response, operation: request.operation)
                case .failure(let error):
                    self.count(request.operation, status: "error")
                    outcome = Self.classify(error, operation: request.operation)
                }
                switch outcome {
                case .success(let response):
                    promise.succeed(response)
                case .fail(let error):
                    promise.fail(error)
                case .retry(let lastStatus):
                    let elapsed = NIODeadline.now() - started
                    let delay = self.backoff(attempt: number)
                    if let cancellation, cancellation.isCancelled,
                       !cancellation.isCleanup || number >= Self.cleanupAttemptsOnceCancelled
                        || elapsed + delay >= TimeAmount(Self.cleanupRetryBound) {
                        promise.fail(ObjectStoreError(.unavailable, detail:
                            "\(request.operation) not retried after \(number) attempt(s): the request was cancelled; last status: \(lastStatus)"))
                        return
                    }
                    if number >= self.configuration.retry.maxAttempts || NIODeadline.now() + delay >= deadline {
                        let reason = number >= self.configuration.retry.maxAttempts ? "attempts exhausted" : "time bound reached"
                        promise.fail(ObjectStoreError(.unavailable, detail:
                            "\(request.operation) failed after \(number) attempt(s) in \(Self.format(elapsed)) (\(reason)); last status: \(lastStatus)"))
                        return
                    }
                    self.counter("s3_retries_total", [("operation", request.operation)]).increment()
                    self.logger.debug("retrying S3 request", metadata: [
                        "operation": "\(request.operation)", "attempt": "\(number)", "lastStatus": "\(lastStatus)",
                    ])
                    eventLoop.scheduleTask(in: delay) {
                        self.attempt(number + 1, request: request, credentials: credentials, eventLoop: eventLoop,
                                     started: started, deadline: deadline, cancellation: cancellation, promise: promise)
                    }
                }
            }
    }

    private func makeHTTPRequest(_ request: S3Request, credentials: AWSCredentials) throws -> HTTPClient.Request {
        let (host, uri) = location(key: request.key)
        let signer = SigV4Signer(credentials: credentials, region: configuration.region)
        let signed = signer.sign(method: request.method.rawValue, canonicalURI: uri, query: request.query, host: host,
                                 headers: request.headers, payloadSHA256: request.payloadSHA256, date: Date())
        var headers = HTTPHeaders()
        for (name, value) in signed.headers {
            headers.add(name: name, value: value)
        }
        let queryString = SigV4Signer.canonicalQuery(request.query)
        let body: HTTPClient.Body?
        if let data = request.body {
            body = .byteBuffer(data)
        } else if request.method == .PUT || request.method == .POST {
            body = .byteBuffer(ByteBuffer())
        } else {
            body = nil
        }
        return try HTTPClient.Request(url: url(host: host, canonicalURI: uri, queryString: queryString),
                                      method: request.method, headers: headers, body: body)
    }

    /// `s3_requests_total{operation, status}`: status is the HTTP code, or `error` when no response came.
    private func count(_ operation: String, status: String) {
        counter("s3_requests_total", [("operation", operation), ("status", status)]).increment()
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        if let metricsFactory {
            return Counter(label: label, dimensions: dimensions, factory: metricsFactory)
        }
        return Counter(label: label, dimensions: dimensions)
    }

    // MARK: - Classification

    enum Outcome {
        case success(S3Response)
        case retry(lastStatus: String)
        case fail(ObjectStoreError)
    }

    static let throttlingCodes: Set<String> = [
        "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
        "RequestLimitExceeded", "TooManyRequestsException", "ProvisionedThroughputExceededException",
        "RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable",
    ]

    static func classify(_ response: S3Response, operation: String) -> Outcome {
        let code = response.status.code
        let errorCode = AWSXML.value(of: "Code", in: response.bodyText)
        if (200..<300).contains(code) {
            // CompleteMultipartUpload may answer 200 with an <Error> document.
            if operation == "CompleteMultipartUpload", response.bodyText.contains("<Error>") {
                let s3Code = errorCode ?? "unknown"
                if throttlingCodes.contains(s3Code) { return .retry(lastStatus: "200 \(s3Code)") }
                return .fail(ObjectStoreError(.unavailable, detail: "\(operation) failed: HTTP 200 \(s3Code)"))
            }
            return .success(response)
        }
        let status = "\(code)" + (errorCode.map { " \($0)" } ?? "")
        if code >= 500 || code == 429 || (errorCode.map { throttlingCodes.contains($0) } ?? false) {
            return .retry(lastStatus: status)
        }
        switch code {
        case 401, 403:
            return .fail(ObjectStoreError(.unauthorized, detail: "\(operation) refused: HTTP \(status)"))
        case 404:
            return .fail(ObjectStoreError(.notFound, detail: "\(operation) failed: HTTP \(status)"))
        default:
            return .fail(ObjectStoreError(.unavailable, detail: "\(operation) failed: HTTP \(status)"))
        }
    }

    static func classify(_ error: any Error, operation: String) -> Outcome {
        if let error = error as? HTTPClientError {
            let permanent: [HTTPClientError] = [
                .invalidURL, .emptyHost, .emptyScheme, .unsupportedScheme(""), .cancelled, .alreadyShutdown,
                .bodyLengthMismatch, .missingSocketPath,
            ]
            if permanent.contains(where: { $0 == error }) || error.description.contains("unsupportedScheme") {
                return .fail(ObjectStoreError(.unavailable, detail: "\(operation) failed: \(AWSTransportError.describe(error))"))
            }
        }
        return .retry(lastStatus: AWSTransportError.describe(error))
    }

    /// Full jitter: uniform in [0, min(maxDelay, base * 2^(attempt-1))).
    func backoff(attempt: Int) -> TimeAmount {
        let base = configuration.retry.baseDelay.seconds
        let cap = min(configuration.retry.maxDelay.seconds, base * pow(2, Double(min(attempt - 1, 30))))
        return .nanoseconds(Int64(Double.random(in: 0...max(cap, 0.001)) * 1e9))
    }

    static func format(_ amount: TimeAmount) -> String {
        String(format: "%.2fs", Double(amount.nanoseconds) / 1e9)
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        self = .nanoseconds(Int64(duration.seconds * 1e9))
    }
}

/// Set when the task awaiting a request is cancelled: the HTTP attempt in flight is cancelled, and the retry
/// loop, which runs on the event loop, reads it before scheduling another.
final class RetryCancellation: Sendable {
    private struct State {
        var cancelled = false
        var attempt: HTTPClient.Task<HTTPClient.Response>?
    }

    private let state = Mutex(State())
    /// A cleanup request's attempts run to their end, and it may be retried a little after cancellation.
    let isCleanup: Bool
    private var endsAttemptInFlight: Bool { !isCleanup }

    init(cleanup: Bool = false) {
        self.isCleanup = cleanup
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    func cancel() {
        let attempt = state.withLock { state in
            state.cancelled = true
            defer { state.attempt = nil }
            return state.attempt
        }
        if endsAttemptInFlight { attempt?.cancel() }
    }

    /// The attempt now in flight; cancelled at once when the request already is (unless attempts run to their end).
    func track(_ attempt: HTTPClient.Task<HTTPClient.Response>) {
        let cancelled = state.withLock { state in
            if !state.cancelled { state.attempt = attempt }
            return state.cancelled
        }
        if cancelled && endsAttemptInFlight { attempt.cancel() }
    }

    func untrack(_ attempt: HTTPClient.Task<HTTPClient.Response>) {
        state.withLock { state in
            if state.attempt === attempt { state.attempt = nil }
        }
    }
}
