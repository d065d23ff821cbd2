/// The data element registry of PS3.6 §6 (generated from the standard's tables by `scripts/generate/dictionary`).
public enum DataElementDictionary {
    public struct Entry: Sendable, Hashable {
        public var tag: Tag
        /// As PS3.6 spells it: `US`, `OB or OW`, `US or SS or OW`, `NONE`.
        public var vr: String
        public var vm: String
        public var keyword: String
        public var isRetired: Bool
    }

    private struct Repeater: Sendable {
        var mask: UInt32
        var value: UInt32
        var entry: Entry
    }

    private struct Tables: Sendable {
        var exact: [UInt32: Entry] = [:]
        var repeaters: [Repeater] = []
        var byKeyword: [String: Tag] = [:]
    }

    private static let tables: Tables = {
        var tables = Tables()
        tables.exact.reserveCapacity(5200)
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 5 else { continue }
            let key = fields[0]
            var entry = Entry(tag: Tag(0), vr: String(fields[1]), vm: String(fields[2]), keyword: String(fields[4]),
                              isRetired: fields[3] == "1")
            if key.contains("x") {
                var mask: UInt32 = 0
                var value: UInt32 = 0
                for character in key.utf8 {
                    mask <<= 4
                    value <<= 4
                    if character != UInt8(ascii: "x") {
                        mask |= 0xF
                        value |= UInt32(hexDigit(character))
                    }
                }
                entry.tag = Tag(value)
                tables.repeaters.append(Repeater(mask: mask, value: value, entry: entry))
            } else if let raw = UInt32(key, radix: 16) {
                entry.tag = Tag(raw)
                tables.exact[raw] = entry
                if !entry.keyword.isEmpty { tables.byKeyword[entry.keyword] = entry.tag }
            }
        }
        return tables
    }()

    /// The entry for a tag, including repeating groups (50xx, 60xx, …) for public tags as pydicom's
    /// `get_entry` resolves them; private tags have no entry here (see `PrivateDictionary`).
    public static func entry(for tag: Tag) -> Entry? {
        if let entry = tables.exact[tag.rawValue] { return entry }
        if tag.isPrivate { return nil }
        for repeater in tables.repeaters where tag.rawValue & repeater.mask == repeater.value {
            var entry = repeater.entry
            entry.tag = tag
            return entry
        }
        return nil
    }

    public static func tag(forKeyword keyword: String) -> Tag? { tables.byKeyword[keyword] }
}

func hexDigit(_ character: UInt8) -> UInt8 {
    switch character {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return character - UInt8(ascii: "0")
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return character - UInt8(ascii: "A") + 10
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return character - UInt8(ascii: "a") + 10
    default: return 0
    }
}

/// Private data element dictionaries (vendor conventions collected by pydicom), keyed by private creator.
public enum PrivateDictionary {
    private static let tables: [String: [String: String]] = {
        var result: [String: [String: String]] = [:]
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            result[String(fields[0]), default: [:]][String(fields[1])] = String(fields[2])
        }
        return result
    }()

    /// The VR of a private element given its block's creator, trying the keys pydicom tries
    /// (`ggggeeee`, `ggggxxee`, `ggxxxxee`), in that order.
    public static func vr(for tag: Tag, creator: String) -> String? {
        guard let entries = tables[creator] else { return nil }
        let group = Hex.uppercase16(tag.group)
        let element = Hex.uppercase16(tag.element)
        let low = element.suffix(2)
        for key in [group + element, group + "xx" + low, group.prefix(2) + "xxxx" + low] {
            if let vr = entries[key] { return vr }
        }
        return nil
    }
}
