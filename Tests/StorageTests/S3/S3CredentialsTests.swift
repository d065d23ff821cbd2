@testable import AWS
import AsyncHTTPClient
import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Testing

@testable import Storage

/// Credential providers against fake endpoints on loopback (never 169.254.x.x).
@Suite struct S3CredentialsTests {
    static let expiry = "2099-01-01T00:00:00Z"

    static func credentialsJSON(_ id: String) -> String {
        #"{"Code":"Success","AccessKeyId":"\#(id)","SecretAccessKey":"secret-\#(id)","Token":"token-\#(id)","Expiration":"\#(expiry)"}"#
    }

    @Test func environmentProvider() async throws {
        let full = EnvironmentCredentialsProvider(environment: [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET", "AWS_SESSION_TOKEN": "TOKEN",
        ])
        #expect(try await full.credentials() == AWSCredentials(accessKeyID: "AKID", secretAccessKey: "SECRET", sessionToken: "TOKEN"))
        let noToken = EnvironmentCredentialsProvider(environment: ["AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "SECRET"])
        #expect(try await noToken.credentials().sessionToken == nil)
        let missing = EnvironmentCredentialsProvider(environment: ["AWS_ACCESS_KEY_ID": "AKID"])
        let error = await #expect(throws: ObjectStoreError.self) { try await missing.credentials() }
        #expect(error?.code == .unauthorized)
        #expect(!"\(try await full.credentials())".contains("SECRET"))
    }

    @Test func ecsFullURIWithTokenFile() async throws {
        let tokenFile = NSTemporaryDirectory() + "ecs-token-\(UUID().uuidString)"
        try "  container-token\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }
        let credentials = try await TestHTTPServer.with(handler: { request in
            guard request.head.method == .GET, request.head.uri == "/v2/credentials/abc",
                  request.head.headers.first(name: "authorization") == "container-token"
            else { return TestHTTPResponse(status: .forbidden) }
            return TestHTTPResponse(status: .ok, body: Self.credentialsJSON("ECS"))
        }) { port in
            try await ECSCredentialsProvider(httpClient: .shared, environment: [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/v2/credentials/abc",
                "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE": tokenFile,
            ]).credentials()
        }
        #expect(credentials.accessKeyID == "ECS")
        #expect(credentials.secretAccessKey == "secret-ECS")
        #expect(credentials.sessionToken == "token-ECS")
        #expect(credentials.expiration == parseISO8601(Self.expiry))
    }

    @Test func ecsRelativeURIUsesTheAgentAddress() async {
        let provider = ECSCredentialsProvider(httpClient: .shared, environment: ["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI": "/v2/credentials/x"])
        #expect(provider.endpoint == "http://169.254.170.2/v2/credentials/x")
        #expect(ECSCredentialsProvider.isAllowedFullURI("http://127.0.0.1:8080/c"))
        #expect(ECSCredentialsProvider.isAllowedFullURI("http://169.254.170.23/v1/credentials"))
        #expect(ECSCredentialsProvider.isAllowedFullURI("https://creds.example.com/c"))
        #expect(!ECSCredentialsProvider.isAllowedFullURI("http://creds.example.com/c"))
        // Refused before any request is made.
        let remote = ECSCredentialsProvider(httpClient: .shared, environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://203.0.113.9/c"])
        let error = await #expect(throws: ObjectStoreError.self) { try await remote.credentials() }
        #expect(error?.detail.contains("https or a loopback") == true)
    }

    @Test func ecsRefusedTokenIsUnauthorized() async throws {
        let error = try await TestHTTPServer.with(handler: { _ in TestHTTPResponse(status: .forbidden) }) { port in
            await #expect(throws: ObjectStoreError.self) {
                try await ECSCredentialsProvider(httpClient: .shared, environment: [
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/creds",
                    "AWS_CONTAINER_AUTHORIZATION_TOKEN": "wrong",
                ]).credentials()
            }
        }
        #expect(error?.code == .unauthorized)
        #expect(error?.detail.contains("403") == true)
    }

    @Test func webIdentityAssumesRoleAtSTS() async throws {
        let tokenFile = NSTemporaryDirectory() + "web-identity-\(UUID().uuidString)"
        try "eyJhbGciOi.jwt+token/=".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }
        let credentials = try await TestHTTPServer.with(handler: { request in
            let form = String(buffer: request.body)
            var fields: [String: String] = [:]
            for pair in form.split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
                fields[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
            guard request.head.method == .POST, fields["Action"] == "AssumeRoleWithWebIdentity",
                  fields["RoleArn"] == "arn:aws:iam::123456789012:role/ingest",
                  fields["WebIdentityToken"] == "eyJhbGciOi.jwt+token/=",
                  fields["RoleSessionName"] == "pod-1"
            else { return TestHTTPResponse(status: .badRequest, body: "<ErrorResponse><Error><Code>InvalidParameter</Code></Error></ErrorResponse>") }
            return TestHTTPResponse(status: .ok, body: """
                <AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
                  <AssumeRoleWithWebIdentityResult>
                    <Credentials>
                      <SessionToken>sts-token&amp;more</SessionToken>
                      <SecretAccessKey>sts-secret</SecretAccessKey>
                      <Expiration>\(Self.expiry)</Expiration>
                      <AccessKeyId>ASIASTS</AccessKeyId>
                    </Credentials>
                  </AssumeRoleWithWebIdentityResult>
                </AssumeRoleWithWebIdentityResponse>
                """)
        }) { port in
            try await WebIdentityCredentialsProvider(httpClient: .shared, environment: [
                "AWS_WEB_IDENTITY_TOKEN_FILE": tokenFile, "AWS_ROLE_ARN": "arn:aws:iam::123456789012:role/ingest",
                "AWS_ROLE_SESSION_NAME": "pod-1", "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:\(port)",
            ]).credentials()
        }
        #expect(credentials == AWSCredentials(accessKeyID: "ASIASTS", secretAccessKey: "sts-secret",
                                              sessionToken: "sts-token&more", expiration: parseISO8601(Self.expiry)))
    }

