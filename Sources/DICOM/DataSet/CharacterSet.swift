/// Specific Character Set (0008,0005): decoding of text values (PS3.3 C.12.1.1.2, PS3.5 §6.1).
///
/// Decoding reproduces pydicom 3.0 (`pydicom/charset.py`, `pydicom/values.py`), our oracle, down to its
/// handling of defects: unknown or misspelt terms, escape sequences of sets not named in (0008,0005),
/// invalid bytes (strict decode first, then the first character set with one U+FFFD per error), and the
/// per-VR trimming of padding. Two deliberate differences, both pydicom 3.0 defects:
/// - ISO_IR 203 / ISO 2022 IR 203 (and its escape `ESC 02/13 06/02`) decode as ISO 8859-15 (Latin-9);
///   pydicom 3.0 does not know the term and falls back to Latin-1.
/// - ISO 2022 IR 58: the escape sequence `ESC $ ) A` is removed; pydicom leaves it in the text.
///
/// Values are decoded per element as pydicom does (the whole value field, then split on `\`):
/// `decodeTextValues(_:vr:)` and `decodePersonNames(_:)`. The one-value forms treat their input as a
/// whole single-valued element.
public struct SpecificCharacterSet: Sendable, Hashable {
    /// The terms as pydicom reads the CS value: padding removed from the end of the value only.
    public let terms: [String]
    /// The decoders for `terms`, after pydicom's corrections; never empty, first is the initial set.
    let codecs: [TextCodec]
    /// Terms that are neither Defined Terms nor a misspelling pydicom corrects; they decode with the
    /// default repertoire (pydicom warns "Unknown encoding"). For the caller to log; not an error.
    public var unrecognizedTerms: [String] {
        terms.enumerated().compactMap { index, term in
            index == 0 && term.isEmpty || Self.definedTerms[term] != nil || Self.correctedTerm(term) != nil
                ? nil : term
        }
    }

    /// The values of (0008,0005) as read (each may have trailing/leading spaces; empty first value = default repertoire).
    public init(terms: [String]) {
        // pydicom converts (0008,0005) like any CS value: rstrip(" \0") of the whole value, split on "\".
        let whole = terms.joined(separator: "\\")
        let values = Self.split(rstrip(whole, [" ", "\0"]), on: "\\")
        self.terms = values.count == 1 && values[0].isEmpty ? [] : values
        self.codecs = Self.convertEncodings(self.terms)
    }

    public static let defaultRepertoire = SpecificCharacterSet(terms: [])

    /// Decode ONE value (bytes already split on 0x5C by the caller, trailing padding still present or not) of a text VR
    /// ("SH","LO","ST","LT","UT","UC","AE","CS","DA","TM","DT","AS","IS","DS","UI","UR"). Must equal what pydicom 3 returns.
    ///
    /// The value is decoded and trimmed as pydicom does a single-valued element of this VR. For "PN"
    /// the result is `decodePersonName(value).formatted`.
    public func decodeText(_ value: [UInt8], vr: String) -> String {
        if vr == "PN" { return decodePersonName(value).formatted }
        return decode(value[...], vr: vr, splitValues: false).first ?? ""
    }

    /// Decodes a whole value field of a text VR into its values, exactly as pydicom 3 does
    /// (`convert_text`, `convert_single_string`, `convert_string`, ... in `pydicom/values.py`).
    /// An empty field has no values. Multi-byte sets whose second bytes can be 0x5C (GBK, GB18030)
    /// are only split correctly here, after decoding.
    public func decodeTextValues(_ element: [UInt8], vr: String) -> [String] {
        if element.isEmpty { return [] }
        if vr == "PN" { return decodePersonNames(element).map(\.formatted) }
        return decode(element[...], vr: vr, splitValues: true)
    }

    /// Decode ONE PN value into its component groups, as pydicom does when it reads a file (`convert_PN`):
    /// trailing spaces/NULs removed, the value decoded as a whole (escape sequences switch sets; CR, LF,
    /// TAB and FF return a single-byte extension to the initial set, `^` and `=` do not, unlike
    /// `_decode_personname`, which pydicom uses only for PersonName objects built from bytes), then
    /// split on "=" with trailing empty groups dropped.
    public func decodePersonName(_ value: [UInt8]) -> PersonNameGroups {
        let stripped = Self.stripPersonNamePadding(value[...])
        return Self.groups(decodeBytes(stripped))
    }

