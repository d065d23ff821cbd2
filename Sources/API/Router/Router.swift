public import Logging
public import NIOHTTP1

/// Who may call a route: anyone, any valid token, or an admin token.
public enum RouteAccess: Sendable, Hashable {
    case open
    case read
    case write
}

/// What a handler gets: the request, its path parameters (percent-decoded) and a logger carrying the
/// request id.
public struct RequestContext: Sendable {
    public var request: APIRequest
    public var parameters: [String: String]
    public var logger: Logger
    /// The request carried a valid read or admin token (also known on open routes, which answer
    /// anonymous callers with less detail).
    var isAuthenticated = false

    public func parameter(_ name: String) -> String { parameters[name] ?? "" }
}

public typealias RouteHandler = @Sendable (RequestContext) async throws -> APIResponse

/// A path template split into segments: `/v1/listeners/{id}` → literal, literal, parameter `id`.
struct PathTemplate: Sendable, Hashable {
    enum Segment: Sendable, Hashable {
        case literal(String)
        case parameter(String)
    }

    let template: String
    let segments: [Segment]

    init(_ template: String) {
        self.template = template
        self.segments = template.split(separator: "/", omittingEmptySubsequences: true).map { part in
            if part.hasPrefix("{") && part.hasSuffix("}") { return .parameter(String(part.dropFirst().dropLast())) }
            return .literal(String(part))
        }
    }

    func match(_ path: [String]) -> [String: String]? {
        guard path.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, value) in zip(segments, path) {
            switch segment {
            case .literal(let literal):
                guard literal == value else { return nil }
            case .parameter(let name):
                guard !value.isEmpty else { return nil }
                parameters[name] = value
            }
        }
        return parameters
    }
}

struct Route: Sendable {
    let method: HTTPMethod
    let path: PathTemplate
    let access: RouteAccess
    let handler: RouteHandler
}

/// Routes are added to this mutable builder at start, then frozen into a `Responder`.
public struct RouterBuilder: Sendable {
    private(set) var routes: [Route] = []

    public init() {}

    public mutating func on(_ method: HTTPMethod, _ template: String, access: RouteAccess, handler: @escaping RouteHandler) {
        routes.append(Route(method: method, path: PathTemplate(template), access: access, handler: handler))
    }
}
