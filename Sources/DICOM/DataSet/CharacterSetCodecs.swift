/// The byte-to-text decoders behind `SpecificCharacterSet`.
///
/// Each decoder reproduces the CPython codec pydicom uses for the same Defined Term, including how it
/// fails: pydicom first decodes strictly and, on failure, decodes again with `errors="replace"`, so both
/// the strict verdict and the replacement layout (one U+FFFD per error, the bytes each error swallows)
/// must agree with CPython's `Modules/cjkcodecs` and `Objects/unicodeobject.c`.
enum TextCodec: Sendable, Hashable {
    /// pydicom's `default_encoding` ("iso8859", i.e. Latin-1): the default repertoire and ISO 2022 IR 6.
    case defaultLatin1
    /// "latin_1": ISO_IR 100. Decodes like `defaultLatin1`, but is a different name in pydicom's checks.
    case latin1
    case iso8859_2, iso8859_3, iso8859_4, iso8859_5, iso8859_6, iso8859_7, iso8859_8, iso8859_9
    /// ISO_IR 203 (Latin-9). pydicom 3.0 does not know this term (see `SpecificCharacterSet`).
    case iso8859_15
    case tis620
    /// "shift_jis": ISO_IR 13 (JIS X 0201 in G0/G1) and, for decoding, JIS X 0208 in Shift-JIS form.
    case shiftJIS
    /// "iso2022_jp": ISO 2022 IR 87 (JIS X 0208), escape sequences interpreted by the codec.
    case iso2022JP
    /// "iso2022_jp_2": ISO 2022 IR 159 (JIS X 0212), escape sequences interpreted by the codec.
    case iso2022JP2
    /// "euc_kr": ISO 2022 IR 149 (KS X 1001 in G1).
    case eucKR
    /// "iso_ir_58": ISO 2022 IR 58 (GB 2312 in G1).
    case isoIR58
    /// "GB2312": the CP1234 term "ISO 2022 58".
    case gb2312
    case utf8
    case gb18030
    case gbk

    /// Decodes `bytes`; `nil` when `replace` is false and the bytes are invalid for this codec.
    func decode(_ bytes: ArraySlice<UInt8>, replace: Bool) -> String? {
        switch self {
        case .defaultLatin1, .latin1:
            var scalars = String.UnicodeScalarView()
            for byte in bytes { scalars.append(Unicode.Scalar(byte)) }
            return String(scalars)
        case .iso8859_2: return Self.singleByte(bytes, CharacterSetTables.iso8859_2, replace)
        case .iso8859_3: return Self.singleByte(bytes, CharacterSetTables.iso8859_3, replace)
        case .iso8859_4: return Self.singleByte(bytes, CharacterSetTables.iso8859_4, replace)
        case .iso8859_5: return Self.singleByte(bytes, CharacterSetTables.iso8859_5, replace)
        case .iso8859_6: return Self.singleByte(bytes, CharacterSetTables.iso8859_6, replace)
        case .iso8859_7: return Self.singleByte(bytes, CharacterSetTables.iso8859_7, replace)
        case .iso8859_8: return Self.singleByte(bytes, CharacterSetTables.iso8859_8, replace)
        case .iso8859_9: return Self.singleByte(bytes, CharacterSetTables.iso8859_9, replace)
        case .iso8859_15: return Self.singleByte(bytes, CharacterSetTables.iso8859_15, replace)
        case .tis620: return Self.singleByte(bytes, CharacterSetTables.tis620, replace)
        case .utf8:
            if let strict = String(validating: bytes, as: UTF8.self) { return strict }
            // Swift and CPython both replace each maximal subpart of an ill-formed sequence by one U+FFFD.
            return replace ? String(decoding: bytes, as: UTF8.self) : nil
        case .shiftJIS, .eucKR, .isoIR58, .gb2312, .gbk, .gb18030:
            return Self.multiByte(bytes, self, replace)
        case .iso2022JP:
            return ISO2022Decoder(allowsJIS2: false).decode(bytes, replace: replace)
        case .iso2022JP2:
            return ISO2022Decoder(allowsJIS2: true).decode(bytes, replace: replace)
        }
    }