    /// Decodes a whole PN value field into its values, as pydicom's `convert_PN`. Empty field: no values.
    public func decodePersonNames(_ element: [UInt8]) -> [PersonNameGroups] {
        if element.isEmpty { return [] }
        let decoded = decodeBytes(Self.stripPersonNamePadding(element[...]))
        return Self.split(decoded, on: "\\").map(Self.groups)
    }

    // MARK: - Per-VR conversion (pydicom/values.py)

    private func decode(_ bytes: ArraySlice<UInt8>, vr: String, splitValues: Bool) -> [String] {
        func values(_ text: String) -> [String] { splitValues ? Self.split(text, on: "\\") : [text] }
        switch vr {
        case "SH", "LO", "UC":
            return values(decodeBytes(bytes)).map { rstrip($0, ["\0", " "]) }
        case "ST", "LT", "UT":
            return [rstrip(decodeBytes(bytes), ["\0", " "])]
        case "AE":
            return values(Self.latin1(bytes)).map { strip($0) }
        case "AS", "CS", "DA", "DT", "TM":
            return values(rstrip(Self.latin1(bytes), [" ", "\0"]))
        case "DS", "IS":
            // A value DSfloat / IS cannot parse makes pydicom convert the element as SH instead.
            let text = rstrip(vr == "DS" ? strip(Self.latin1(bytes)) : Self.latin1(bytes), [" ", "\0"])
            let items = values(text)
            let valid = items.allSatisfy { item in
                strip(item).isEmpty || (vr == "DS" ? PythonNumber.isFloat(item) : PythonNumber.isIntegerString(item))
            }
            guard valid else { return decode(bytes, vr: "SH", splitValues: splitValues) }
            return items.map { vr == "IS" ? PythonNumber.integerStringValue($0) : Self.numberString($0) }
        case "UI":
            return values(rstrip(Self.latin1(bytes), ["\0", " "])).map { strip($0) }
        case "UR":
            return [rstripWhitespace(Self.latin1(bytes))]
        default:
            return values(Self.latin1(bytes))
        }
    }

    /// `str()` of pydicom's DSfloat / IS: surrounding whitespace removed unless the value is only whitespace.
    private static func numberString(_ value: String) -> String {
        let stripped = strip(value)
        return stripped.isEmpty ? value : stripped
    }

    private static func latin1(_ bytes: ArraySlice<UInt8>) -> String {
        TextCodec.defaultLatin1.decode(bytes, replace: true) ?? ""
    }

    private static func stripPersonNamePadding(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var end = bytes.endIndex
        while end > bytes.startIndex, bytes[end - 1] == 0x00 || bytes[end - 1] == 0x20 { end -= 1 }
        return bytes[bytes.startIndex..<end]
    }

    /// pydicom's PersonName(str): split on "=", trailing empty groups dropped.
    private static func groups(_ value: String) -> PersonNameGroups {
        var components = split(value, on: "=")
        while let last = components.last, last.isEmpty { components.removeLast() }
        return PersonNameGroups(
            alphabetic: components.first,
            ideographic: components.count > 1 ? components[1] : nil,
            // More than three groups is invalid; keeping the rest here keeps `formatted` equal to pydicom's str().
            phonetic: components.count > 2 ? components[2...].joined(separator: "=") : nil
        )
    }

    static func split(_ text: String, on separator: Unicode.Scalar) -> [String] {
        text.unicodeScalars.split(separator: separator, omittingEmptySubsequences: false).map { String($0) }
    }

    // MARK: - pydicom/charset.py

    /// Control characters that return a code extension to the initial set (pydicom's TEXT_VR_DELIMS).
    private static let textDelimiters: Set<UInt8> = [0x0D, 0x0A, 0x09, 0x0C]
    private static let escape: UInt8 = 0x1B

    /// `decode_bytes(value, encodings, TEXT_VR_DELIMS)`.
    func decodeBytes(_ value: ArraySlice<UInt8>) -> String {
        let first = codecs[0]
        // Every supported set decodes 7-bit bytes without ESC as ASCII (shift_jis included, as in CPython).
        if value.allSatisfy({ $0 < 0x80 && $0 != Self.escape }) {
            return String(decoding: value, as: UTF8.self)
        }
        guard value.contains(Self.escape) else {
            return first.decode(value, replace: false) ?? first.decode(value, replace: true) ?? ""
        }
        // Fragments: the bytes before the first ESC, then each ESC with the bytes up to the next one.
        var result = ""
        var start = value.startIndex
        while start < value.endIndex {
            var end = start + 1
            while end < value.endIndex && value[end] != Self.escape { end += 1 }
            result += decodeFragment(value[start..<end])
            start = end
        }
        return result
    }

