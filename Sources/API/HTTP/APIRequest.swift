public import NIOCore
public import NIOHTTP1

/// One complete HTTP request as the router sees it: head plus the whole (bounded) body.
public struct APIRequest: Sendable {
    public var method: HTTPMethod
    /// The request target as received (`/v1/studies?limit=5`).
    public var uri: String
    public var version: HTTPVersion
    public var headers: HTTPHeaders
    public var body: ByteBuffer
    /// Set by the server (echo of a sane `X-Request-Id`, or generated).
    public var requestID: String

    public init(method: HTTPMethod, uri: String, version: HTTPVersion = .http1_1, headers: HTTPHeaders = [:],
                body: ByteBuffer = ByteBuffer(), requestID: String = "") {
        self.method = method
        self.uri = uri
        self.version = version
        self.headers = headers
        self.body = body
        self.requestID = requestID
    }

    /// The path part of `uri`, before `?`.
    public var path: Substring {
        if let q = uri.firstIndex(of: "?") { return uri[..<q] }
        return uri[...]
    }

    /// The raw query string after `?`, if any.
    public var rawQuery: Substring? {
        guard let q = uri.firstIndex(of: "?") else { return nil }
        return uri[uri.index(after: q)...]
    }

    /// HTTP/1.1 defaults to keep-alive, HTTP/1.0 to close; `Connection` overrides either.
    public var keepAlive: Bool {
        let tokens = headers[canonicalForm: "connection"].map { $0.lowercased() }
        if tokens.contains("close") { return false }
        if version.major == 1 && version.minor == 0 { return tokens.contains("keep-alive") }
        return true
    }
}

/// One complete HTTP response. The server adds `Content-Length`, `X-Request-Id` and `Connection`.
public struct APIResponse: Sendable {
    public var status: HTTPResponseStatus
    public var headers: HTTPHeaders
    public var body: ByteBuffer

    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    static func text(_ status: HTTPResponseStatus, _ text: String, contentType: String) -> APIResponse {
        APIResponse(status: status, headers: ["Content-Type": contentType], body: ByteBuffer(string: text))
    }
}
