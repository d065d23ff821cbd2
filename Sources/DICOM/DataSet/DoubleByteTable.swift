/// A double-byte mapping table, indexed by (first byte << 8 | second byte); 0 means unmapped.
struct DoubleByteTable: Sendable {
    private let values: [UInt16]

    /// `rows` is base64 of little-endian UInt16 rows: first byte, first second byte, count, code points...
    init(rows: String) {
        var values = [UInt16](repeating: 0, count: 0x10000)
        let words = Self.words(fromBase64: rows)
        var i = 0
        while i + 3 <= words.count {
            let lead = Int(words[i]), firstTrail = Int(words[i + 1]), count = Int(words[i + 2])
            i += 3
            for offset in 0..<count where i + offset < words.count {
                values[(lead << 8) | (firstTrail + offset)] = words[i + offset]
            }
            i += count
        }
        self.values = values
    }

    subscript(first: UInt8, second: UInt8) -> UInt16 {
        values[Int(first) << 8 | Int(second)]
    }

    private static func words(fromBase64 text: String) -> [UInt16] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in text.utf8 {
            let value: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            default: continue  // newlines and '=' padding
            }
            accumulator = (accumulator << 6) | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8((accumulator >> UInt32(bits)) & 0xFF))
            }
        }
        var words: [UInt16] = []
        words.reserveCapacity(bytes.count / 2)
        var j = 0
        while j + 1 < bytes.count {
            words.append(UInt16(bytes[j]) | UInt16(bytes[j + 1]) << 8)
            j += 2
        }
        return words
    }
}
