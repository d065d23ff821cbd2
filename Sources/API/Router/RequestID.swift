import Foundation
import NIOHTTP1

enum RequestID {
    /// Echo a caller's id when it is short and plain (safe in headers and logs), else make one.
    static func choose(from headers: HTTPHeaders) -> String {
        if let incoming = headers.first(name: "X-Request-Id"), isSane(incoming) { return incoming }
        return generate()
    }

    static func generate() -> String { UUID().uuidString.lowercased() }

    static func isSane(_ id: String) -> Bool {
        let utf8 = id.utf8
        guard (1...128).contains(utf8.count) else { return false }
        return utf8.allSatisfy { c in
            (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c == 45 || c == 46 || c == 95 || c == 58
        }
    }
}
