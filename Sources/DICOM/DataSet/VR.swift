/// A value representation (PS3.5 §6.2), kept as its two ASCII bytes.
public struct VR: Hashable, Sendable, CustomStringConvertible {
    /// The two characters, first in the high byte: `AE` is 0x4145.
    public let code: UInt16

    public init(code: UInt16) { self.code = code }

    /// The VR named by two ASCII characters; `nil` unless it is one PS3.5 defines.
    public init?(_ string: String) {
        let bytes = Array(string.utf8)
        guard bytes.count == 2 else { return nil }
        let vr = VR(code: UInt16(bytes[0]) << 8 | UInt16(bytes[1]))
        guard VR.known.contains(vr) else { return nil }
        self = vr
    }

    public var description: String {
        String(decoding: [UInt8(code >> 8), UInt8(code & 0xFF)], as: UTF8.self)
    }

    public static let AE = VR(code: 0x4145), AS = VR(code: 0x4153), AT = VR(code: 0x4154)
    public static let CS = VR(code: 0x4353), DA = VR(code: 0x4441), DS = VR(code: 0x4453)
    public static let DT = VR(code: 0x4454), FD = VR(code: 0x4644), FL = VR(code: 0x464C)
    public static let IS = VR(code: 0x4953), LO = VR(code: 0x4C4F), LT = VR(code: 0x4C54)
    public static let OB = VR(code: 0x4F42), OD = VR(code: 0x4F44), OF = VR(code: 0x4F46)
    public static let OL = VR(code: 0x4F4C), OV = VR(code: 0x4F56), OW = VR(code: 0x4F57)
    public static let PN = VR(code: 0x504E), SH = VR(code: 0x5348), SL = VR(code: 0x534C)
    public static let SQ = VR(code: 0x5351), SS = VR(code: 0x5353), ST = VR(code: 0x5354)
    public static let SV = VR(code: 0x5356), TM = VR(code: 0x544D), UC = VR(code: 0x5543)
    public static let UI = VR(code: 0x5549), UL = VR(code: 0x554C), UN = VR(code: 0x554E)
    public static let UR = VR(code: 0x5552), US = VR(code: 0x5553), UT = VR(code: 0x5554)
    public static let UV = VR(code: 0x5556)

    public static let known: Set<VR> = [
        .AE, .AS, .AT, .CS, .DA, .DS, .DT, .FD, .FL, .IS, .LO, .LT, .OB, .OD, .OF, .OL, .OV, .OW,
        .PN, .SH, .SL, .SQ, .SS, .ST, .SV, .TM, .UC, .UI, .UL, .UN, .UR, .US, .UT, .UV,
    ]

    /// Explicit VR encodings with a reserved 2 bytes and a 32-bit length (PS3.5 §7.1.2, Table 7.1-1).
    public var hasLongExplicitLength: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .SQ, .SV, .UC, .UN, .UR, .UT, .UV: return true
        default: return false
        }
    }

    /// Values that DICOM JSON carries as InlineBinary / BulkDataURI (PS3.18 F.2.7).
    public var isBinary: Bool {
        switch self {
        case .OB, .OD, .OF, .OL, .OV, .OW, .UN: return true
        default: return false
        }
    }

    /// Character string VRs whose values are affected by (0008,0005) (PS3.5 §6.1.2.3).
    public var usesSpecificCharacterSet: Bool {
        switch self {
        case .SH, .LO, .UC, .ST, .LT, .UT, .PN: return true
        default: return false
        }
    }
}