    private static func singleByte(_ bytes: ArraySlice<UInt8>, _ table: [UInt16], _ replace: Bool) -> String? {
        var scalars = String.UnicodeScalarView()
        for byte in bytes {
            if byte < 0x80 {
                scalars.append(Unicode.Scalar(byte))
                continue
            }
            let value = table[Int(byte) - 0x80]
            if value == 0xFFFF {
                guard replace else { return nil }
                scalars.append(replacementCharacter)
            } else {
                scalars.append(scalar(UInt32(value)))
            }
        }
        return String(scalars)
    }

    /// The outcome of one step of a CJK decoder (`DECODER(...)` in CPython's cjkcodecs).
    private enum Step {
        case character(UInt32, consumed: Int)
        /// "illegal multibyte sequence": CPython replaces `length` bytes with one U+FFFD.
        case illegal(length: Int)
        /// `MBERR_TOOFEW`, "incomplete multibyte sequence": one U+FFFD for everything that is left.
        case incomplete
    }

    private static func multiByte(_ bytes: ArraySlice<UInt8>, _ codec: TextCodec, _ replace: Bool) -> String? {
        var scalars = String.UnicodeScalarView()
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let step: Step
            switch codec {
            case .shiftJIS: step = shiftJISStep(bytes, index)
            case .eucKR: step = eucKRStep(bytes, index)
            case .isoIR58, .gb2312: step = gb2312Step(bytes, index)
            case .gbk: step = gbkStep(bytes, index)
            default: step = gb18030Step(bytes, index)
            }
            switch step {
            case .character(let value, let consumed):
                scalars.append(scalar(value))
                index += consumed
            case .illegal(let length):
                guard replace else { return nil }
                scalars.append(replacementCharacter)
                index += length
            case .incomplete:
                guard replace else { return nil }
                scalars.append(replacementCharacter)
                index = bytes.endIndex
            }
        }
        return String(scalars)
    }

    private static func shiftJISStep(_ bytes: ArraySlice<UInt8>, _ i: Int) -> Step {
        let c = bytes[i]
        if c < 0x80 { return .character(UInt32(c), consumed: 1) }
        let single = CharacterSetTables.shiftJISSingle[Int(c) - 0x80]
        if single != 0xFFFF { return .character(UInt32(single), consumed: 1) }
        guard (0x81...0x9F).contains(c) || (0xE0...0xEA).contains(c) else { return .illegal(length: 1) }
        guard i + 1 < bytes.endIndex else { return .incomplete }
        let value = CharacterSetTables.shiftJIS[c, bytes[i + 1]]
        return value == 0 ? .illegal(length: 1) : .character(UInt32(value), consumed: 2)
    }

    private static func gb2312Step(_ bytes: ArraySlice<UInt8>, _ i: Int) -> Step {
        let c = bytes[i]
        if c < 0x80 { return .character(UInt32(c), consumed: 1) }
        guard i + 1 < bytes.endIndex else { return .incomplete }
        let value = CharacterSetTables.gb2312[c ^ 0x80, bytes[i + 1] ^ 0x80]
        return value == 0 ? .illegal(length: 1) : .character(UInt32(value), consumed: 2)
    }

    private static func gbkStep(_ bytes: ArraySlice<UInt8>, _ i: Int) -> Step {
        let c = bytes[i]
        if c < 0x80 { return .character(UInt32(c), consumed: 1) }
        guard i + 1 < bytes.endIndex else { return .incomplete }
        let value = CharacterSetTables.gbk[c, bytes[i + 1]]
        return value == 0 ? .illegal(length: 1) : .character(UInt32(value), consumed: 2)
    }

    private static func gb18030Step(_ bytes: ArraySlice<UInt8>, _ i: Int) -> Step {
        let c = bytes[i]
        if c < 0x80 { return .character(UInt32(c), consumed: 1) }
        guard i + 1 < bytes.endIndex else { return .incomplete }
        let c2 = bytes[i + 1]
        if (0x30...0x39).contains(c2) {
            guard i + 3 < bytes.endIndex else { return .incomplete }
            let c3 = bytes[i + 2], c4 = bytes[i + 3]
            guard (0x81...0xFE).contains(c), (0x81...0xFE).contains(c3), (0x30...0x39).contains(c4) else {
                return .illegal(length: 1)
            }
            let b1 = UInt32(c - 0x81), b2 = UInt32(c2 - 0x30), b3 = UInt32(c3 - 0x81), b4 = UInt32(c4 - 0x30)
            if b1 < 4 {
                let linear = (b1 * 10 + b2) * 1260 + b3 * 10 + b4
                if linear < 39420 { return .character(gb18030FourByte(linear), consumed: 4) }
            } else if b1 >= 15 {
                let value = 0x10000 + ((b1 - 15) * 10 + b2) * 1260 + b3 * 10 + b4
                if value <= 0x10FFFF { return .character(value, consumed: 4) }
            }
            return .illegal(length: 1)
        }
        let value = CharacterSetTables.gb18030TwoByte[c, c2]
        return value == 0 ? .illegal(length: 1) : .character(UInt32(value), consumed: 2)
    }

    private static func gb18030FourByte(_ linear: UInt32) -> UInt32 {
        let runs = CharacterSetTables.gb18030FourByteRuns
        var low = 0, high = runs.count - 1
        while low < high {
            let middle = (low + high + 1) / 2
            if runs[middle].index <= linear { low = middle } else { high = middle - 1 }
        }
        return runs[low].codePoint + (linear - runs[low].index)
    }

    /// KS X 1001:1998 Annex 3 make-up sequences, as CPython's euc_kr decodes them.
    private static let choseong: [UInt8] = [
        0, 1, 127, 2, 127, 127, 3, 4, 5, 127, 127, 127, 127, 127, 127, 127,
        6, 7, 8, 127, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18,
    ]
    private static let jongseong: [UInt8] = [
        1, 2, 3, 4, 5, 6, 7, 127, 8, 9, 10, 11, 12, 13, 14, 15,
        16, 17, 127, 18, 19, 20, 21, 22, 127, 23, 24, 25, 26, 27,
    ]

    private static func eucKRStep(_ bytes: ArraySlice<UInt8>, _ i: Int) -> Step {
        let c = bytes[i]
        if c < 0x80 { return .character(UInt32(c), consumed: 1) }
        guard i + 1 < bytes.endIndex else { return .incomplete }
        let c2 = bytes[i + 1]
        if c == 0xA4 && c2 == 0xD4 {
            guard i + 7 < bytes.endIndex else { return .incomplete }
            guard bytes[i + 2] == 0xA4, bytes[i + 4] == 0xA4, bytes[i + 6] == 0xA4 else { return .illegal(length: 1) }
            let b3 = bytes[i + 3], b5 = bytes[i + 5], b7 = bytes[i + 7]
            let cho: UInt8 = (0xA1...0xBE).contains(b3) ? choseong[Int(b3) - 0xA1] : 127
            let jung: UInt8 = (0xBF...0xD3).contains(b5) ? b5 - 0xBF : 127
            let jong: UInt8 = b7 == 0xD4 ? 0 : (0xA1...0xBE).contains(b7) ? jongseong[Int(b7) - 0xA1] : 127
            guard cho != 127, jung != 127, jong != 127 else { return .illegal(length: 1) }
            return .character(0xAC00 + UInt32(cho) * 588 + UInt32(jung) * 28 + UInt32(jong), consumed: 8)
        }
        let value = CharacterSetTables.ksX1001[c ^ 0x80, c2 ^ 0x80]
        return value == 0 ? .illegal(length: 1) : .character(UInt32(value), consumed: 2)
    }
}