    /// `_decode_fragment`: on any strict failure, the whole fragment (escape included) is decoded with
    /// the first character set, replacing what it cannot decode.
    private func decodeFragment(_ fragment: ArraySlice<UInt8>) -> String {
        let first = codecs[0]
        let strict: String?
        if fragment.first == Self.escape {
            strict = decodeEscapedFragment(fragment)
        } else {
            strict = first.decode(fragment, replace: false)
        }
        return strict ?? first.decode(fragment, replace: true) ?? ""
    }

    /// `_decode_escaped_fragment`; `nil` where pydicom raises or gives up (then `decodeFragment` replaces).
    private func decodeEscapedFragment(_ fragment: ArraySlice<UInt8>) -> String? {
        let bytes = Array(fragment)
        let sequenceLength = bytes.starts(with: [0x1B, 0x24, 0x28]) || bytes.starts(with: [0x1B, 0x24, 0x29]) ? 4 : 3
        let sequence = Array(bytes.prefix(sequenceLength))
        guard let codec = Self.escapeSequences[sequence], codecs.contains(codec) || codec == .defaultLatin1 else {
            return nil  // unknown escape sequence, or one for a set not in (0008,0005)
        }
        if codec == .iso2022JP || codec == .iso2022JP2 {
            // CPython's ISO 2022 codecs interpret the escape sequence themselves.
            return codec.decode(fragment, replace: false)
        }
        let body = fragment.dropFirst(sequenceLength)
        if let delimiter = body.firstIndex(where: { Self.textDelimiters.contains($0) }) {
            guard let head = codec.decode(body[..<delimiter], replace: false),
                let tail = codecs[0].decode(body[delimiter...], replace: false)
            else { return nil }
            return head + tail
        }
        return codec.decode(body, replace: false)
    }

    /// PS3.3 Tables C.12-3 and C.12-4, as pydicom's CODES_TO_ENCODINGS (plus ISO-IR 203).
    private static let escapeSequences: [[UInt8]: TextCodec] = [
        [0x1B, 0x28, 0x42]: .defaultLatin1,  // ESC ( B  ISO-IR 6
        [0x1B, 0x2D, 0x41]: .latin1,  // ESC - A  ISO-IR 100
        [0x1B, 0x29, 0x49]: .shiftJIS,  // ESC ) I  ISO-IR 13
        [0x1B, 0x28, 0x4A]: .shiftJIS,  // ESC ( J  ISO-IR 14
        [0x1B, 0x24, 0x42]: .iso2022JP,  // ESC $ B  ISO-IR 87
        [0x1B, 0x2D, 0x42]: .iso8859_2,  // ESC - B  ISO-IR 101
        [0x1B, 0x2D, 0x43]: .iso8859_3,  // ESC - C  ISO-IR 109
        [0x1B, 0x2D, 0x44]: .iso8859_4,  // ESC - D  ISO-IR 110
        [0x1B, 0x2D, 0x46]: .iso8859_7,  // ESC - F  ISO-IR 126
        [0x1B, 0x2D, 0x47]: .iso8859_6,  // ESC - G  ISO-IR 127
        [0x1B, 0x2D, 0x48]: .iso8859_8,  // ESC - H  ISO-IR 138
        [0x1B, 0x2D, 0x4C]: .iso8859_5,  // ESC - L  ISO-IR 144
        [0x1B, 0x2D, 0x4D]: .iso8859_9,  // ESC - M  ISO-IR 148
        [0x1B, 0x2D, 0x54]: .tis620,  // ESC - T  ISO-IR 166
        [0x1B, 0x2D, 0x62]: .iso8859_15,  // ESC - b  ISO-IR 203 (not in pydicom 3.0)
        [0x1B, 0x24, 0x29, 0x43]: .eucKR,  // ESC $ ) C  ISO-IR 149
        [0x1B, 0x24, 0x28, 0x44]: .iso2022JP2,  // ESC $ ( D  ISO-IR 159
        [0x1B, 0x24, 0x29, 0x41]: .isoIR58,  // ESC $ ) A  ISO-IR 58
    ]

