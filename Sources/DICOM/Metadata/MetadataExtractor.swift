public import NIOCore

public struct MetadataOptions: Sendable {
    /// See `DICOMJSONOptions.bulkDataThreshold` (pydicom's `bulk_data_threshold`).
    public var bulkDataThreshold: Int
    /// BulkDataURI for values that are not inlined; nil omits them from the JSON.
    public var bulkDataURI: (@Sendable (BulkDataReference) -> String)?
    /// Longest non-binary value held; longer ones are skipped and have no `Value` in the JSON.
    public var maximumValueLength: Int
    /// Deepest sequence nesting accepted.
    public var maximumDepth: Int
    /// Bound on the metadata held for one instance (values plus per-element overhead).
    public var maximumMetadataBytes: Int

    public init(bulkDataThreshold: Int = 1024, bulkDataURI: (@Sendable (BulkDataReference) -> String)? = nil,
                maximumValueLength: Int = 4 << 20, maximumDepth: Int = 64, maximumMetadataBytes: Int = 64 << 20) {
        self.bulkDataThreshold = bulkDataThreshold
        self.bulkDataURI = bulkDataURI
        self.maximumValueLength = maximumValueLength
        self.maximumDepth = maximumDepth
        self.maximumMetadataBytes = maximumMetadataBytes
    }
}

public struct ExtractedMetadata: Sendable {
    /// DICOM JSON (PS3.18 F.2) of the data set, UTF-8.
    public var json: ByteBuffer
    public var attributes: CatalogAttributes
    /// The data set ended early in a way pydicom accepts (a value cut at top level).
    public var wasTruncated: Bool
}

/// Single-pass metadata extraction for the ingest: fed the data set (no File Meta) chunk by chunk —
/// slices of P-DATA PDVs are fine — it keeps the non-bulk elements, exposes the catalog attributes
/// as soon as they have passed, and writes DICOM JSON at the end. Bulk data is skipped, never copied.
///
/// Not Sendable (it may own a zlib stream); keep it inside one task or actor.
public struct MetadataExtractor {
    private var reader: DataSetReader
    private var builder: DataSetTreeBuilder
    private let options: MetadataOptions
    private var failure: DataSetError?
    public private(set) var attributes = CatalogAttributes()

    /// Throws `DataSetError(.unsupportedTransferSyntax)` only if the deflate stream cannot be set up;
    /// unknown transfer syntaxes are read as explicit VR little endian (as pydicom does).
    public init(transferSyntaxUID: String, options: MetadataOptions = .init()) throws(DataSetError) {
        self.options = options
        reader = try DataSetReader(transferSyntaxUID: transferSyntaxUID, options: .init(
            inlineBinaryLimit: max(0, options.bulkDataThreshold / 4 * 3),
            maximumValueLength: options.maximumValueLength,
            maximumDepth: options.maximumDepth))
        builder = DataSetTreeBuilder(maximumHeldBytes: options.maximumMetadataBytes)
    }

    /// Reads what `chunk` completes. After a throw the extractor stays failed and rethrows.
    public mutating func consume(_ chunk: ByteBuffer) throws(DataSetError) {
        if let failure { throw failure }
        reader.feed(chunk)
        try drain()
    }

    public mutating func finish() throws(DataSetError) -> ExtractedMetadata {
        if let failure { throw failure }
        reader.finish()
        try drain()
        guard builder.depth == 1 else {
            let error = DataSetError(.unexpectedEndOfData, offset: reader.offset)
            failure = error
            throw error
        }
        builder.setRootEncoding(isImplicitVR: reader.isImplicitVR)
        let json = try DICOMJSONWriter.write(builder.root, options: DICOMJSONOptions(
            bulkDataThreshold: options.bulkDataThreshold, bulkDataURI: options.bulkDataURI))
        return ExtractedMetadata(json: json, attributes: attributes, wasTruncated: reader.wasTruncated)
    }

    private mutating func drain() throws(DataSetError) {
        do {
            while let event = try reader.next() {
                try builder.apply(event, at: reader.offset)
                if builder.depth == 1, case .element(let header, _) = event, CatalogAttributes.fields[header.tag] != nil,
                   let element = builder.root[header.tag] {
                    attributes.update(with: element, characterSet: builder.root.characterSet)
                }
            }
        } catch {
            failure = error
            throw error
        }
    }
}
