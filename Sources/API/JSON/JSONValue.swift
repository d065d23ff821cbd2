import Foundation

/// A parsed JSON document, kept exactly enough to validate it field by field and to apply a merge patch.
/// Object member order is not kept (JSON objects are unordered).
enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case integer(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        // JSON has no type tag the container exposes, so each kind is probed in turn; a mismatch is the
        // expected outcome of a probe, not an error to report. Only the last probe's error escapes.
        if c.decodeNil() { self = .null; return }
        if let b = Self.probe({ try c.decode(Bool.self) }) { self = .bool(b); return }
        if let i = Self.probe({ try c.decode(Int64.self) }) { self = .integer(i); return }
        if let d = Self.probe({ try c.decode(Double.self) }) { self = .double(d); return }
        if let s = Self.probe({ try c.decode(String.self) }) { self = .string(s); return }
        if let a = Self.probe({ try c.decode([JSONValue].self) }) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    private static func probe<T>(_ body: () throws -> T) -> T? {
        do { return try body() } catch { return nil }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .integer(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }

    /// The JSON Schema integer view: 80 and 80.0 are both the integer 80.
    var integerValue: Int64? {
        switch self {
        case .integer(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e15: return Int64(d)
        default: return nil
        }
    }

    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .integer, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// RFC 7396 JSON Merge Patch: objects merge member by member, `null` removes a member, anything
    /// else replaces the target.
    func merging(patch: JSONValue) -> JSONValue {
        guard case .object(let patchMembers) = patch else { return patch }
        var result: [String: JSONValue]
        if case .object(let members) = self { result = members } else { result = [:] }
        for (key, value) in patchMembers {
            if value == .null {
                result.removeValue(forKey: key)
            } else {
                result[key] = (result[key] ?? .null).merging(patch: value)
            }
        }
        return .object(result)
    }
}
