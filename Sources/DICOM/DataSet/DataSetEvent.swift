public import NIOCore

/// The header of one data element as the reader met it (PS3.5 §7.1).
///
/// Explicit VR:  `gggg eeee VR len16 value` or `gggg eeee VR 0000 len32 value`
/// Implicit VR:  `gggg eeee len32 value`
public struct ElementHeader: Sendable, Hashable {
    public var tag: Tag
    /// The VR to interpret the value with, resolved the way pydicom resolves it at read time: explicit VR
    /// as encoded, dictionary VR for implicit VR (private dictionary for private tags, `UN` otherwise),
    /// and `UN` replaced by the dictionary VR when it is known.
    public var vr: VR
    /// When the dictionary gives several VRs ("OB or OW", "US or SS", "US or OW", "US or SS or OW"),
    /// that string; `vr` is then a placeholder (`OB`, `US`, `OW`) until the data set resolves it.
    public var ambiguousVR: String?
    /// As encoded; `0xFFFF_FFFF` is undefined length.
    public var length: UInt32
    /// Offset of the element's first byte in the (inflated) data set stream.
    public var offset: Int
    public var isImplicitVR: Bool
    public var isLittleEndian: Bool

    public var hasUndefinedLength: Bool { length == 0xFFFF_FFFF }
}

/// What the reader found, in stream order. Sequences and items nest: every `sequenceStart` has one
/// `sequenceEnd`, every `itemStart` one `itemEnd`.
public enum DataSetEvent: Sendable, Hashable {
    /// An element with its complete value (a slice of the input; not copied when it arrived whole).
    case element(ElementHeader, value: ByteBuffer)
    /// An element whose value was skipped: Pixel Data, binary values above `inlineBinaryLimit`,
    /// other values above `maximumValueLength`, and undefined-length (encapsulated) values.
    /// `valueLength` is the number of value bytes (for encapsulated data: items and their headers).
    case skippedElement(ElementHeader, valueLength: Int)
    case sequenceStart(ElementHeader)
    case itemStart(offset: Int)
    /// `isImplicitVR` is the encoding of the item's data set after pydicom's explicit/implicit check.
    case itemEnd(isImplicitVR: Bool)
    case sequenceEnd
}
