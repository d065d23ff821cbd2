import Foundation

/// One invalid field of a listener configuration. `field` is a dotted path into the REST representation
/// (`name`, `storage.bucket`, `allowedPeers[2]`, `limits.maxAssociations`); `message` never repeats the
/// value, so it is safe for logs.
public struct ValidationIssue: Sendable, Hashable, Codable, CustomStringConvertible {
    public var field: String
    public var message: String

    public init(field: String, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { "\(field): \(message)" }
}

/// The value rules of a `ListenerConfig`, shared by the REST API (400 responses) and the executable
/// (configurations derived from the environment).
///
/// Every pattern here is also the `pattern` of the matching property in `openapi.yaml`, so the spec and
/// the server accept exactly the same values. Patterns are matched against the WHOLE string (ECMA-262
/// semantics: `$` does not match before a trailing newline).
public enum ListenerValidation {
    public enum Pattern {
        public static let name = "^[a-z0-9][a-z0-9-]{0,62}$"
        /// 1...16 characters of the DICOM AE character repertoire (PS3.5 §6.2, VR AE): printable ASCII
        /// except backslash, no leading or trailing space.
        public static let aeTitle = #"^[!-\[\]-~]([ -\[\]-~]{0,14}[!-\[\]-~])?$"#
        static let ipv4 = #"(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}"#
        static let ipv6 =
            "(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}"
            + "|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}"
            + "|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}"
            + "|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}|:((:[0-9a-fA-F]{1,4}){1,7}|:))"
        /// A literal IPv4 or IPv6 address (no zone, no embedded IPv4 in IPv6). Values are checked with
        /// `IPAddress(_:notation: .literal)`, which accepts exactly this pattern.
        public static let ipAddress = "^(\(ipv4)|\(ipv6))$"
        /// An IPv4 or IPv6 CIDR block, e.g. `10.0.0.0/8`, `::1/128`. Values are checked with
        /// `CIDRBlock(_:notation: .literal)`, which accepts exactly this pattern.
        public static let cidr = "^(\(ipv4)/(3[0-2]|[12]?[0-9])|\(ipv6)/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))$"
        /// S3 bucket naming rules (3...63 characters, lowercase letters, digits, dots and hyphens).
        public static let bucket = "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
        public static let region = "^[a-z0-9-]{1,32}$"
        static let tcpPort = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
        /// Scheme, host (name, IPv4, or IPv6 in brackets) and optional port.
        public static let endpoint = #"^https?://([A-Za-z0-9][A-Za-z0-9.-]*|\["# + ipv6 + #"\])(:"# + tcpPort + ")?/?$"
        /// Object key prefix: `/`-separated segments that never start with a dot (so never `..`); empty = none.
        public static let keyPrefix = "^([A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*)?$"
        /// `storage.keyTemplate` (see `KeyTemplate`): `/`-separated folders of literal `[A-Za-z0-9._-]` and
        /// placeholders, none `.` or `..`, one holding `{SOPInstanceUID}`.
        public static let keyTemplate: String = {
            let placeholder = #"\{("# + KeyTemplate.Placeholder.allCases.map(\.rawValue).joined(separator: "|") + #")\}"#
            let token = "([A-Za-z0-9._-]|\(placeholder))"
            let notDot = "([A-Za-z0-9_-]|\(placeholder))"
            let folder = #"(\.?"# + notDot + token + #"*|\.\."# + token + "+)"
            let sopFolder = token + #"*\{SOPInstanceUID\}"# + token + "*"
            return "^(\(folder)/)*\(sopFolder)(/\(folder))*$"
        }()
        /// A file system path: anything but NUL.
        public static let text = #"^[^\u0000]+$"#
        public static let storageClass = "^[A-Z_]{1,64}$"
        public static let kmsKeyID = "^[A-Za-z0-9:/_-]+$"
        /// A DICOM UID (PS3.5 §9.1): dot-separated numeric components, none empty, none with a leading zero
        /// (a component may be `0`): `UIDSyntax.strict` in the spec's terms. The 64-character bound is `maxUIDLength`.
        public static let uid = #"^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$"#
    }

