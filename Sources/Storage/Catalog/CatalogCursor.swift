import Domain
import Foundation

/// The keyset cursor of a page: the sort key of the last row returned, written `<kind><key>_<id>`
/// (`s1767225600000000_1.2.3`, `i7_1.2.3.4`, `a1767225600000000_<uuid>`). The format is plain so that
/// openapi.yaml can state it exactly (one pattern per query): every string of that pattern is a position
/// the query can start after, so a well-formed cursor is never refused. `kind` keeps a cursor of one
/// query from being taken for another's.
struct CatalogCursor: Hashable {
    enum Kind: String {
        case studies = "s"
        case instances = "i"
        case associations = "a"
        case events = "e"
    }

    var kind: Kind
    /// Studies: `first_received_at`; associations: `started_at` (microseconds since 1970);
    /// instances: instance number (absent ones sort as `Int64.max`).
    var key: Int64
    /// The unique tie-breaker: study UID, SOP Instance UID or association id (lowercase).
    var id: String

    func encoded() -> String {
        "\(kind.rawValue)\(key)_\(kind == .associations || kind == .events ? id.lowercased() : id)"
    }

    /// Parses a cursor of `kind`; anything else is `CatalogError(.invalidCursor)`. A key beyond the
    /// 64-bit range is clamped: it still names a position (before the first or after the last row).
    static func decode(_ text: String, kind: Kind) throws -> CatalogCursor {
        let utf8 = Array(text.utf8)
        guard utf8.count <= 1024, let first = utf8.first else {
            throw CatalogError(.invalidCursor, detail: "cursor is empty or too long")
        }
        guard first == kind.rawValue.utf8.first else {
            throw CatalogError(.invalidCursor, detail: "cursor belongs to another query")
        }
        guard let separator = utf8.firstIndex(of: UInt8(ascii: "_")), separator + 1 < utf8.count else {
            throw CatalogError(.invalidCursor, detail: "cursor does not parse")
        }
        var digits = utf8[1..<separator]
        let negative = digits.first == UInt8(ascii: "-")
        if negative { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw CatalogError(.invalidCursor, detail: "cursor does not parse")
        }
        var magnitude: UInt64 = 0
        for digit in digits {
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times10.addingReportingOverflow(UInt64(digit - 48))
            magnitude = (o1 || o2) ? UInt64.max : sum
        }
        let key: Int64 = negative
            ? (magnitude > UInt64(Int64.max) ? Int64.min : -Int64(magnitude))
            : Int64(clamping: magnitude)
        let id = String(decoding: utf8[(separator + 1)...], as: UTF8.self)
        guard !id.unicodeScalars.contains("\0") else {
            throw CatalogError(.invalidCursor, detail: "cursor does not parse")
        }
        return CatalogCursor(kind: kind, key: key, id: id)
    }
}

extension PageRequest {
    /// The limit clamped to 1...1000.
    var clampedLimit: Int { min(max(limit, 1), PageRequest.maximumLimit) }
}
