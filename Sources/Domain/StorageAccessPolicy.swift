/// What the operator lets a listener's storage reach on the host: the filesystem roots a
/// `storage.path` may lie in and the S3 endpoints a `storage.endpoint` may name. An administrator of
/// the REST API configures listeners; the operator, through the environment, decides where they may
/// write and which hosts receive signed requests.
public struct StorageAccessPolicy: Sendable, Hashable {
    /// Absolute, normalised folders; a path is admitted when it is one of them or lies below one.
    /// nil admits every path.
    public var roots: [String]?
    /// Admitted endpoints; nil admits every endpoint.
    public var endpoints: [EndpointPattern]?

    public init(roots: [String]?, endpoints: [EndpointPattern]?) {
        self.roots = roots.map { $0.compactMap(Self.normalise) }
        self.endpoints = endpoints
    }

    /// No restriction (library and test use; the executable always builds a restricted policy).
    public static let unrestricted = StorageAccessPolicy(roots: nil, endpoints: nil)

    /// `scheme://host[:port]`, where host may start with `*.` (any subdomain of the rest) and port may be
    /// `*` (any port). Without a port, the scheme's default port (80, 443).
    public struct EndpointPattern: Sendable, Hashable, CustomStringConvertible {
        public var scheme: String
        public var host: String
        /// nil: any port.
        public var port: Int?

        public init?(_ text: String) {
            guard let parsed = Self.split(text, allowWildcards: true) else { return nil }
            self.scheme = parsed.scheme
            self.host = parsed.host
            self.port = parsed.port
        }

        public var description: String { "\(scheme)://\(host):\(port.map(String.init) ?? "*")" }

        /// The AWS S3 endpoints (`https://s3.<region>.amazonaws.com`, virtual-host and FIPS forms, China).
        public static let aws: [EndpointPattern] = ["https://*.amazonaws.com", "https://*.amazonaws.com.cn"].compactMap(EndpointPattern.init)

        /// Whether `endpoint` (a listener's `storage.endpoint`) is one this pattern admits.
        public func admits(_ endpoint: String) -> Bool {
            guard let e = Self.split(endpoint, allowWildcards: false), e.scheme == scheme else { return false }
            if let port, e.port != port { return false }
            if host.hasPrefix("*.") {
                let suffix = host.dropFirst(1)  // ".amazonaws.com"
                return e.host.hasSuffix(suffix) && e.host.count > suffix.count
            }
            return e.host == host
        }

        /// Lowercased scheme and host, the port made explicit; nil when not `http(s)://host[:port][/]`.
        static func split(_ text: String, allowWildcards: Bool) -> (scheme: String, host: String, port: Int?)? {
            let lower = text.lowercased()
            let scheme: String
            if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else { return nil }
            var rest = Substring(lower.dropFirst(scheme.count + 3))
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("?"), !rest.contains("#") else { return nil }
            var host = rest
            var portText: Substring?
            if rest.hasPrefix("[") {
                guard let close = rest.firstIndex(of: "]") else { return nil }
                host = rest[...close]
                let after = rest[rest.index(after: close)...]
                if !after.isEmpty {
                    guard after.hasPrefix(":") else { return nil }
                    portText = after.dropFirst()
                }
            } else if let colon = rest.lastIndex(of: ":") {
                host = rest[..<colon]
                portText = rest[rest.index(after: colon)...]
            }
            guard !host.isEmpty else { return nil }
            if !allowWildcards && host.contains("*") { return nil }
            if allowWildcards, host.contains("*"), !(host.hasPrefix("*.") && host.dropFirst(2).allSatisfy({ $0 != "*" })) { return nil }
            let port: Int?
            if let portText {
                if portText == "*" {
                    guard allowWildcards else { return nil }
                    port = nil
                } else {
                    guard let p = Int(portText), (1...65_535).contains(p) else { return nil }
                    port = p
                }
            } else {
                port = scheme == "https" ? 443 : 80
            }
            return (scheme, String(host), port)
        }
    }

    /// The rules the storage target breaks, as `storage.path` / `storage.endpoint` issues. `resolve`
    /// turns a path into the one the store will really use (symlinks followed); identity by default. The
    /// roots must then be resolved the same way.
    public func validate(_ storage: StorageTarget, resolve: (String) -> String = { $0 }) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        if storage.backend == .filesystem, let path = storage.path, let roots {
            if !admits(path: path, roots: roots, resolve: resolve) {
                issues.append(ValidationIssue(
                    field: "storage.path",
                    message: "must be an absolute path inside one of the storage roots the operator allows (DICOM_INGEST_STORAGE_ROOTS)"))
            }
        }
        if storage.backend == .s3, let endpoint = storage.endpoint, let endpoints {
            if !endpoints.contains(where: { $0.admits(endpoint) }) {
                issues.append(ValidationIssue(
                    field: "storage.endpoint",
                    message: "must be one of the S3 endpoints the operator allows (DICOM_INGEST_S3_ENDPOINTS)"))
            }
        }
        return issues
    }

    /// The path the store will really use (symlinks followed, when `resolve` does) must lie in a root;
    /// `..` is refused before resolving, so no lexical trick reaches outside.
    private func admits(path: String, roots: [String], resolve: (String) -> String) -> Bool {
        guard let normalised = Self.normalise(path), let resolved = Self.normalise(resolve(normalised)) else { return false }
        return roots.contains { root in Self.isInside(resolved, root) }
    }

    static func isInside(_ path: String, _ root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }

    /// An absolute path without `.`/`..`/empty segments and without a trailing `/`; nil when relative or
    /// when it contains `..` (which a lexical check cannot place).
    public static func normalise(_ path: String) -> String? {
        guard path.hasPrefix("/"), !path.utf8.contains(0) else { return nil }
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            if segment == "." { continue }
            if segment == ".." { return nil }
            segments.append(segment)
        }
        return "/" + segments.joined(separator: "/")
    }
}