    public static let maxListItems = 256
    public static let maxPathLength = 4096
    public static let maxKeyPrefixLength = 256
    /// With the longest prefixes and every placeholder at its longest, a template this long still yields
    /// keys within S3's 1024 bytes.
    public static let maxKeyTemplateLength = 160
    public static let maxKMSKeyIdLength = 2048
    /// PS3.5 §9.1: a UID is at most 64 characters.
    public static let maxUIDLength = UIDSyntax.maximumLength
    public static let maxAssociationsRange = 1...1000
    /// 0 (no limit advertised) or this range.
    public static let maxPDUSizeRange = 4096...ListenerLimits.hardMaximumPDUSize
    public static let timeoutSecondsRange = 1...86_400
    public static let cstoreDelayMsRange = 0...60_000
    /// 1 MiB to 64 GiB of inflated output per instance.
    public static let maxInflatedBytesRange = (1 << 20)...(64 << 30)
    /// Deflate cannot exceed about 1032:1, so a ratio of 1033 or more leaves only `maxInflatedBytes`.
    public static let maxInflationRatioRange = 2...100_000
    public static let gzipLevelRange = 1...9
    public static let portRange = 1...65_535

    /// Every rule the configuration breaks, in field order; empty when valid.
    public static func validate(_ listener: ListenerConfig) -> [ValidationIssue] {
        var issues: [ValidationIssue] = []
        func check(_ ok: Bool, _ field: String, _ message: String) {
            if !ok { issues.append(ValidationIssue(field: field, message: message)) }
        }
        check(matches(listener.name, Pattern.name), "name",
              "must be 1-63 lowercase letters, digits or hyphens, starting with a letter or digit")
        check(portRange.contains(listener.port), "port", "must be between 1 and 65535")
        check(IPAddress(listener.bindAddress, notation: .literal) != nil, "bindAddress", "must be a literal IPv4 or IPv6 address")
        check(matches(listener.aeTitle, Pattern.aeTitle), "aeTitle", aeTitleMessage)
        check(listener.allowedCallingAETitles.count <= maxListItems, "allowedCallingAETitles", "must have at most \(maxListItems) items")
        for (index, title) in listener.allowedCallingAETitles.enumerated() {
            check(matches(title, Pattern.aeTitle), "allowedCallingAETitles[\(index)]", aeTitleMessage)
        }
        check(listener.allowedPeers.count <= maxListItems, "allowedPeers", "must have at most \(maxListItems) items")
        for (index, block) in listener.allowedPeers.enumerated() {
            check(CIDRBlock(block, notation: .literal) != nil, "allowedPeers[\(index)]", "must be an IPv4 or IPv6 CIDR block such as 10.0.0.0/8")
        }
        check(listener.allowedSOPClasses.count <= maxListItems, "allowedSOPClasses", "must have at most \(maxListItems) items")
        for (index, uid) in listener.allowedSOPClasses.enumerated() {
            check(UIDSyntax.isValid(uid, .strict), "allowedSOPClasses[\(index)]",
                  "must be a DICOM UID: 1-64 characters, dot-separated numbers without leading zeros")
        }
        if let seconds = listener.studyStableSeconds {
            check((1...86_400).contains(seconds), "studyStableSeconds", "must be between 1 and 86400, or null to turn study events off")
        }
        if let tls = listener.tls {
            checkPath(tls.certificateFile, "tls.certificateFile", &issues)
            checkPath(tls.privateKeyFile, "tls.privateKeyFile", &issues)
            if let ca = tls.clientCAFile { checkPath(ca, "tls.clientCAFile", &issues) }
        }
        let storage = listener.storage
        switch storage.backend {
        case .s3:
            check(storage.bucket != nil, "storage.bucket", "is required when backend is s3")
        case .filesystem:
            break
        }
        if let bucket = storage.bucket {
            check(matches(bucket, Pattern.bucket), "storage.bucket", "must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)")
        }
        if let region = storage.region {
            check(matches(region, Pattern.region), "storage.region", "must be an AWS region name such as us-east-1")
        }
        if let endpoint = storage.endpoint {
            check(matches(endpoint, Pattern.endpoint), "storage.endpoint", "must be an http(s) URL of scheme, host and optional port")
        }
        if let path = storage.path { checkPath(path, "storage.path", &issues) }
        for (value, field) in [(storage.dicomPrefix, "storage.dicomPrefix"), (storage.metadataPrefix, "storage.metadataPrefix")] {
            check(value.unicodeScalars.count <= maxKeyPrefixLength && matches(value, Pattern.keyPrefix), field,
                  "must be empty or /-separated segments of letters, digits, '_', '.', '-' not starting with '.' (at most \(maxKeyPrefixLength) characters)")
        }
        if let template = storage.keyTemplate {
            let longestPrefix = max(storage.dicomPrefix.utf8.count, storage.metadataPrefix.utf8.count)
            if template.unicodeScalars.count > maxKeyTemplateLength {
                issues.append(ValidationIssue(field: "storage.keyTemplate", message: "must be at most \(maxKeyTemplateLength) characters"))
            } else if let problem = KeyTemplate.problem(with: template, longestPrefix: longestPrefix) {
                issues.append(ValidationIssue(field: "storage.keyTemplate", message: problem))
            } else if !matches(template, Pattern.keyTemplate) {
                issues.append(ValidationIssue(field: "storage.keyTemplate", message: "must match the KeyTemplate pattern of openapi.yaml"))
            }
        }
        check(gzipLevelRange.contains(storage.gzipLevel), "storage.gzipLevel", "must be between 1 and 9")
        if let storageClass = storage.storageClass {
            check(matches(storageClass, Pattern.storageClass), "storage.storageClass", "must be an S3 storage class such as STANDARD_IA")
        }
        if let key = storage.kmsKeyID {
            check(key.unicodeScalars.count <= maxKMSKeyIdLength && matches(key, Pattern.kmsKeyID), "storage.kmsKeyId",
                  "must be a KMS key id, alias or ARN")
        }
        let limits = listener.limits
        check(maxAssociationsRange.contains(limits.maxAssociations), "limits.maxAssociations", "must be between 1 and 1000")
        check(limits.maxPDUSize == 0 || maxPDUSizeRange.contains(limits.maxPDUSize), "limits.maxPDUSize",
              "must be 0 (unlimited) or between \(maxPDUSizeRange.lowerBound) and \(maxPDUSizeRange.upperBound)")
        check(timeoutSecondsRange.contains(limits.dimseTimeoutSeconds), "limits.dimseTimeoutSeconds", "must be between 1 and 86400")
        check(timeoutSecondsRange.contains(limits.networkTimeoutSeconds), "limits.networkTimeoutSeconds", "must be between 1 and 86400")
        check(cstoreDelayMsRange.contains(limits.cstoreDelayMs), "limits.cstoreDelayMs", "must be between 0 and 60000")
        check(maxInflatedBytesRange.contains(limits.maxInflatedBytes), "limits.maxInflatedBytes",
              "must be between \(maxInflatedBytesRange.lowerBound) and \(maxInflatedBytesRange.upperBound)")
        check(maxInflationRatioRange.contains(limits.maxInflationRatio), "limits.maxInflationRatio",
              "must be between \(maxInflationRatioRange.lowerBound) and \(maxInflationRatioRange.upperBound)")
        return issues
    }