let replacementCharacter: Unicode.Scalar = "\u{FFFD}"

/// Every table value is a Unicode scalar value; anything else would be a generator bug, shown as U+FFFD.
func scalar(_ value: UInt32) -> Unicode.Scalar {
    Unicode.Scalar(value) ?? replacementCharacter
}

/// CPython's `iso2022_jp` and `iso2022_jp_2` decoders (`Modules/cjkcodecs/_codecs_iso2022.c`): both have
/// NO_SHIFT and USE_JISX0208_EXT; `iso2022_jp_2` adds JIS X 0212, KS X 1001, GB 2312 and the G2 sets
/// ISO 8859-1 / ISO 8859-7 reached with single shift 2 (ESC N).
struct ISO2022Decoder {
    let allowsJIS2: Bool

    /// Graphic sets as CPython marks them: the final byte, with 0x80 added for double-byte sets.
    private static let ascii: UInt8 = 0x42  // 'B'
    private static let iso8859_1: UInt8 = 0x41  // 'A' (G2 only, no G0 decoder)
    private static let iso8859_7: UInt8 = 0x46  // 'F' (G2 only, no G0 decoder)
    private static let jisX0201Roman: UInt8 = 0x4A  // 'J'
    private static let gb2312: UInt8 = 0x41 | 0x80
    private static let jisX0208: UInt8 = 0x42 | 0x80
    private static let ksX1001: UInt8 = 0x43 | 0x80
    private static let jisX0212: UInt8 = 0x44 | 0x80
    private static let jisX0208Old: UInt8 = 0x40 | 0x80

