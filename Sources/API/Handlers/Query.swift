import Domain
import Foundation

/// The query string of a request, percent-decoded. A parameter given twice, a bad escape or a NUL is a
/// 400 naming the parameter.
struct QueryParameters {
    private var values: [String: String] = [:]

    init(_ raw: Substring?) throws {
        guard let raw, !raw.isEmpty else { return }
        for pair in raw.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = PercentDecoding.decode(parts[0], plusIsSpace: true) else {
                throw Problem.badHTTP("The query string is not valid percent-encoded UTF-8.")
            }
            guard let value = PercentDecoding.decode(parts.count > 1 ? parts[1] : "", plusIsSpace: true) else {
                throw Problem.invalid(name, "is not valid percent-encoded UTF-8")
            }
            if values[name] != nil { throw Problem.invalid(name, "must be given at most once") }
            values[name] = value
        }
    }

    /// A free-text filter: 1...maxLength characters, no NUL.
    func string(_ name: String, maxLength: Int = 64) throws -> String? {
        guard let value = values[name] else { return nil }
        guard !value.isEmpty, value.unicodeScalars.count <= maxLength, !value.unicodeScalars.contains("\0") else {
            throw Problem.invalid(name, "must be 1-\(maxLength) characters without NUL")
        }
        return value
    }

    func uuid(_ name: String) throws -> UUID? {
        guard let value = values[name] else { return nil }
        guard let uuid = UUID(uuidString: value) else { throw Problem.invalid(name, "must be a UUID") }
        return uuid
    }

    func dateTime(_ name: String) throws -> Date? {
        guard let value = values[name] else { return nil }
        guard let date = RFC3339.parse(value) else {
            throw Problem.invalid(name, "must be an RFC 3339 date-time such as 2024-01-31T12:00:00Z")
        }
        return date
    }

    /// The form of each query's `cursor` (the patterns and lengths of openapi.yaml): a value of this form
    /// is a position the catalog can continue after; any other is refused here, naming `cursor`.
    enum CursorForm {
        case studies, instances, associations, events

        var pattern: String {
            switch self {
            case .studies: return #"^s-?[0-9]{1,19}_[0-9]+(\.[0-9]+)*$"#
            case .instances: return #"^i-?[0-9]{1,19}_[0-9]+(\.[0-9]+)*$"#
            case .associations: return "^a-?[0-9]{1,19}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
            case .events: return "^e-?[0-9]{1,19}_[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
            }
        }

        /// Whole-string match of `pattern`, by hand: an `NSRegularExpression` match costs more than the
        /// rest of parsing the query. `StudiesResponsePathTests` holds the two to the same answers.
        func matches(_ cursor: String) -> Bool {
            var utf8 = cursor.utf8[...]
            let kind: UInt8
            switch self {
            case .studies: kind = UInt8(ascii: "s")
            case .instances: kind = UInt8(ascii: "i")
            case .associations: kind = UInt8(ascii: "a")
            case .events: kind = UInt8(ascii: "e")
            }
            guard utf8.popFirst() == kind else { return false }
            if utf8.first == UInt8(ascii: "-") { utf8.removeFirst() }
            // -?[0-9]{1,19}_
            let key = utf8.prefix { Self.isDigit($0) }
            guard (1...19).contains(key.count) else { return false }
            utf8 = utf8.dropFirst(key.count)
            guard utf8.popFirst() == UInt8(ascii: "_") else { return false }
            switch self {
            case .studies, .instances:
                // [0-9]+(\.[0-9]+)*
                var component = 0
                for byte in utf8 {
                    if Self.isDigit(byte) {
                        component += 1
                    } else if byte == UInt8(ascii: "."), component > 0 {
                        component = 0
                    } else {
                        return false
                    }
                }
                return component > 0
            case .associations, .events:
                // [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}
                guard utf8.count == 36 else { return false }
                for (offset, byte) in utf8.enumerated() {
                    if offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                        guard byte == UInt8(ascii: "-") else { return false }
                    } else {
                        guard Self.isDigit(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte) else { return false }
                    }
                }
                return true
            }
        }

        private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

        var lengths: ClosedRange<Int> {
            switch self {
            case .studies, .instances: return 4...86
            case .associations, .events: return 39...58
            }
        }
    }

    func page(_ form: CursorForm) throws -> PageRequest {
        var page = PageRequest()
        if let raw = values["limit"] {
            guard let limit = Int(raw), (1...PageRequest.maximumLimit).contains(limit) else {
                throw Problem.invalid("limit", "must be an integer between 1 and \(PageRequest.maximumLimit)")
            }
            page.limit = limit
        }
        if let cursor = values["cursor"] {
            guard form.lengths.contains(cursor.utf8.count), form.matches(cursor) else {
                throw Problem.invalid("cursor", "must be the nextCursor of a previous page of this list")
            }
            page.cursor = cursor
        }
        return page
    }

    /// `YYYYMMDD` or `YYYYMMDD-YYYYMMDD` (DICOM DA range, both ends inclusive).
    func studyDate() throws -> (from: String, to: String)? {
        guard let value = values["studyDate"] else { return nil }
        let parts = value.split(separator: "-", omittingEmptySubsequences: false)
        let valid = (parts.count == 1 || parts.count == 2)
            && parts.allSatisfy { $0.utf8.count == 8 && $0.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
        guard valid else { throw Problem.invalid("studyDate", "must be YYYYMMDD or YYYYMMDD-YYYYMMDD") }
        return (String(parts[0]), String(parts[parts.count - 1]))
    }
}
