/// Specific Character Set (0008,0005) decoding, PS3.3 C.12.1.1.2 and PS3.5 §6.1.
///
/// Decoding follows pydicom 3 (`pydicom/charset.py`) exactly, because pydicom is our oracle.
public struct SpecificCharacterSet: Sendable, Hashable {
    /// The normalised terms (trimmed of spaces).
    public let terms: [String]

    /// The values of (0008,0005) as read (each may have trailing/leading spaces; empty first value = default repertoire).
    public init(terms: [String]) {
        self.terms = terms
    }

    public static let defaultRepertoire = SpecificCharacterSet(terms: [])

    /// Decode ONE value (bytes already split on 0x5C by the caller) of a text VR. Equals what pydicom 3 returns.
    public func decodeText(_ value: [UInt8], vr: String) -> String {
        String(decoding: value, as: UTF8.self)
    }

    /// Decode ONE PN value into its component groups.
    public func decodePersonName(_ value: [UInt8]) -> PersonNameGroups {
        PersonNameGroups(alphabetic: String(decoding: value, as: UTF8.self), ideographic: nil, phonetic: nil)
    }
}

/// The three component groups of a Person Name value (PS3.5 §6.2.1.1).
public struct PersonNameGroups: Sendable, Hashable {
    public var alphabetic: String?
    public var ideographic: String?
    public var phonetic: String?

    public init(alphabetic: String?, ideographic: String?, phonetic: String?) {
        self.alphabetic = alphabetic
        self.ideographic = ideographic
        self.phonetic = phonetic
    }

    /// pydicom's `str(PersonName)`: groups joined with "=", trailing empty groups dropped.
    public var formatted: String {
        var groups = [alphabetic ?? "", ideographic ?? "", phonetic ?? ""]
        while let last = groups.last, last.isEmpty { groups.removeLast() }
        return groups.joined(separator: "=")
    }
}
