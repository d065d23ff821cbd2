public import AWS
public import AsyncHTTPClient
import Domain
public import Foundation
public import NIOCore
import NIOHTTP1

/// One signed request of an AWS operation: for the JSON and query protocols a POST of `body` to `/` of the
/// service endpoint, for the REST-JSON protocol the operation's method and path; signed with SigV4 as
/// botocore's `SigV4Auth` signs it (every header but the `Authorization` itself, the SHA-256 of the body,
/// no `x-amz-content-sha256`).
public struct AWSServiceRequest: Sendable {
    public var method: String
    /// `scheme://host[:port]` and the path (`/` for the JSON and query protocols).
    public var url: String
    /// Every header to send, lowercased, including `host`, `x-amz-date` and `authorization`.
    public var headers: [(String, String)]
    public var body: String
    /// The intermediate strings, for tests against botocore.
    public var signed: SigV4Signer.SignedHeaders

    /// Builds and signs the request. `endpoint` is `http(s)://host[:port]` (a trailing `/` is ignored);
    /// the `host` header is the host and port as botocore writes it, the default port left out. `path` is
    /// already URI-encoded, as it is signed.
    public static func make(method: String = "POST", path: String = "/", endpoint: String, region: String, service: String,
                            headers: [(String, String)], body: String, credentials: AWSCredentials,
                            date: Date) throws -> AWSServiceRequest {
        guard let location = Location(endpoint) else { throw DeliveryError("endpoint is not an http(s) URL of scheme, host and port") }
        let signer = SigV4Signer(credentials: credentials, region: region, service: service, sendsContentSHA256: false)
        let signed = signer.sign(method: method, canonicalURI: path, query: [], host: location.host, headers: headers,
                                 payloadSHA256: SigV4Signer.hexSHA256(Data(body.utf8)), date: date)
        return AWSServiceRequest(method: method, url: "\(location.scheme)://\(location.host)\(path)", headers: signed.headers,
                                 body: body, signed: signed)
    }

    /// Scheme and `host[:port]` of an endpoint, the scheme's default port dropped.
    struct Location {
        var scheme: String
        var host: String

        init?(_ endpoint: String) {
            let lower = endpoint.lowercased()
            let scheme: String
            if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else { return nil }
            var rest = Substring(lower.dropFirst(scheme.count + 3))
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            guard !rest.isEmpty, !rest.contains("/"), !rest.contains("@"), !rest.contains("?"), !rest.contains("#"),
                  !rest.contains(" ") else { return nil }
            let defaultPort = scheme == "https" ? ":443" : ":80"
            if rest.hasSuffix(defaultPort) { rest = rest.dropLast(defaultPort.count) }
            self.scheme = scheme
            self.host = String(rest)
        }
    }

    /// What came back: status, the headers, and at most `AWSServiceClient.maxResponseBytes` of body.
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: String
    }
}

/// Sends signed AWS requests for the event sinks: credentials from the service's chain, region and
/// endpoint from the sink's settings, then the environment as the AWS SDKs read it.
public struct AWSServiceClient: Sendable {
    static let maxResponseBytes = 64 * 1024

    let httpClient: HTTPClient
    let credentials: any AWSCredentialsProvider
    let environment: [String: String]
    let timeout: TimeAmount

    public init(httpClient: HTTPClient, credentials: any AWSCredentialsProvider, environment: [String: String],
                timeout: TimeAmount = .seconds(10)) {
        self.httpClient = httpClient
        self.credentials = credentials
        self.environment = environment
        self.timeout = timeout
    }

    /// The region of a sink: its `region`, else the region of its resource ARN, else `AWS_REGION` /
    /// `AWS_DEFAULT_REGION`.
    func region(settings: EventSinkSettings, arn: String?) throws -> String {
        if let region = settings.region { return region }
        if let arn, let region = AWSResourceName.region(ofARN: arn) { return region }
        if let region = AWSEnvironment.region(in: environment) { return region }
        throw DeliveryError("no region: the sink names none and AWS_REGION is not set")
    }

    /// The endpoint of a sink: its `endpoint`, else `AWS_ENDPOINT_URL_<SERVICE ID>` / `AWS_ENDPOINT_URL`,
    /// else the service's public endpoint in the region.
    func endpoint(settings: EventSinkSettings, serviceID: String, endpointPrefix: String, region: String) -> String {
        settings.endpoint ?? AWSEnvironment.endpoint(service: serviceID, in: environment)
            ?? AWSResourceName.defaultEndpoint(service: endpointPrefix, region: region)
    }

    func currentCredentials() async throws -> AWSCredentials {
        do {
            return try await credentials.credentials()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw DeliveryError("credentials unavailable: \(String(describing: error).prefix(200))")
        }
    }

    /// Sends the request; a transport failure is a `DeliveryError` naming its kind.
    func send(_ request: AWSServiceRequest, operation: String) async throws -> AWSServiceRequest.Response {
        var http = HTTPClientRequest(url: request.url)
        http.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers where name != "host" {
            http.headers.add(name: name, value: value)
        }
        if request.method != "GET" {
            http.body = .bytes(ByteBuffer(string: request.body))
        }
        let response: HTTPClientResponse
        do {
            response = try await httpClient.execute(http, timeout: timeout)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw DeliveryError("\(operation): \(AWSTransportError.describe(error))")
        }
        var text = ""
        do {
            let buffer = try await response.body.collect(upTo: Self.maxResponseBytes)
            text = String(buffer: buffer)
        } catch {
            // An answer longer than any response of the operations we call, or one cut short: the status decides.
            text = ""
        }
        return AWSServiceRequest.Response(status: Int(response.status.code),
                                          headers: response.headers.map { ($0.name, $0.value) }, body: text)
    }
}

/// Python's `json.dumps` string form with `ensure_ascii` (botocore serializes JSON-protocol bodies with
/// it): `"` and `\` escaped, `\n \r \t \b \f` by name, every other code unit outside printable ASCII as a
/// lowercase `\uXXXX` (UTF-16, so astral characters as surrogate pairs).
enum ASCIIJSON {
    static func quoted(_ text: String) -> String {
        let hex = Array("0123456789abcdef".unicodeScalars)
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for unit in text.utf16 {
            switch unit {
            case 0x22: out += "\\\""
            case 0x5C: out += "\\\\"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x08: out += "\\b"
            case 0x0C: out += "\\f"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(UInt8(truncatingIfNeeded: unit)))
            default:
                out += "\\u"
                for shift in [12, 8, 4, 0] {
                    out.unicodeScalars.append(hex[Int((unit >> UInt16(shift)) & 0xF)])
                }
            }
        }
        return out + "\""
    }
}
