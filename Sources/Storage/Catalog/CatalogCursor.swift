import Domain
import Foundation

/// The keyset cursor of a page: the sort key of the last row returned, as opaque base64url of
/// `kind|key|id`. `kind` makes a cursor of one query useless for another.
struct CatalogCursor: Hashable {
    enum Kind: String {
        case studies = "s"
        case instances = "i"
        case associations = "a"
    }

    var kind: Kind
    /// Studies: `first_received_at`; associations: `started_at` (microseconds since 1970);
    /// instances: instance number (absent ones sort as `Int64.max`).
    var key: Int64
    /// The unique tie-breaker: study UID, SOP Instance UID or association id.
    var id: String

    func encoded() -> String {
        Data("\(kind.rawValue)|\(key)|\(id)".utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// Parses a cursor this catalog issued for `kind`; anything else is `CatalogError(.invalidCursor)`.
    static func decode(_ text: String, kind: Kind) throws -> CatalogCursor {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        guard text.count <= 1024, let data = Data(base64Encoded: base64),
              let plain = String(data: data, encoding: .utf8) else {
            throw CatalogError(.invalidCursor, detail: "cursor is not valid base64")
        }
        let parts = plain.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let key = Int64(parts[1]), !parts[2].isEmpty else {
            throw CatalogError(.invalidCursor, detail: "cursor does not parse")
        }
        guard parts[0] == kind.rawValue else {
            throw CatalogError(.invalidCursor, detail: "cursor belongs to another query")
        }
        return CatalogCursor(kind: kind, key: key, id: String(parts[2]))
    }
}

extension PageRequest {
    /// The limit clamped to 1...1000.
    var clampedLimit: Int { min(max(limit, 1), PageRequest.maximumLimit) }
}