    private static let aeTitleMessage = "must be 1-16 printable ASCII characters without backslash or leading/trailing spaces"

    private static func checkPath(_ path: String, _ field: String, _ issues: inout [ValidationIssue]) {
        if path.unicodeScalars.count > maxPathLength || !matches(path, Pattern.text) {
            issues.append(ValidationIssue(field: field, message: "must be 1-\(maxPathLength) characters without NUL"))
        }
    }

    /// Whole-string match of one of the patterns above.
    public static func matches(_ value: String, _ pattern: String) -> Bool {
        guard let regex = compiled(pattern) else { return false }
        let range = NSRange(value.startIndex..<value.endIndex, in: value)
        guard let match = regex.firstMatch(in: value, options: [], range: range) else { return false }
        // ICU's `$` also matches before a final line terminator; ECMA-262 (and so the spec) does not.
        return match.range == range
    }

    private static func compiled(_ pattern: String) -> NSRegularExpression? {
        regexCache.withLock { cache in
            if let regex = cache[pattern] { return regex }
            guard let regex = try? NSRegularExpression(pattern: pattern, options: []) else { return nil }
            cache[pattern] = regex
            return regex
        }
    }

    private static let regexCache = RegexCache()
}

/// Compiled patterns, shared across tasks. Owns its lock; NSRegularExpression is immutable once built.
private final class RegexCache: @unchecked Sendable {
    private let lock = NSLock()
    private var cache: [String: NSRegularExpression] = [:]

    func withLock<T>(_ body: (inout [String: NSRegularExpression]) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&cache)
    }
}
