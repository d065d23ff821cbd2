/// A data element tag (PS3.5 §7.1): group and element number, ordered as the standard orders them.
public struct Tag: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var rawValue: UInt32

    public init(_ rawValue: UInt32) { self.rawValue = rawValue }
    public init(group: UInt16, element: UInt16) { self.rawValue = UInt32(group) << 16 | UInt32(element) }

    public var group: UInt16 { UInt16(truncatingIfNeeded: rawValue >> 16) }
    public var element: UInt16 { UInt16(truncatingIfNeeded: rawValue) }

    /// Odd group: a private data element (PS3.5 §7.8).
    public var isPrivate: Bool { group & 1 == 1 }
    /// (gggg,0010)–(gggg,00FF) in an odd group reserve a private block (PS3.5 §7.8.1).
    public var isPrivateCreator: Bool { isPrivate && element >= 0x0010 && element <= 0x00FF }
    /// Group length (gggg,0000).
    public var isGroupLength: Bool { element == 0 }

    public static func < (lhs: Tag, rhs: Tag) -> Bool { lhs.rawValue < rhs.rawValue }

    /// `GGGGEEEE`, uppercase hex, as DICOM JSON keys spell it (PS3.18 F.2.1.1).
    public var hexString: String { Hex.uppercase32(rawValue) }
    public var description: String { "(\(Hex.uppercase16(group)),\(Hex.uppercase16(element)))" }

    public static let item = Tag(0xFFFE_E000)
    public static let itemDelimitation = Tag(0xFFFE_E00D)
    public static let sequenceDelimitation = Tag(0xFFFE_E0DD)
    public static let specificCharacterSet = Tag(0x0008_0005)
    public static let pixelData = Tag(0x7FE0_0010)
    public static let pixelRepresentation = Tag(0x0028_0103)
}

enum Hex {
    static let digits: [UInt8] = Array("0123456789ABCDEF".utf8)

    static func uppercase32(_ value: UInt32) -> String {
        var bytes = [UInt8](repeating: 0, count: 8)
        for index in 0..<8 { bytes[index] = digits[Int((value >> (28 - 4 * UInt32(index))) & 0xF)] }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func uppercase16(_ value: UInt16) -> String {
        String(uppercase32(UInt32(value)).suffix(4))
    }
}