    /// pydicom's `python_encoding` (plus ISO_IR 203).
    private static let definedTerms: [String: TextCodec] = [
        "": .defaultLatin1,
        "ISO_IR 6": .defaultLatin1,
        "ISO_IR 13": .shiftJIS,
        "ISO_IR 100": .latin1,
        "ISO_IR 101": .iso8859_2,
        "ISO_IR 109": .iso8859_3,
        "ISO_IR 110": .iso8859_4,
        "ISO_IR 126": .iso8859_7,
        "ISO_IR 127": .iso8859_6,
        "ISO_IR 138": .iso8859_8,
        "ISO_IR 144": .iso8859_5,
        "ISO_IR 148": .iso8859_9,
        "ISO_IR 166": .tis620,
        "ISO_IR 203": .iso8859_15,
        "ISO 2022 IR 6": .defaultLatin1,
        "ISO 2022 IR 13": .shiftJIS,
        "ISO 2022 IR 87": .iso2022JP,
        "ISO 2022 IR 100": .latin1,
        "ISO 2022 IR 101": .iso8859_2,
        "ISO 2022 IR 109": .iso8859_3,
        "ISO 2022 IR 110": .iso8859_4,
        "ISO 2022 IR 126": .iso8859_7,
        "ISO 2022 IR 127": .iso8859_6,
        "ISO 2022 IR 138": .iso8859_8,
        "ISO 2022 IR 144": .iso8859_5,
        "ISO 2022 IR 148": .iso8859_9,
        "ISO 2022 IR 149": .eucKR,
        "ISO 2022 IR 159": .iso2022JP2,
        "ISO 2022 IR 166": .tis620,
        "ISO 2022 IR 203": .iso8859_15,
        "ISO 2022 IR 58": .isoIR58,
        "ISO_IR 192": .utf8,
        "GB18030": .gb18030,
        "ISO 2022 GBK": .gbk,
        "ISO 2022 58": .gb2312,
        "GBK": .gbk,
    ]

    /// Terms that allow no code extensions (PS3.3 Table C.12-5, PS3.5 §6.1.2.5.4 d).
    private static let standAlone: Set<String> = ["ISO_IR 192", "GBK", "GB18030"]

    /// `convert_encodings`: misspellings corrected, unknown terms replaced by the default repertoire,
    /// stand-alone sets only allowed alone.
    static func convertEncodings(_ terms: [String]) -> [TextCodec] {
        var terms = terms.isEmpty ? [""] : terms
        if terms[0].isEmpty { terms[0] = "ISO_IR 6" }
        var codecs = terms.map { definedTerms[$0] ?? correctedCodec($0) }
        if terms.count > 1 {
            if standAlone.contains(terms[0]) {
                codecs = [codecs[0]]
            } else {
                for index in (1..<terms.count).reversed() where standAlone.contains(terms[index]) {
                    codecs.remove(at: index)
                }
            }
        }
        return codecs
    }

    /// `_python_encoding_for_corrected_encoding`. pydicom's last resort, a Python codec name used as
    /// a term, is not supported: such terms decode with the default repertoire.
    private static func correctedCodec(_ term: String) -> TextCodec {
        correctedTerm(term).flatMap { definedTerms[$0] } ?? .defaultLatin1
    }

    /// The Defined Term pydicom's spelling corrections make of `term`, if one applies.
    private static func correctedTerm(_ term: String) -> String? {
        let scalars = Array(term.unicodeScalars)
        func at(_ i: Int) -> Unicode.Scalar? { i < scalars.count ? scalars[i] : nil }
        func matches(_ literal: String, at offset: Int) -> Bool {
            literal.unicodeScalars.enumerated().allSatisfy { at(offset + $0.offset) == $0.element }
        }
        // "^ISO[^_]IR"
        if matches("ISO", at: 0), let separator = at(3), separator != "_", matches("IR", at: 4) {
            let patched = "ISO_IR" + String(String.UnicodeScalarView(scalars.dropFirst(6)))
            return definedTerms[patched] != nil ? patched : nil
        }
        // "^(?=ISO.2022.IR.)(?!ISO 2022 IR )"
        let anyButNewline = { (i: Int) in at(i).map { $0 != "\n" } ?? false }
        if matches("ISO", at: 0), anyButNewline(3), matches("2022", at: 4), anyButNewline(8), matches("IR", at: 9),
            anyButNewline(11), !matches("ISO 2022 IR ", at: 0)
        {
            let patched = "ISO 2022 IR " + String(String.UnicodeScalarView(scalars.dropFirst(12)))
            return definedTerms[patched] != nil ? patched : nil
        }
        return nil
    }
}
