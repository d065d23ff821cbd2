import Domain
import Foundation
import NIOCore
public import NIOHTTP1

/// An error that knows its HTTP form. Every error a handler throws becomes a response through this one
/// protocol (anything else is a 500 with no detail).
public protocol HTTPResponseError: Error {
    func response(requestID: String) -> APIResponse
}

/// RFC 9457 problem details: `application/problem+json` {type, title, status, detail, errors?}.
public struct Problem: HTTPResponseError, Sendable, Hashable, CustomStringConvertible {
    public struct FieldError: Sendable, Hashable, Codable {
        public var field: String
        public var message: String
        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    public var status: HTTPResponseStatus
    /// Short slug; the `type` member is `urn:dicom-ingest:problem:<slug>`.
    public var slug: String
    public var title: String
    /// Safe to show: never contains stored row data or secrets.
    public var detail: String
    public var errors: [FieldError]?
    public var extraHeaders: HTTPHeaders

    public init(_ status: HTTPResponseStatus, slug: String, title: String, detail: String,
                errors: [FieldError]? = nil, headers: HTTPHeaders = [:]) {
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = errors
        self.extraHeaders = headers
    }

    public var description: String { "Problem(\(status.code) \(slug)): \(detail)" }

    public static func == (lhs: Problem, rhs: Problem) -> Bool {
        lhs.status == rhs.status && lhs.slug == rhs.slug && lhs.detail == rhs.detail && lhs.errors == rhs.errors
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(status.code)
        hasher.combine(slug)
        hasher.combine(detail)
    }

    public static let contentType = "application/problem+json"

    private struct Body: Encodable {
        var type: String
        var title: String
        var status: Int
        var detail: String
        var errors: [FieldError]?
    }

    public func response(requestID: String) -> APIResponse {
        var headers = extraHeaders
        headers.replaceOrAdd(name: "Content-Type", value: Problem.contentType)
        let body = Body(type: "urn:dicom-ingest:problem:\(slug)", title: title, status: Int(status.code),
                        detail: detail, errors: errors)
        return APIResponse(status: status, headers: headers, body: JSONCoding.encodeOrEmpty(body))
    }

    // MARK: the problems this API returns

    static func validation(_ errors: [FieldError], detail: String? = nil) -> Problem {
        let names = errors.map(\.field).joined(separator: ", ")
        return Problem(.badRequest, slug: "validation", title: "Invalid request",
                       detail: detail ?? "Invalid value for: \(names)", errors: errors)
    }

    static func invalid(_ field: String, _ message: String) -> Problem {
        validation([FieldError(field: field, message: message)])
    }

    static func malformedJSON(_ detail: String) -> Problem {
        Problem(.badRequest, slug: "malformed-json", title: "Malformed JSON body", detail: detail,
                errors: [FieldError(field: "", message: detail)])
    }

    static let unauthorized = Problem(
        .unauthorized, slug: "unauthorized", title: "Unauthorized",
        detail: "A valid bearer token is required (Authorization: Bearer <token>).",
        headers: ["WWW-Authenticate": #"Bearer realm="dicom-ingest""#])

    static let forbidden = Problem(
        .forbidden, slug: "forbidden", title: "Forbidden", detail: "This token may read but not change anything.")

    static func notFound(_ detail: String) -> Problem {
        Problem(.notFound, slug: "not-found", title: "Not found", detail: detail)
    }

    static func methodNotAllowed(allowed: [HTTPMethod]) -> Problem {
        let allow = allowed.map(\.rawValue).joined(separator: ", ")
        return Problem(.methodNotAllowed, slug: "method-not-allowed", title: "Method not allowed",
                       detail: "Allowed methods: \(allow).", headers: ["Allow": allow])
    }

    static func conflict(field: String?, detail: String) -> Problem {
        Problem(.conflict, slug: "conflict", title: "Conflict", detail: detail,
                errors: field.map { [FieldError(field: $0, message: "already used by another listener")] })
    }

    static func unsupportedMediaType(_ accepted: [String]) -> Problem {
        Problem(.unsupportedMediaType, slug: "unsupported-media-type", title: "Unsupported media type",
                detail: "Content-Type must be one of: \(accepted.joined(separator: ", ")).")
    }

    static func payloadTooLarge(limit: Int) -> Problem {
        Problem(.payloadTooLarge, slug: "payload-too-large", title: "Payload too large",
                detail: "Request bodies are limited to \(limit) bytes.")
    }

    static let lengthRequired = Problem(
        .lengthRequired, slug: "length-required", title: "Length required",
        detail: "Request bodies must be sent with Content-Length; chunked transfer coding is not accepted.")

    static let headersTooLarge = Problem(
        .requestHeaderFieldsTooLarge, slug: "headers-too-large", title: "Request header fields too large",
        detail: "The request line or headers exceed the server's limits.")

    static func badHTTP(_ detail: String) -> Problem {
        Problem(.badRequest, slug: "bad-request", title: "Bad request", detail: detail)
    }

    static func unavailable(_ detail: String) -> Problem {
        Problem(.serviceUnavailable, slug: "unavailable", title: "Service unavailable", detail: detail,
                headers: ["Retry-After": "1"])
    }

    static let internalError = Problem(
        .internalServerError, slug: "internal", title: "Internal server error",
        detail: "The server failed to handle the request; see the server log for this request id.")
}

extension ValidationIssue {
    var fieldError: Problem.FieldError { Problem.FieldError(field: field, message: message) }
}
