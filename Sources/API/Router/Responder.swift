import Foundation
import Logging
import Metrics
import NIOCore
import NIOHTTP1

/// The frozen router: matches a request to a route, authenticates and authorizes it, runs the handler,
/// maps errors to problem+json, and adds `X-Request-Id`. Writes one access log line and the request
/// metrics per request.
public struct Responder: Sendable {
    let routes: [Route]
    let authenticator: TokenAuthenticator
    let logger: Logger
    /// nil: the global `MetricsSystem` factory at the time of each request (so bootstrap order does not matter).
    let metricsFactory: (any MetricsFactory)?

    init(routes: [Route], authenticator: TokenAuthenticator, logger: Logger, metricsFactory: (any MetricsFactory)? = nil) {
        self.routes = routes
        self.authenticator = authenticator
        self.logger = logger
        self.metricsFactory = metricsFactory
    }

    /// Route template used in logs and metric labels when no route matched (bounded cardinality).
    static let unmatchedRoute = "unmatched"

    public func respond(to incoming: APIRequest) async -> APIResponse {
        let start = ContinuousClock.now
        var request = incoming
        if request.requestID.isEmpty { request.requestID = RequestID.choose(from: request.headers) }
        var logger = self.logger
        logger[metadataKey: "request_id"] = .string(request.requestID)

        let (template, result) = await route(request, logger: logger)
        var response: APIResponse
        switch result {
        case .success(let r):
            response = r
        case .failure(let error):
            if let httpError = error as? any HTTPResponseError {
                response = httpError.response(requestID: request.requestID)
            } else {
                logger.error("handler failed", metadata: ["route": .string(template), "error": .string(String(describing: error))])
                response = Problem.internalError.response(requestID: request.requestID)
            }
        }
        response.headers.replaceOrAdd(name: "X-Request-Id", value: request.requestID)
        let elapsed = ContinuousClock.now - start
        Self.record(method: request.method, route: template, status: response.status, elapsed: elapsed, logger: logger,
                    metricsFactory: metricsFactory)
        return response
    }

    /// Metrics and the access log line, also used by the server for responses it makes itself
    /// (parse errors, 413, 411, 431).
    static func record(method: HTTPMethod, route: String, status: HTTPResponseStatus, elapsed: Duration, logger: Logger,
                       metricsFactory: (any MetricsFactory)?) {
        let dimensions = [("method", method.rawValue), ("route", route), ("status", String(status.code))]
        let timerDimensions = [("method", method.rawValue), ("route", route)]
        let nanoseconds = elapsed.components.seconds * 1_000_000_000 + elapsed.components.attoseconds / 1_000_000_000
        if let metricsFactory {
            Counter(label: "http_requests_total", dimensions: dimensions, factory: metricsFactory).increment()
            Metrics.Timer(label: "http_request_duration_seconds", dimensions: timerDimensions, factory: metricsFactory)
                .recordNanoseconds(nanoseconds)
        } else {
            Counter(label: "http_requests_total", dimensions: dimensions).increment()
            Metrics.Timer(label: "http_request_duration_seconds", dimensions: timerDimensions).recordNanoseconds(nanoseconds)
        }
        let milliseconds = Double(nanoseconds) / 1_000_000
        logger.info("request", metadata: [
            "method": .string(method.rawValue), "path": .string(route), "status": .stringConvertible(status.code),
            "duration_ms": .string(String(format: "%.3f", milliseconds)),
        ])
    }

    private func route(_ request: APIRequest, logger: Logger) async -> (String, Result<APIResponse, any Error>) {
        guard let segments = Self.pathSegments(request.path) else {
            return (Self.unmatchedRoute, .failure(Problem.badHTTP("The request path is not a valid percent-encoded path.")))
        }
        let isProtected = segments.first == "v1"
        var matchedMethods: [HTTPMethod] = []
        var template = Self.unmatchedRoute
        var found: (Route, [String: String])?
        var getRoute: (Route, [String: String])?
        for route in routes {
            guard let parameters = route.path.match(segments) else { continue }
            if matchedMethods.isEmpty { template = route.path.template }
            matchedMethods.append(route.method)
            if route.method == request.method { found = (route, parameters) }
            if route.method == .GET { getRoute = (route, parameters) }
        }
        // HEAD is answered like GET, without the body (the connection handler drops it).
        if found == nil && request.method == .HEAD { found = getRoute }

        let grant = authenticator.grant(for: request.headers)
        if isProtected || found.map({ $0.0.access != .open }) == true {
            if grant == .none { return (template, .failure(Problem.unauthorized)) }
        }
        guard let (route, parameters) = found else {
            if matchedMethods.isEmpty {
                return (template, .failure(Problem.notFound("No resource at this path.")))
            }
            return (template, .failure(Problem.methodNotAllowed(allowed: matchedMethods)))
        }
        if route.access == .write && grant != .admin {
            return (template, .failure(Problem.forbidden))
        }
        let context = RequestContext(request: request, parameters: parameters, logger: logger, isAuthenticated: grant != .none)
        do {
            return (template, .success(try await route.handler(context)))
        } catch {
            return (template, .failure(error))
        }
    }

    /// Splits `/a/b%20c` into percent-decoded segments; nil when the path is not `/`-rooted or its
    /// encoding is invalid.
    static func pathSegments(_ path: Substring) -> [String]? {
        guard path.first == "/" else { return nil }
        var result: [String] = []
        for raw in path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            guard let decoded = PercentDecoding.decode(raw, plusIsSpace: false) else { return nil }
            result.append(decoded)
        }
        // `/v1/listeners/` is the same resource as `/v1/listeners`.
        if result.count > 1, result.last == "" { result.removeLast() }
        if result == [""] { result = [] }
        return result
    }
}
