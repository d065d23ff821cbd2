import Crypto
import Domain
public import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// AWS Signature Version 4, header-signed and query-signed (presigned URLs).
///
/// The canonical request (AWS SigV4 "Create a canonical request"):
/// ```
/// METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n \n SignedHeaders \n PayloadHash
/// ```
/// S3 flavour, as botocore's `S3SigV4Auth`: the URI is the object path URI-encoded once (no
/// normalisation, `/` kept), query names and values are encoded with only `A-Za-z0-9-_.~` unreserved
/// and sorted by name then value, header values are trimmed with inner whitespace runs collapsed, and the
/// payload hash is the real SHA-256 of the body (sent as `x-amz-content-sha256`). Other services (botocore's
/// `SigV4Auth`) sign the same way but do not send `x-amz-content-sha256`: `sendsContentSHA256` is false
/// for them, and their URI paths are the same once-encoded form for the JSON and query protocols.
public struct SigV4Signer: Sendable {
    public static let algorithm = "AWS4-HMAC-SHA256"
    public static let unsignedPayload = "UNSIGNED-PAYLOAD"
    public static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    public var credentials: AWSCredentials
    public var region: String
    public var service: String
    /// S3 signs and sends `x-amz-content-sha256`; the other services do not.
    public var sendsContentSHA256: Bool

    public init(credentials: AWSCredentials, region: String, service: String = "s3", sendsContentSHA256: Bool? = nil) {
        self.credentials = credentials
        self.region = region
        self.service = service
        self.sendsContentSHA256 = sendsContentSHA256 ?? (service == "s3")
    }

    public struct SignedHeaders: Sendable {
        /// Every header to send, in canonical (lowercased) form, including `authorization`.
        public var headers: [(String, String)]
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
        public var authorization: String
    }

    public struct PresignedQuery: Sendable {
        /// The full query string to append after `?`, including `X-Amz-Signature`.
        public var queryString: String
        public var canonicalRequest: String
        public var stringToSign: String
        public var signature: String
    }

