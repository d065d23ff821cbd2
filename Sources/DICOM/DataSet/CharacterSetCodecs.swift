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
        pairStep(bytes, i, CharacterSetTables.gb2312, xor: 0x80)
    }

    private static func gbkStep(_ bytes: ArraySlice<UInt8>, _ i: Int) -> Step {
        pairStep(bytes, i, CharacterSetTables.gbk, xor: 0)
    }

    /// ASCII below 0x80; otherwise a lead and a trail byte looked up in `table`, both XORed with `xor`
    /// (0x80 for an EUC form over a GL-indexed table).
    private static func pairStep(_ bytes: ArraySlice<UInt8>, _ i: Int, _ table: DoubleByteTable, xor: UInt8) -> Step {
        let c = bytes[i]
        if c < 0x80 { return .character(UInt32(c), consumed: 1) }
        guard i + 1 < bytes.endIndex else { return .incomplete }
        let value = table[c ^ xor, bytes[i + 1] ^ xor]
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
