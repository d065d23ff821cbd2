/// The syntax of a DICOM Unique Identifier (PS3.5 §9.1): at most 64 characters, components of digits
/// separated by single periods, no component empty, and no component with a leading zero unless the
/// component is `0` itself.
///
///     1.2.840.10008.5.1.4.1.1.2        valid
///     1.2.840.010                      leading zero: valid only with `.toleratingLeadingZeros`
///     1..2   1.2.   1.2.a   (65 chars) never valid
///
/// Values an administrator configures are held to the strict rule. Values that arrive from peers (the
/// C-STORE-RQ's Affected SOP Instance UID, UIDs read from a data set, UIDs a client searches by) tolerate
/// leading zeros: instances with such UIDs exist in the field, and the character set and length, which
/// keep keys and catalog rows sound, are still enforced.
public enum UIDSyntax {
    /// PS3.5 §9.1: a UID is at most 64 characters.
    public static let maximumLength = 64

    public enum Strictness: Sendable {
        /// PS3.5 §9.1 exactly.
        case strict
        /// PS3.5 §9.1 except that a component may start with `0`.
        case toleratingLeadingZeros
    }

    public static func isValid(_ value: some StringProtocol, _ strictness: Strictness) -> Bool {
        let bytes = value.utf8
        guard !bytes.isEmpty, bytes.count <= maximumLength else { return false }
        var componentLength = 0
        var componentStartsWithZero = false
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard componentLength > 0 else { return false }
                componentLength = 0
                componentStartsWithZero = false
            } else if byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
                if componentLength == 0 {
                    componentStartsWithZero = byte == UInt8(ascii: "0")
                } else if componentStartsWithZero && strictness == .strict {
                    return false
                }
                componentLength += 1
            } else {
                return false
            }
        }
        return componentLength > 0
    }
}
