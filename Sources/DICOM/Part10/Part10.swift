public import NIOCore

/// DICOM File Format (PS3.10 §7.1): a 128-byte preamble, `DICM`, then the File Meta Information
/// (group 0002, always explicit VR little endian), then the data set exactly as received.
///
///     [128 × 0x00] "DICM"
///     (0002,0000) UL 4 group length          (0002,0001) OB 00\01 version
///     (0002,0002) UI media storage SOP class (0002,0003) UI media storage SOP instance
///     (0002,0010) UI transfer syntax         (0002,0012) UI implementation class UID
///     (0002,0013) SH implementation version  (0002,0016) AE source AE title
///     (0002,0017) AE sending AE title        (0002,0018) AE receiving AE title
public enum Part10 {
    /// A value that cannot be written into the File Meta Information: not in the default character
    /// repertoire (PS3.5 §6.1.2) or longer than its VR allows (UI 64, SH and AE 16 characters).
    public struct HeaderError: Error, Sendable, Hashable, CustomStringConvertible {
        /// The (0002,eeee) element number.
        public var element: UInt16
        public var reason: String

        public var description: String {
            let hex = String(element, radix: 16, uppercase: true)
            return "(0002,\(String(repeating: "0", count: max(0, 4 - hex.count)) + hex)) \(reason)"
        }
    }

    /// The header to write before the data set bytes. It needs nothing from the data set, so it can be
    /// written before the first data set byte arrives. UIDs are padded with NUL, AE titles and the version
    /// name with spaces, to even length (PS3.5 §6.2). Throws rather than write a header that does not
    /// parse: every value must be ASCII and within its VR's length.
    public static func fileMetaHeader(sopClassUID: String, sopInstanceUID: String, transferSyntaxUID: String,
                                      sourceAETitle: String, sendingAETitle: String?,
                                      receivingAETitle: String?) throws(HeaderError) -> ByteBuffer {
        var group = ByteBuffer()
        writeElement(&group, element: 0x0001, vr: "OB", value: [0x00, 0x01])
        writeElement(&group, element: 0x0002, vr: "UI", value: try padded(sopClassUID, element: 0x0002, maximum: 64, with: 0))
        writeElement(&group, element: 0x0003, vr: "UI", value: try padded(sopInstanceUID, element: 0x0003, maximum: 64, with: 0))
        writeElement(&group, element: 0x0010, vr: "UI", value: try padded(transferSyntaxUID, element: 0x0010, maximum: 64, with: 0))
        writeElement(&group, element: 0x0012, vr: "UI", value: try padded(Implementation.classUID, element: 0x0012, maximum: 64, with: 0))
        writeElement(&group, element: 0x0013, vr: "SH", value: try padded(Implementation.versionName, element: 0x0013, maximum: 16, with: 0x20))
        writeElement(&group, element: 0x0016, vr: "AE", value: try padded(aeTitle(sourceAETitle), element: 0x0016, maximum: 16, with: 0x20))
        if let sendingAETitle {
            writeElement(&group, element: 0x0017, vr: "AE", value: try padded(aeTitle(sendingAETitle), element: 0x0017, maximum: 16, with: 0x20))
        }
        if let receivingAETitle {
            writeElement(&group, element: 0x0018, vr: "AE", value: try padded(aeTitle(receivingAETitle), element: 0x0018, maximum: 16, with: 0x20))
        }
        var header = ByteBuffer()
        header.reserveCapacity(128 + 4 + 12 + group.readableBytes)
        header.writeRepeatingByte(0, count: 128)
        header.writeBytes(Array("DICM".utf8))
        writeElement(&header, element: 0x0000, vr: "UL", value: [])
        // (0002,0000) value: the byte count of the group's elements that follow it.
        header.moveWriterIndex(to: header.writerIndex - 2)
        header.writeInteger(UInt16(4), endianness: .little)
        header.writeInteger(UInt32(group.readableBytes), endianness: .little)
        header.writeBuffer(&group)
        return header
    }

    private static func aeTitle(_ title: String) -> String {
        // AE: 16 characters of the default repertoire, leading/trailing spaces not significant.
        var trimmed = Substring(title)
        while trimmed.first == " " { trimmed.removeFirst() }
        while trimmed.last == " " { trimmed.removeLast() }
        return String(trimmed.prefix(16))
    }

    private static func padded(_ text: String, element: UInt16, maximum: Int, with pad: UInt8) throws(HeaderError) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(text.utf8.count, maximum) + 1)
        for scalar in text.unicodeScalars {
            guard scalar.isASCII else { throw HeaderError(element: element, reason: "is not in the default character repertoire") }
            guard bytes.count < maximum else { throw HeaderError(element: element, reason: "is longer than \(maximum) characters") }
            bytes.append(UInt8(scalar.value))
        }
        if bytes.count % 2 == 1 { bytes.append(pad) }
        return bytes
    }

    private static func writeElement(_ buffer: inout ByteBuffer, element: UInt16, vr: String, value: [UInt8]) {
        buffer.writeInteger(UInt16(0x0002), endianness: .little)
        buffer.writeInteger(element, endianness: .little)
        buffer.writeBytes(Array(vr.utf8))
        if vr == "OB" {
            buffer.writeInteger(UInt16(0), endianness: .little)
            buffer.writeInteger(UInt32(value.count), endianness: .little)
        } else {
            buffer.writeInteger(UInt16(value.count), endianness: .little)
        }
        buffer.writeBytes(value)
    }
}
