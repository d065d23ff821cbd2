public import Foundation
import Domain

/// One set of AWS credentials. `description` never shows the secret or the token.
public struct AWSCredentials: Sendable, Hashable, CustomStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// When temporary credentials stop working; nil for long-lived keys.
    public var expiration: Date?

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, expiration: Date? = nil) {
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
        self.expiration = expiration
    }

    public var description: String {
        "AWSCredentials(accessKeyId: \(accessKeyID), sessionToken: \(sessionToken == nil ? "none" : "present"), expiration: \(expiration.map { "\($0)" } ?? "none"))"
    }
}

/// Where credentials come from. Implementations may do I/O; wrap them in
/// `CachingCredentialsProvider` so each request does not.
public protocol AWSCredentialsProvider: Sendable {
    func credentials() async throws -> AWSCredentials
}

/// Fixed credentials (tests, explicit configuration).
public struct StaticCredentialsProvider: AWSCredentialsProvider {
    public let value: AWSCredentials

    public init(_ value: AWSCredentials) {
        self.value = value
    }

    public func credentials() async throws -> AWSCredentials { value }
}

/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` and optional `AWS_SESSION_TOKEN`.
public struct EnvironmentCredentialsProvider: AWSCredentialsProvider {
    let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// True when the environment names an access key and secret.
    public var isConfigured: Bool {
        !(environment["AWS_ACCESS_KEY_ID"] ?? "").isEmpty && !(environment["AWS_SECRET_ACCESS_KEY"] ?? "").isEmpty
    }

    public func credentials() async throws -> AWSCredentials {
        guard let id = environment["AWS_ACCESS_KEY_ID"], !id.isEmpty,
              let secret = environment["AWS_SECRET_ACCESS_KEY"], !secret.isEmpty
        else {
            throw ObjectStoreError(.unauthorized, detail: "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set")
        }
        let token = environment["AWS_SESSION_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: token)
    }
}

/// Caches what another provider returns and refreshes it `refreshMargin` before it expires. If a
/// refresh fails while the cached credentials are still valid, they are kept.
public actor CachingCredentialsProvider: AWSCredentialsProvider {
    private let base: any AWSCredentialsProvider
    private let refreshMargin: Duration
    private var cached: AWSCredentials?

    public init(_ base: any AWSCredentialsProvider, refreshMargin: Duration = .seconds(300)) {
        self.base = base
        self.refreshMargin = refreshMargin
    }

    public func credentials() async throws -> AWSCredentials {
        let now = Date()
        if let cached {
            guard let expiration = cached.expiration else { return cached }
            if expiration.timeIntervalSince(now) > refreshMargin.seconds {
                return cached
            }
        }
        do {
            let fresh = try await base.credentials()
            cached = fresh
            return fresh
        } catch {
            if let cached, let expiration = cached.expiration, expiration > now {
                return cached
            }
            throw error
        }
    }
}
