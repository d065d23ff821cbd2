/// Two lowercase hex digits per byte, most significant nibble first: the form of SHA-256 digests in the
/// catalog, SigV4's hashes and signatures, and webhook signatures (what `String(format: "%02x")` writes,
/// without a formatter per byte).
public enum LowercaseHex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    public static func string(_ bytes: some Sequence<UInt8>) -> String {
        var text: [UInt8] = []
        text.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
