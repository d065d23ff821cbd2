import Foundation

/// An `Encoder` that writes object members in the order `encode(to:)` encodes them, which for every
/// body of this API is the order of its schema in openapi.yaml. Foundation's `JSONEncoder` keeps
/// members in a dictionary and writes them in hash order, which differs from process to process.
///
/// Dates are RFC 3339 UTC with milliseconds (`JSONCoding.formatDate`); optionals encoded with
/// `encode(_:forKey:)` are explicit nulls, those encoded with `encodeIfPresent` are left out, exactly
/// as with `JSONEncoder`.
struct OrderedJSONEncoder {
    struct NonFiniteNumber: Error {}

    func encode<T: Encodable>(_ value: T) throws -> JSONBuffer {
        let root = try OrderedNode.make(value, codingPath: [])
        var json = JSONBuffer(capacity: 1024)
        try root.write(to: &json)
        return json
    }
}

/// One value of the document being built; objects and arrays are boxes so containers can fill them in
/// place after handing them out.
indirect enum OrderedNode {
    case null
    case bool(Bool)
    case integer(Int64)
    case unsigned(UInt64)
    case double(Double)
    case string(String)
    case object(ObjectBox)
    case array(ArrayBox)
    /// What a `superEncoder` or nested encoder put into its slot (read at write time).
    case slot(Slot)

    final class ObjectBox {
        var members: [(String, OrderedNode)] = []
        func set(_ key: String, _ node: OrderedNode) {
            // A key encoded twice keeps its first position and takes the last value, like JSONEncoder.
            if let index = members.firstIndex(where: { $0.0 == key }) {
                members[index].1 = node
            } else {
                members.append((key, node))
            }
        }
    }

    final class ArrayBox {
        var items: [OrderedNode] = []
    }

    final class Slot {
        var node: OrderedNode?
    }

    static func make<T: Encodable>(_ value: T, codingPath: [any CodingKey]) throws -> OrderedNode {
        switch value {
        case let date as Date: return .string(JSONCoding.formatDate(date))
        case let uuid as UUID: return .string(uuid.uuidString)
        case let url as URL: return .string(url.absoluteString)
        default:
            let slot = Slot()
            try value.encode(to: NodeEncoder(slot: slot, codingPath: codingPath))
            return slot.node ?? .object(ObjectBox())
        }
    }

    func write(to json: inout JSONBuffer) throws {
        switch self {
        case .null: json.null()
        case .bool(let b): json.bool(b)
        case .integer(let i): json.int(i)
        case .unsigned(let u):
            if let i = Int64(exactly: u) { json.int(i) } else { json.rawNumber(String(u)) }
        case .double(let d):
            guard d.isFinite else { throw OrderedJSONEncoder.NonFiniteNumber() }
            if d.rounded() == d, let i = Int64(exactly: d) { json.int(i) } else { json.rawNumber("\(d)") }
        case .string(let s): json.string(s)
        case .object(let box):
            json.beginObject()
            for (key, node) in box.members {
                json.key(dynamic: key)
                try node.write(to: &json)
            }
            json.endObject()
        case .array(let box):
            json.beginArray()
            for node in box.items { try node.write(to: &json) }
            json.endArray()
        case .slot(let slot):
            try (slot.node ?? .object(ObjectBox())).write(to: &json)
        }
    }
}

