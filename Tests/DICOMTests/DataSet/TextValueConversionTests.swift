import Testing

@testable import DICOM

/// The text helpers pydicom's value rules rest on (Latin-1 decoding, `multi_string`, the `strip` family),
/// checked against the plain scalar-by-scalar and Character-by-Character forms they must equal.
@Suite("Text value conversion")
struct TextValueConversionTests {
    static func referenceLatin1(_ bytes: [UInt8]) -> String {
        var scalars = String.UnicodeScalarView()
        for byte in bytes { scalars.append(Unicode.Scalar(byte)) }
        return String(scalars)
    }

    static func referenceMultiString(_ value: String) -> [String] {
        referenceRStrip(value, ValueConverter.nulOrSpace).split(separator: "\\", omittingEmptySubsequences: false).map(String.init)
    }

    static func referenceRStrip(_ value: String, _ characters: Set<Character>) -> String {
        var scalars = Substring(value).unicodeScalars[...]
        while let last = scalars.last, characters.contains(Character(last)) { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }

    static func referenceStrip(_ value: String, leading: Bool) -> String {
        var scalars = Substring(value).unicodeScalars[...]
        if leading { while let first = scalars.first, String.isPythonSpace(first) { scalars.removeFirst() } }
        while let last = scalars.last, String.isPythonSpace(last) { scalars.removeLast() }
        return String(String.UnicodeScalarView(scalars))
    }

    static let texts: [String] = [
        "", " ", "\0", "  \0 ", "CT", "CT ", "ORIGINAL\\PRIMARY\\AXIAL ", "1.2.840.10008.5.1.4.1.1.2\0",
        "\\", "\\\\", "a\\", "\\b", " a \\ b ", "Müller\\Zoë ", "\u{A0}x\u{A0}", "\u{85}x\t\n", "\u{2003}x\u{2003}",
        "a\\\u{301}b", "e\u{301}\\f", "\r\n\\\r\n", "日本\\語 ", "\t\u{1C}x\u{1F} ",
    ]

    @Test func latin1DecodingKeepsEveryByteAsItsScalar() {
        let all = (0...255).map(UInt8.init)
        #expect(Latin1.string(all) == Self.referenceLatin1(all))
        #expect(Latin1.string(all).unicodeScalars.map(\.value) == (0...255).map(UInt32.init))
        #expect(Latin1.string(all[10..<200]) == Self.referenceLatin1(Array(all[10..<200])))
        #expect(Latin1.string(Array("ASCII only".utf8)) == "ASCII only")
        #expect(Latin1.string([UInt8]()) == "")
        #expect(Latin1.string([0xE9, 0x5C, 0xFF].lazy.map { $0 }) == "é\\ÿ")
    }

    @Test(arguments: texts)
    func multiStringSplitsAsCharactersDo(_ text: String) {
        #expect(ValueConverter.multiString(text) == Self.referenceMultiString(text))
    }

    @Test func aBackslashCarryingACombiningMarkIsNotADelimiter() {
        // A backslash followed by a combining mark is one Character, so it does not delimit values (such
        // text never comes from Latin-1 bytes; the byte split must not apply to it).
        #expect(ValueConverter.multiString("a\\\u{301}b") == ["a\\\u{301}b"])
        #expect(ValueConverter.multiString("a\\b\\") == ["a", "b", ""])
    }

    @Test(arguments: texts)
    func stripsEqualTheScalarByScalarForms(_ text: String) {
        #expect(text.pythonStripped() == Self.referenceStrip(text, leading: true))
        #expect(text.pythonRStripped() == Self.referenceStrip(text, leading: false))
        #expect(text.rstripping(ValueConverter.nulOrSpace) == Self.referenceRStrip(text, ValueConverter.nulOrSpace))
        #expect(text.rstripping(["x", "\u{A0}"]) == Self.referenceRStrip(text, ["x", "\u{A0}"]))
    }

    @Test func pythonSpaceInASCIIIsTheUnicodeWhiteSpaceSetPlusTheSeparators() {
        for value in UInt32(0)..<0x80 {
            let scalar = Unicode.Scalar(value)!
            let expected = scalar.properties.isWhitespace || (0x1C...0x1F).contains(value)
            #expect(String.isPythonSpace(scalar) == expected, "U+\(String(value, radix: 16))")
        }
    }
}