    private var designations: [UInt8] {
        allowsJIS2
            ? [Self.jisX0208, Self.jisX0212, Self.ksX1001, Self.gb2312, Self.jisX0201Roman, Self.jisX0208Old,
               Self.iso8859_1, Self.iso8859_7]
            : [Self.jisX0208, Self.jisX0201Roman, Self.jisX0208Old]
    }

    private enum Failure: Error {
        case illegal(Int)
        case incomplete
    }

    func decode(_ bytes: ArraySlice<UInt8>, replace: Bool) -> String? {
        var scalars = String.UnicodeScalarView()
        var g0 = Self.ascii, g2 = Self.ascii
        var escapeThroughout = false
        var i = bytes.startIndex
        func isEscapeEnd(_ c: UInt8) -> Bool { (0x41...0x5A).contains(c) || c == 0x40 }
        while i < bytes.endIndex {
            let c = bytes[i]
            var failure: Failure?
            if escapeThroughout {
                scalars.append(Unicode.Scalar(c))
                i += 1
                if isEscapeEnd(c) { escapeThroughout = false }
                continue
            }
            switch c {
            case 0x1B:
                guard i + 1 < bytes.endIndex else { failure = .incomplete; break }
                let c2 = bytes[i + 1]
                if [0x28, 0x29, 0x24, 0x2E, 0x26].contains(c2) {  // ( ) $ . &
                    switch processEscape(bytes, i) {
                    case .success(let (designation, charset, length)):
                        switch designation {
                        case 0: g0 = charset
                        case 1: break  // G1 is never invoked: both codecs are NO_SHIFT
                        default: g2 = charset
                        }
                        i += length
                    case .failure(let error):
                        failure = error
                    }
                } else if allowsJIS2 && c2 == 0x4E {  // ESC N: single shift 2
                    guard i + 2 < bytes.endIndex else { failure = .incomplete; break }
                    let c3 = bytes[i + 2]
                    if let value = Self.decodeG2(g2, c3) {
                        scalars.append(scalar(value))
                        i += 3
                    } else {
                        failure = .illegal(3)
                    }
                } else {
                    scalars.append(Unicode.Scalar(c))
                    escapeThroughout = true
                    i += 1
                }
            default:
                if c < 0x20 || g0 == Self.ascii && c < 0x80 {
                    // C0 controls (SI/SO included: NO_SHIFT), and ASCII in G0.
                    scalars.append(Unicode.Scalar(c))
                    i += 1
                } else if c >= 0x80 {
                    failure = .illegal(1)
                } else if g0 & 0x80 == 0 {
                    if g0 == Self.jisX0201Roman {
                        scalars.append(scalar(c == 0x5C ? 0xA5 : c == 0x7E ? 0x203E : UInt32(c)))
                        i += 1
                    } else {
                        failure = .illegal(1)  // ISO 8859-1/-7 have no G0 decoder in CPython
                    }
                } else {
                    guard i + 1 < bytes.endIndex else { failure = .incomplete; break }
                    let value = Self.decodeDoubleByte(g0, c, bytes[i + 1])
                    if value == 0 {
                        failure = .illegal(2)
                    } else {
                        scalars.append(scalar(UInt32(value)))
                        i += 2
                    }
                }
            }
            switch failure {
            case nil: break
            case .illegal(let length)?:
                guard replace else { return nil }
                scalars.append(replacementCharacter)
                i = min(i + length, bytes.endIndex)
            case .incomplete?:
                guard replace else { return nil }
                scalars.append(replacementCharacter)
                i = bytes.endIndex
            }
        }
        return String(scalars)
    }