private struct NodeEncoder: Encoder {
    let slot: OrderedNode.Slot
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let box: OrderedNode.ObjectBox
        if case .object(let existing)? = slot.node {
            box = existing
        } else {
            box = OrderedNode.ObjectBox()
            slot.node = .object(box)
        }
        return KeyedEncodingContainer(KeyedContainer<Key>(box: box, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let box: OrderedNode.ArrayBox
        if case .array(let existing)? = slot.node {
            box = existing
        } else {
            box = OrderedNode.ArrayBox()
            slot.node = .array(box)
        }
        return UnkeyedContainer(box: box, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(slot: slot, codingPath: codingPath)
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let box: OrderedNode.ObjectBox
    var codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { box.set(key.stringValue, .null) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { box.set(key.stringValue, .bool(value)) }
    mutating func encode(_ value: String, forKey key: Key) throws { box.set(key.stringValue, .string(value)) }
    mutating func encode(_ value: Double, forKey key: Key) throws { box.set(key.stringValue, .double(value)) }
    mutating func encode(_ value: Float, forKey key: Key) throws { box.set(key.stringValue, .double(Double(value))) }
    mutating func encode(_ value: Int, forKey key: Key) throws { box.set(key.stringValue, .integer(Int64(value))) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { box.set(key.stringValue, .integer(Int64(value))) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { box.set(key.stringValue, .integer(Int64(value))) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { box.set(key.stringValue, .integer(Int64(value))) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { box.set(key.stringValue, .integer(value)) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { box.set(key.stringValue, .unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { box.set(key.stringValue, .unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { box.set(key.stringValue, .unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { box.set(key.stringValue, .unsigned(UInt64(value))) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { box.set(key.stringValue, .unsigned(value)) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        box.set(key.stringValue, try OrderedNode.make(value, codingPath: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = OrderedNode.ObjectBox()
        box.set(key.stringValue, .object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = OrderedNode.ArrayBox()
        box.set(key.stringValue, .array(nested))
        return UnkeyedContainer(box: nested, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(forKey: Key(stringValue: "super")!) }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let slot = OrderedNode.Slot()
        box.set(key.stringValue, .slot(slot))
        return NodeEncoder(slot: slot, codingPath: codingPath + [key])
    }
}

private struct IndexKey: CodingKey {
    var stringValue: String { "\(intValue ?? 0)" }
    var intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let box: OrderedNode.ArrayBox
    var codingPath: [any CodingKey]
    var count: Int { box.items.count }

    mutating func encodeNil() throws { box.items.append(.null) }
    mutating func encode(_ value: Bool) throws { box.items.append(.bool(value)) }
    mutating func encode(_ value: String) throws { box.items.append(.string(value)) }
    mutating func encode(_ value: Double) throws { box.items.append(.double(value)) }
    mutating func encode(_ value: Int) throws { box.items.append(.integer(Int64(value))) }
    mutating func encode(_ value: Int64) throws { box.items.append(.integer(value)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        box.items.append(try OrderedNode.make(value, codingPath: codingPath + [IndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = OrderedNode.ObjectBox()
        box.items.append(.object(nested))
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(box: nested, codingPath: codingPath + [IndexKey(count - 1)]))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = OrderedNode.ArrayBox()
        box.items.append(.array(nested))
        return UnkeyedContainer(box: nested, codingPath: codingPath + [IndexKey(count - 1)])
    }

    mutating func superEncoder() -> any Encoder {
        let slot = OrderedNode.Slot()
        box.items.append(.slot(slot))
        return NodeEncoder(slot: slot, codingPath: codingPath + [IndexKey(count - 1)])
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let slot: OrderedNode.Slot
    var codingPath: [any CodingKey]

    mutating func encodeNil() throws { slot.node = .null }
    mutating func encode(_ value: Bool) throws { slot.node = .bool(value) }
    mutating func encode(_ value: String) throws { slot.node = .string(value) }
    mutating func encode(_ value: Double) throws { slot.node = .double(value) }
    mutating func encode(_ value: Float) throws { slot.node = .double(Double(value)) }
    mutating func encode(_ value: Int) throws { slot.node = .integer(Int64(value)) }
    mutating func encode(_ value: Int8) throws { slot.node = .integer(Int64(value)) }
    mutating func encode(_ value: Int16) throws { slot.node = .integer(Int64(value)) }
    mutating func encode(_ value: Int32) throws { slot.node = .integer(Int64(value)) }
    mutating func encode(_ value: Int64) throws { slot.node = .integer(value) }
    mutating func encode(_ value: UInt) throws { slot.node = .unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { slot.node = .unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { slot.node = .unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { slot.node = .unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { slot.node = .unsigned(value) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        slot.node = try OrderedNode.make(value, codingPath: codingPath)
    }
}
