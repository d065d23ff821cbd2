/// A data set the reader cannot read, with the byte offset (in the decoded, i.e. inflated, stream) where
/// reading stopped. The description names the problem and the offset, never a value (no PHI).
public struct DataSetError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// The stream ended inside a sequence, item, element header or deflate stream.
        case unexpectedEndOfData
        /// An explicit VR that PS3.5 does not define (and that does not look like implicit VR).
        case unknownVR
        /// An element or item longer than the defined-length item or sequence that holds it.
        case lengthExceedsParent
        /// Sequences nested deeper than `DataSetReader.Options.maximumDepth`.
        case nestingTooDeep
        /// Undefined length where PS3.5 forbids it (e.g. an undefined-length fragment).
        case invalidUndefinedLength
        /// Something other than an item or a sequence delimiter inside encapsulated data (PS3.5 §A.4).
        case malformedEncapsulation
        /// The deflate stream (PS3.5 §A.5) is corrupt.
        case invalidDeflateStream
        /// The transfer syntax UID is not one we can read (unknown, or not a data set encoding).
        case unsupportedTransferSyntax
        /// A value could not be converted to its VR the way pydicom does (e.g. IS "1.5").
        case invalidValue
        /// More elements than `Options.maximumElementCount`.
        case tooManyElements
        /// The metadata held for one data set exceeds `MetadataOptions.maximumMetadataBytes`.
        case metadataTooLarge
        /// A deflated data set inflates beyond `DataSetReader.Options.maximumInflatedBytes`.
        case inflatedSizeExceeded
        /// A deflated data set inflates more than `maximumInflationRatio` bytes per compressed byte.
        case inflationRatioExceeded
    }

    public var code: Code
    /// Byte offset in the decoded data set stream.
    public var offset: Int
    /// The tag concerned, when there is one.
    public var tag: Tag?

    public init(_ code: Code, offset: Int, tag: Tag? = nil) {
        self.code = code
        self.offset = offset
        self.tag = tag
    }

    public var description: String {
        "DataSetError(\(code) at offset \(offset)\(tag.map { ", tag \($0)" } ?? ""))"
    }
}
