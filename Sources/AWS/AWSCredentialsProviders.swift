public import AsyncHTTPClient
import Domain
public import Foundation
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// Temporary credentials served as JSON by the ECS agent and by EC2's instance metadata service:
/// `{"AccessKeyId": …, "SecretAccessKey": …, "Token": …, "Expiration": "2026-11-29T12:00:00Z"}`.
struct MetadataCredentialsDocument: Decodable {
    var AccessKeyId: String
    var SecretAccessKey: String
    var Token: String?
    var Expiration: String?
    var Code: String?

    func credentials(source: String) throws -> AWSCredentials {
        if let code = Code, code != "Success" {
            throw ObjectStoreError(.unauthorized, detail: "\(source): credentials document says \(code)")
        }
        return AWSCredentials(accessKeyID: AccessKeyId, secretAccessKey: SecretAccessKey, sessionToken: Token,
                              expiration: Expiration.flatMap(parseISO8601))
    }
}

func parseISO8601(_ text: String) -> Date? {
    let plain = ISO8601DateFormatter()
    if let date = plain.date(from: text) { return date }
    let fractional = ISO8601DateFormatter()
    fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return fractional.date(from: text)
}

/// Small GET/PUT/POST for credential endpoints: short timeout, no retries beyond one, bounded body.
func credentialsHTTP(_ client: HTTPClient, method: HTTPMethod, url: String, headers: [(String, String)] = [],
                     body: String? = nil, timeout: Duration, source: String) async throws -> String {
    var request = HTTPClientRequest(url: url)
    request.method = method
    for (name, value) in headers { request.headers.add(name: name, value: value) }
    if let body { request.body = .bytes(ByteBuffer(string: body)) }
    let response: HTTPClientResponse
    do {
        response = try await client.execute(request, timeout: TimeAmount(timeout))
    } catch {
        throw ObjectStoreError(.unauthorized, detail: "\(source): \(AWSTransportError.describe(error))")
    }
    let bytes = try await response.body.collect(upTo: 1 << 20)
    guard (200..<300).contains(response.status.code) else {
        let code = AWSXML.value(of: "Code", in: String(buffer: bytes)).map { " \($0)" } ?? ""
        throw ObjectStoreError(.unauthorized, detail: "\(source): HTTP \(response.status.code)\(code)")
    }
    return String(buffer: bytes)
}

/// ECS task role: `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI` (on the ECS agent at 169.254.170.2) or
/// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read on every
/// refresh, it rotates) or `AWS_CONTAINER_AUTHORIZATION_TOKEN` as the `Authorization` header.
public struct ECSCredentialsProvider: AWSCredentialsProvider {
    static let agentHost = "http://169.254.170.2"
    let httpClient: HTTPClient
    let environment: [String: String]

    public init(httpClient: HTTPClient, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.httpClient = httpClient
        self.environment = environment
    }

    public var isConfigured: Bool { endpoint != nil }

