public import Domain

/// What the executable configures for the REST server.
public struct APIConfiguration: Sendable {
    public struct TLS: Sendable, Hashable {
        /// PEM certificate chain file.
        public var certificateFile: String
        /// PEM private key file.
        public var privateKeyFile: String

        public init(certificateFile: String, privateKeyFile: String) {
            self.certificateFile = certificateFile
            self.privateKeyFile = privateKeyFile
        }
    }

    public var host: String
    /// 0 binds an ephemeral port (see `APIServer.boundPort`).
    public var port: Int
    public var tls: TLS?
    public var adminTokens: Set<String>
    public var readTokens: Set<String>
    /// Largest accepted request body (Content-Length); larger requests get 413 before the body is read.
    public var maxBodySize: Int
    /// A connection with no request in progress is closed after this long.
    public var idleTimeout: Duration
    /// A request must arrive completely (head and body) within this long of its first byte; a client
    /// that trickles bytes is cut off.
    public var requestTimeout: Duration
    /// Limits of the request line plus headers (the URL counts toward both size limits).
    public var maxHeaderFieldSize: Int
    public var maxHeaderListSize: Int
    public var maxHeaderCount: Int
    /// A response must be taken by the client (handed to the kernel) within this long of its first
    /// byte; a client that stops reading is cut off instead of holding the connection forever.
    public var writeTimeout: Duration
    /// Connections open at once; further connections are closed as soon as they are accepted.
    public var maxConnections: Int
    /// Where listeners may store, enforced on create and update (the executable always restricts it).
    public var storageAccess: StorageAccessPolicy
    /// `storage.ackMode` of a listener created without one (DICOM_INGEST_ACK_MODE).
    public var defaultAckMode: AckMode
    /// Regions and endpoints the `eventbridge` and `sns` event sinks may use (the executable always
    /// restricts the endpoints and requires a region).
    public var awsEventSinks: AWSEventSinkPolicy = .unrestricted

    public init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        tls: TLS? = nil,
        adminTokens: Set<String> = [],
        readTokens: Set<String> = [],
        maxBodySize: Int = 1 << 20,
        idleTimeout: Duration = .seconds(60),
        requestTimeout: Duration = .seconds(30),
        maxHeaderFieldSize: Int = 16 * 1024,
        maxHeaderListSize: Int = 32 * 1024,
        maxHeaderCount: Int = 100,
        writeTimeout: Duration = .seconds(30),
        maxConnections: Int = 1024,
        storageAccess: StorageAccessPolicy = .unrestricted,
        defaultAckMode: AckMode = .stored
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.adminTokens = adminTokens
        self.readTokens = readTokens
        self.maxBodySize = maxBodySize
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
        self.maxHeaderFieldSize = maxHeaderFieldSize
        self.maxHeaderListSize = maxHeaderListSize
        self.maxHeaderCount = maxHeaderCount
        self.writeTimeout = writeTimeout
        self.maxConnections = maxConnections
        self.storageAccess = storageAccess
        self.defaultAckMode = defaultAckMode
    }
}

/// One dependency `/readyz` checks: `error` nil when it answered.
public struct ReadinessCheck: Sendable, Hashable {
    public var name: String
    /// Why the dependency is not ready; any check with an error makes `/readyz` answer 503.
    public var error: String?
    /// What an operator should know while the check still passes (a spool backlog, a target the spool
    /// stands in for while it is unreachable).
    public var detail: String?

    public init(name: String, error: String?, detail: String? = nil) {
        self.name = name
        self.error = error
        self.detail = detail
    }
}