    private static func decodeDoubleByte(_ charset: UInt8, _ c1: UInt8, _ c2: UInt8) -> UInt16 {
        switch charset {
        case jisX0208, jisX0208Old: return CharacterSetTables.jisX0208[c1, c2]
        case jisX0212: return CharacterSetTables.jisX0212[c1, c2]
        case ksX1001: return CharacterSetTables.ksX1001[c1, c2]
        case gb2312: return CharacterSetTables.gb2312[c1, c2]
        default: return 0
        }
    }

    private static func decodeG2(_ charset: UInt8, _ c: UInt8) -> UInt32? {
        switch charset {
        case iso8859_1:
            return c < 0x80 ? UInt32(c) + 0x80 : nil
        case iso8859_7:
            // ISO8859_7_DECODE(c ^ 0x80) in CPython.
            let c = UInt32(c ^ 0x80)
            if c < 0xA0 { return c }
            if c < 0xC0 && (0x288F_3BC9 as UInt32) & (1 << (c - 0xA0)) != 0 { return c }
            if c >= 0xB4 && c <= 0xFE && (c >= 0xD4 || (0xBFFF_FD77 as UInt32) & (1 << (c - 0xB4)) != 0) {
                return 0x02D0 + c
            }
            if c == 0xA1 { return 0x2018 }
            if c == 0xA2 { return 0x2019 }
            if c == 0xAF { return 0x2015 }
            return nil
        default:
            return c & 0x80 != 0 ? nil : UInt32(c)
        }
    }

    /// `iso2022processesc`: returns (designation, charset, length) or the error to report.
    private func processEscape(
        _ bytes: ArraySlice<UInt8>, _ start: Int
    ) -> Result<(Int, UInt8, Int), Failure> {
        let left = bytes.endIndex - start
        var i = 1
        var escapeLength = 0
        while i < 16 {
            if i >= left { return .failure(.incomplete) }
            let c = bytes[start + i]
            if (0x41...0x5A).contains(c) || c == 0x40 {
                escapeLength = i + 1
                break
            } else if i + 1 < left && c == 0x26 && bytes[start + i + 1] == 0x40 {  // &@ prefix
                i += 2
            }
            i += 1
        }
        if i >= 16 { return .failure(.illegal(1)) }
        func byte(_ n: Int) -> UInt8 { bytes[start + n - 1] }  // IN1 is the ESC
        let designation: Int
        let charset: UInt8
        switch escapeLength {
        case 3:
            if byte(2) == 0x24 {
                charset = byte(3) | 0x80
                designation = 0
            } else {
                charset = byte(3)
                if byte(2) == 0x28 {
                    designation = 0
                } else if byte(2) == 0x29 {
                    designation = 1
                } else if allowsJIS2 && byte(2) == 0x2E {
                    designation = 2
                } else {
                    return .failure(.illegal(3))
                }
            }
        case 4:
            guard byte(2) == 0x24 else { return .failure(.illegal(4)) }
            charset = byte(4) | 0x80
            if byte(3) == 0x28 {
                designation = 0
            } else if byte(3) == 0x29 {
                designation = 1
            } else {
                return .failure(.illegal(4))
            }
        case 6:
            guard bytes[start + 3] == 0x1B, bytes[start + 4] == 0x24, bytes[start + 5] == 0x42 else {
                return .failure(.illegal(6))
            }
            charset = Self.jisX0208
            designation = 0
        default:
            return .failure(.illegal(escapeLength))
        }
        if charset != Self.ascii && !designations.contains(charset) {
            return .failure(.illegal(escapeLength))
        }
        return .success((designation, charset, escapeLength))
    }
}

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