    var endpoint: String? {
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            return Self.agentHost + (relative.hasPrefix("/") ? relative : "/" + relative)
        }
        if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            return full
        }
        return nil
    }

    /// As the AWS SDKs: a full URI over plain HTTP may only point at loopback or the ECS/EKS agents,
    /// so credentials (and the authorization token) never cross the network unencrypted.
    static func isAllowedFullURI(_ uri: String) -> Bool {
        guard let url = URL(string: uri), let scheme = url.scheme?.lowercased(), let host = url.host?.lowercased() else {
            return false
        }
        if scheme == "https" { return true }
        guard scheme == "http" else { return false }
        let trimmed = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return trimmed == "localhost" || trimmed.hasPrefix("127.") || trimmed == "::1"
            || trimmed == "169.254.170.2" || trimmed == "169.254.170.23" || trimmed == "fd00:ec2::23"
    }

    public func credentials() async throws -> AWSCredentials {
        guard let endpoint else {
            throw ObjectStoreError(.unauthorized, detail: "ECS: no AWS_CONTAINER_CREDENTIALS_*_URI set")
        }
        guard Self.isAllowedFullURI(endpoint) else {
            throw ObjectStoreError(.unauthorized, detail: "ECS: AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a loopback/agent address")
        }
        var headers: [(String, String)] = []
        if let file = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], !file.isEmpty {
            guard let token = FileManager.default.contents(atPath: file) else {
                throw ObjectStoreError(.unauthorized, detail: "ECS: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            }
            headers.append(("Authorization", String(decoding: token, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        } else if let token = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"], !token.isEmpty {
            headers.append(("Authorization", token))
        }
        let text = try await credentialsHTTP(httpClient, method: .GET, url: endpoint, headers: headers,
                                             timeout: .seconds(5), source: "ECS credentials")
        do {
            return try JSONDecoder().decode(MetadataCredentialsDocument.self, from: Data(text.utf8))
                .credentials(source: "ECS credentials")
        } catch let error as ObjectStoreError {
            throw error
        } catch {
            throw ObjectStoreError(.unauthorized, detail: "ECS credentials: malformed response")
        }
    }
}

/// EKS IAM roles for service accounts: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN` (+ optional
/// `AWS_ROLE_SESSION_NAME`) exchanged at STS (`AssumeRoleWithWebIdentity`, an unsigned call) for
/// temporary credentials. STS endpoint: `AWS_ENDPOINT_URL_STS`, else the regional one.
public struct WebIdentityCredentialsProvider: AWSCredentialsProvider {
    let httpClient: HTTPClient
    let environment: [String: String]

    public init(httpClient: HTTPClient, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.httpClient = httpClient
        self.environment = environment
    }

    public var isConfigured: Bool {
        !(environment["AWS_WEB_IDENTITY_TOKEN_FILE"] ?? "").isEmpty && !(environment["AWS_ROLE_ARN"] ?? "").isEmpty
    }

    var stsEndpoint: String {
        if let endpoint = environment["AWS_ENDPOINT_URL_STS"], !endpoint.isEmpty { return endpoint }
        if let region = AWSEnvironment.region(in: environment) {
            return "https://sts.\(region).amazonaws.com"
        }
        return "https://sts.amazonaws.com"
    }

    public func credentials() async throws -> AWSCredentials {
        guard let tokenFile = environment["AWS_WEB_IDENTITY_TOKEN_FILE"], !tokenFile.isEmpty,
              let roleARN = environment["AWS_ROLE_ARN"], !roleARN.isEmpty
        else {
            throw ObjectStoreError(.unauthorized, detail: "web identity: AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN not set")
        }
        guard let tokenData = FileManager.default.contents(atPath: tokenFile) else {
            throw ObjectStoreError(.unauthorized, detail: "web identity: cannot read AWS_WEB_IDENTITY_TOKEN_FILE")
        }
        let token = String(decoding: tokenData, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let sessionName = environment["AWS_ROLE_SESSION_NAME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "dicom-ingest-\(Int(Date().timeIntervalSince1970))"
        let form = [
            ("Action", "AssumeRoleWithWebIdentity"), ("Version", "2011-06-15"), ("RoleArn", roleARN),
            ("RoleSessionName", sessionName), ("WebIdentityToken", token),
        ].map { "\(SigV4Signer.uriEncode($0.0, keepSlash: false))=\(SigV4Signer.uriEncode($0.1, keepSlash: false))" }
            .joined(separator: "&")
        let url = stsEndpoint.hasSuffix("/") ? stsEndpoint : stsEndpoint + "/"
        let xml = try await credentialsHTTP(
            httpClient, method: .POST, url: url,
            headers: [("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"), ("Accept", "application/xml")],
            body: form, timeout: .seconds(10), source: "STS AssumeRoleWithWebIdentity")
        guard let accessKeyID = AWSXML.value(of: "AccessKeyId", in: xml),
              let secret = AWSXML.value(of: "SecretAccessKey", in: xml),
              let sessionToken = AWSXML.value(of: "SessionToken", in: xml)
        else {
            throw ObjectStoreError(.unauthorized, detail: "STS AssumeRoleWithWebIdentity: response has no credentials")
        }
        return AWSCredentials(accessKeyID: accessKeyID, secretAccessKey: secret, sessionToken: sessionToken,
                              expiration: AWSXML.value(of: "Expiration", in: xml).flatMap(parseISO8601))
    }
}

/// EC2 instance role through IMDSv2: `PUT /latest/api/token`, then the role name and its credentials
/// with `X-aws-ec2-metadata-token`. Endpoint: `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else
/// `http://169.254.169.254`; `AWS_EC2_METADATA_DISABLED=true` turns it off.
public struct IMDSCredentialsProvider: AWSCredentialsProvider {
    let httpClient: HTTPClient
    let environment: [String: String]

    public init(httpClient: HTTPClient, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.httpClient = httpClient
        self.environment = environment
    }

    public var isDisabled: Bool {
        environment["AWS_EC2_METADATA_DISABLED"]?.lowercased() == "true"
    }

    var endpoint: String {
        var value = environment["AWS_EC2_METADATA_SERVICE_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "http://169.254.169.254"
        while value.hasSuffix("/") { value.removeLast() }
        return value
    }

    public func credentials() async throws -> AWSCredentials {
        guard !isDisabled else {
            throw ObjectStoreError(.unauthorized, detail: "IMDS: disabled by AWS_EC2_METADATA_DISABLED")
        }
        let token = try await credentialsHTTP(
            httpClient, method: .PUT, url: endpoint + "/latest/api/token",
            headers: [("X-aws-ec2-metadata-token-ttl-seconds", "21600")], timeout: .seconds(2), source: "IMDS token")
        let auth = [("X-aws-ec2-metadata-token", token.trimmingCharacters(in: .whitespacesAndNewlines))]
        let base = endpoint + "/latest/meta-data/iam/security-credentials/"
        let roles = try await credentialsHTTP(httpClient, method: .GET, url: base, headers: auth,
                                              timeout: .seconds(2), source: "IMDS role")
        guard let role = roles.split(whereSeparator: \.isNewline).first.map(String.init), !role.isEmpty else {
            throw ObjectStoreError(.unauthorized, detail: "IMDS: no instance role attached")
        }
        let text = try await credentialsHTTP(httpClient, method: .GET,
                                             url: base + SigV4Signer.uriEncode(role, keepSlash: false),
                                             headers: auth, timeout: .seconds(2), source: "IMDS credentials")
        do {
            return try JSONDecoder().decode(MetadataCredentialsDocument.self, from: Data(text.utf8))
                .credentials(source: "IMDS credentials")
        } catch let error as ObjectStoreError {
            throw error
        } catch {
            throw ObjectStoreError(.unauthorized, detail: "IMDS credentials: malformed response")
        }
    }
}

/// The usual AWS order, decided by what the environment configures: environment keys, then EKS web
/// identity, then the ECS container endpoint, then EC2 instance metadata. The chosen provider is
/// wrapped in a cache that refreshes temporary credentials five minutes before they expire.
public enum DefaultCredentialsChain {
    public static func provider(httpClient: HTTPClient,
                                environment: [String: String] = ProcessInfo.processInfo.environment)
        -> any AWSCredentialsProvider
    {
        let env = EnvironmentCredentialsProvider(environment: environment)
        if env.isConfigured { return CachingCredentialsProvider(env) }
        let webIdentity = WebIdentityCredentialsProvider(httpClient: httpClient, environment: environment)
        if webIdentity.isConfigured { return CachingCredentialsProvider(webIdentity) }
        let ecs = ECSCredentialsProvider(httpClient: httpClient, environment: environment)
        if ecs.isConfigured { return CachingCredentialsProvider(ecs) }
        return CachingCredentialsProvider(IMDSCredentialsProvider(httpClient: httpClient, environment: environment))
    }
}