    @Test func imdsV2TokenThenRoleCredentials() async throws {
        let credentials = try await TestHTTPServer.with(handler: { request in
            switch (request.head.method, request.head.uri) {
            case (.PUT, "/latest/api/token"):
                guard request.head.headers.first(name: "x-aws-ec2-metadata-token-ttl-seconds") != nil else {
                    return TestHTTPResponse(status: .badRequest)
                }
                return TestHTTPResponse(status: .ok, body: "imds-session-token")
            case (.GET, let uri) where request.head.headers.first(name: "x-aws-ec2-metadata-token") != "imds-session-token":
                _ = uri
                return TestHTTPResponse(status: .unauthorized)
            case (.GET, "/latest/meta-data/iam/security-credentials/"):
                return TestHTTPResponse(status: .ok, body: "ingest-role\n")
            case (.GET, "/latest/meta-data/iam/security-credentials/ingest-role"):
                return TestHTTPResponse(status: .ok, body: Self.credentialsJSON("IMDS"))
            default:
                return TestHTTPResponse(status: .notFound)
            }
        }) { port in
            try await IMDSCredentialsProvider(httpClient: .shared, environment: [
                "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(port)/",
            ]).credentials()
        }
        #expect(credentials.accessKeyID == "IMDS")
        #expect(credentials.sessionToken == "token-IMDS")
        let disabled = IMDSCredentialsProvider(httpClient: .shared, environment: ["AWS_EC2_METADATA_DISABLED": "true"])
        await #expect(throws: ObjectStoreError.self) { try await disabled.credentials() }
    }

    actor CountingProvider: AWSCredentialsProvider {
        var calls = 0
        let lifetime: TimeInterval
        init(lifetime: TimeInterval) { self.lifetime = lifetime }
        func credentials() async throws -> AWSCredentials {
            calls += 1
            return AWSCredentials(accessKeyID: "K\(calls)", secretAccessKey: "S", sessionToken: "T",
                                  expiration: Date().addingTimeInterval(lifetime))
        }
    }

    @Test func cachingRefreshesOnlyNearExpiry() async throws {
        let longLived = CountingProvider(lifetime: 3600)
        let cached = CachingCredentialsProvider(longLived)
        for _ in 0..<5 { _ = try await cached.credentials() }
        #expect(await longLived.calls == 1)

        let nearExpiry = CountingProvider(lifetime: 120)  // inside the 5-minute refresh margin
        let refreshing = CachingCredentialsProvider(nearExpiry)
        let first = try await refreshing.credentials()
        let second = try await refreshing.credentials()
        #expect(await nearExpiry.calls == 2)
        #expect(first.accessKeyID != second.accessKeyID)
    }

    @Test func defaultChainFollowsTheEnvironment() async throws {
        let env = try await DefaultCredentialsChain.provider(httpClient: .shared, environment: [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "S",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:1/never",
        ]).credentials()
        #expect(env.accessKeyID == "AKID")

        let viaECS = try await TestHTTPServer.with(handler: { _ in
            TestHTTPResponse(status: .ok, body: Self.credentialsJSON("CHAIN"))
        }) { port in
            try await DefaultCredentialsChain.provider(httpClient: .shared, environment: [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/c",
            ]).credentials()
        }
        #expect(viaECS.accessKeyID == "CHAIN")
    }

    /// Credentials served by a fake ECS endpoint sign real requests that moto accepts.
    @Test func containerCredentialsSignRequestsMotoAccepts() async throws {
        let s3 = try S3TestEnvironment.load()
        let body = #"{"AccessKeyId":"\#(s3.accessKeyID)","SecretAccessKey":"\#(s3.secretAccessKey)","Expiration":"\#(Self.expiry)"}"#
        try await TestHTTPServer.with(handler: { _ in TestHTTPResponse(status: .ok, body: body) }) { port in
            let provider = DefaultCredentialsChain.provider(httpClient: .shared, environment: [
                "AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/creds",
            ])
            let store = try S3ObjectStore(
                configuration: S3Configuration(bucket: s3.bucket, region: s3.region, endpoint: s3.endpoint),
                credentials: provider, httpClient: .shared, logger: Logger(label: "t"))
            try await store.check()
        }
    }
}