    /// Signs a request: adds `host`, `x-amz-date`, `x-amz-content-sha256` (S3 only) and (with a session
    /// token) `x-amz-security-token`, signs every header given, and returns them with `authorization`.
    public func sign(
        method: String,
        canonicalURI: String,
        query: [(String, String)],
        host: String,
        headers: [(String, String)],
        payloadSHA256: String,
        date: Date
    ) -> SignedHeaders {
        let amzDate = Self.amzDate(date)
        var all: [(String, String)] = headers.map { ($0.0.lowercased(), $0.1) }
        all.removeAll { ["host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token", "authorization"].contains($0.0) }
        all.append(("host", host))
        all.append(("x-amz-date", amzDate))
        if let token = credentials.sessionToken {
            all.append(("x-amz-security-token", token))
        }
        if sendsContentSHA256 {
            all.append(("x-amz-content-sha256", payloadSHA256))
        }

        let (canonicalHeaders, signedHeaderNames) = Self.canonicalHeaders(all)
        let canonicalRequest = [
            method.uppercased(), canonicalURI, Self.canonicalQuery(query),
            canonicalHeaders + "\n", signedHeaderNames, payloadSHA256,
        ].joined(separator: "\n")
        let scope = credentialScope(amzDate)
        let stringToSign = Self.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonicalRequest)
        let signature = self.signature(stringToSign: stringToSign, amzDate: amzDate)
        let authorization = "\(Self.algorithm) Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaderNames), Signature=\(signature)"
        all.append(("authorization", authorization))
        return SignedHeaders(headers: all, canonicalRequest: canonicalRequest, stringToSign: stringToSign,
                             signature: signature, authorization: authorization)
    }

    /// Query-string signing (AWS "Authenticating Requests: Using Query Parameters"): only `host` is
    /// signed and the payload is `UNSIGNED-PAYLOAD`.
    public func presign(
        method: String,
        canonicalURI: String,
        query: [(String, String)],
        host: String,
        expiresSeconds: Int,
        date: Date
    ) -> PresignedQuery {
        let amzDate = Self.amzDate(date)
        let scope = credentialScope(amzDate)
        var params = query
        params.append(("X-Amz-Algorithm", Self.algorithm))
        params.append(("X-Amz-Credential", "\(credentials.accessKeyID)/\(scope)"))
        params.append(("X-Amz-Date", amzDate))
        params.append(("X-Amz-Expires", String(expiresSeconds)))
        params.append(("X-Amz-SignedHeaders", "host"))
        if let token = credentials.sessionToken {
            params.append(("X-Amz-Security-Token", token))
        }
        let canonicalQuery = Self.canonicalQuery(params)
        let canonicalRequest = [
            method.uppercased(), canonicalURI, canonicalQuery, "host:\(host)\n", "host", Self.unsignedPayload,
        ].joined(separator: "\n")
        let stringToSign = Self.stringToSign(amzDate: amzDate, scope: scope, canonicalRequest: canonicalRequest)
        let signature = self.signature(stringToSign: stringToSign, amzDate: amzDate)
        return PresignedQuery(queryString: canonicalQuery + "&X-Amz-Signature=" + signature,
                              canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature)
    }

    private func credentialScope(_ amzDate: String) -> String {
        "\(amzDate.prefix(8))/\(region)/\(service)/aws4_request"
    }

    private static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        [algorithm, amzDate, scope, hexSHA256(Data(canonicalRequest.utf8))].joined(separator: "\n")
    }

    private func signature(stringToSign: String, amzDate: String) -> String {
        let kDate = Self.hmac(key: Data("AWS4\(credentials.secretAccessKey)".utf8), amzDate.prefix(8))
        let kRegion = Self.hmac(key: kDate, region)
        let kService = Self.hmac(key: kRegion, service)
        let kSigning = Self.hmac(key: kService, "aws4_request")
        return Self.hex(Self.hmac(key: kSigning, stringToSign))
    }

    private static func hmac(key: Data, _ message: some StringProtocol) -> Data {
        Data(HMAC<SHA256>.authenticationCode(for: Data(message.utf8), using: SymmetricKey(data: key)))
    }

    // MARK: - Canonical forms

    public static func canonicalHeaders(_ headers: [(String, String)]) -> (canonical: String, signedNames: String) {
        var grouped: [String: [String]] = [:]
        for (name, value) in headers {
            grouped[name.lowercased(), default: []].append(trimAll(value))
        }
        let names = grouped.keys.sorted(by: utf8Less)
        let canonical = names.map { "\($0):\(grouped[$0]!.joined(separator: ","))" }.joined(separator: "\n")
        return (canonical, names.joined(separator: ";"))
    }

    /// `Trimall`: strip leading/trailing whitespace and collapse inner runs to one space.
    public static func trimAll(_ value: String) -> String {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" || $0 == "\u{0B}" || $0 == "\u{0C}" })
            .joined(separator: " ")
    }

    public static func canonicalQuery(_ items: [(String, String)]) -> String {
        items.map { (uriEncode($0.0, keepSlash: false), uriEncode($0.1, keepSlash: false)) }
            .sorted { $0.0 == $1.0 ? utf8Less($0.1, $1.1) : utf8Less($0.0, $1.0) }
            .map { "\($0.0)=\($0.1)" }
            .joined(separator: "&")
    }

    /// Percent-encodes every UTF-8 byte except `A-Z a-z 0-9 - _ . ~` (and `/` when `keepSlash`).
    public static func uriEncode(_ string: String, keepSlash: Bool) -> String {
        var out = ""
        out.reserveCapacity(string.utf8.count)
        let hexDigits = Array("0123456789ABCDEF".utf8)
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out.append("%")
                out.unicodeScalars.append(Unicode.Scalar(hexDigits[Int(byte >> 4)]))
                out.unicodeScalars.append(Unicode.Scalar(hexDigits[Int(byte & 0x0F)]))
            }
        }
        return out
    }

    public static func utf8Less(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` in UTC.
    public static func amzDate(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)\(two(parts.tm_mon + 1))\(two(parts.tm_mday))T\(two(parts.tm_hour))\(two(parts.tm_min))\(two(parts.tm_sec))Z"
    }

    public static func hexSHA256(_ data: some DataProtocol) -> String {
        hex(SHA256.hash(data: data))
    }

    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        LowercaseHex.string(bytes)
    }
}
