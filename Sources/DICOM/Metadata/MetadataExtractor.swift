public import NIOCore

public struct MetadataOptions: Sendable {
    /// What the extractor does with a data set it cannot read to the end, or a value it cannot convert.
    public enum DamageHandling: Sendable, Hashable {
        /// As pydicom: any such problem fails the whole data set with a `DataSetError`.
        case fail
        /// As an archive must: reading stops at damage the reader cannot get past and the JSON describes
        /// what was read (see `ExtractedMetadata.unreadable`); an unconvertible value is written without
        /// `Value`. Still thrown: an incomplete data set (it ends inside an element, item, sequence or
        /// deflate stream) and the inflation bounds, which say the data set is not one to keep.
        case record
    }

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
    /// Deflated data sets: see `DataSetReader.Options.maximumInflatedBytes` / `maximumInflationRatio`.
    public var maximumInflatedBytes: Int
    public var maximumInflationRatio: Int
    public var damageHandling: DamageHandling

    public init(bulkDataThreshold: Int = 1024, bulkDataURI: (@Sendable (BulkDataReference) -> String)? = nil,
                maximumValueLength: Int = 4 << 20, maximumDepth: Int = 64, maximumMetadataBytes: Int = 64 << 20,
                maximumInflatedBytes: Int = DataSetReader.Options.defaultMaximumInflatedBytes,
                maximumInflationRatio: Int = DataSetReader.Options.defaultMaximumInflationRatio,
                damageHandling: DamageHandling = .fail) {
        self.bulkDataThreshold = bulkDataThreshold
        self.bulkDataURI = bulkDataURI
        self.maximumValueLength = maximumValueLength
        self.maximumDepth = maximumDepth
        self.maximumMetadataBytes = maximumMetadataBytes
        self.maximumInflatedBytes = maximumInflatedBytes
        self.maximumInflationRatio = maximumInflationRatio
        self.damageHandling = damageHandling
    }
}

public struct ExtractedMetadata: Sendable {
    /// DICOM JSON (PS3.18 F.2) of the data set, UTF-8.
    public var json: ByteBuffer
    public var attributes: CatalogAttributes
    /// The data set ended early in a way pydicom accepts (a value cut at top level).
    public var wasTruncated: Bool
    /// `.record` only: tag paths (top-level tag first) of elements written without `Value` because their
    /// value could not be converted to their VR.
    public var unconvertibleElements: [[Tag]] = []
    /// `.record` only: where reading stopped, when the reader could not get past damage. Everything after
    /// `offset` is missing from the JSON; the element being read, when its tag is known, is in the JSON as
    /// `UN` without a value.
    public var unreadable: DataSetError?
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
    /// `.record`: the damage reading stopped at; later input is ignored.
    public private(set) var unreadable: DataSetError?
    public private(set) var attributes = CatalogAttributes()

    /// Throws `DataSetError(.unsupportedTransferSyntax)` only if the deflate stream cannot be set up;
    /// unknown transfer syntaxes are read as explicit VR little endian (as pydicom does).
    public init(transferSyntaxUID: String, options: MetadataOptions = .init()) throws(DataSetError) {
        self.options = options
        reader = try DataSetReader(transferSyntaxUID: transferSyntaxUID, options: .init(
            inlineBinaryLimit: max(0, options.bulkDataThreshold / 4 * 3),
            maximumValueLength: options.maximumValueLength,
            maximumDepth: options.maximumDepth,
            maximumInflatedBytes: options.maximumInflatedBytes,
            maximumInflationRatio: options.maximumInflationRatio))
        builder = DataSetTreeBuilder(maximumHeldBytes: options.maximumMetadataBytes)
    }

    /// Reads what `chunk` completes. After a throw the extractor stays failed and rethrows.
    public mutating func consume(_ chunk: ByteBuffer) throws(DataSetError) {
        try feed(chunk)
        while try advance(inflatingAtMost: .max) {}
    }

    /// Hands over the next chunk without reading it; `advance` reads it.
    public mutating func feed(_ chunk: ByteBuffer) throws(DataSetError) {
        if let failure { throw failure }
        guard unreadable == nil else { return }
        reader.feed(chunk)
    }

    /// Reads what has been fed, inflating (deflated data sets) about `bytes` at most. Returns true when
    /// inflation work remains: yield to other tasks, then call again. This keeps a deflated fragment that
    /// expands a thousandfold from holding a thread for the whole expansion.
    public mutating func advance(inflatingAtMost bytes: Int) throws(DataSetError) -> Bool {
        if let failure { throw failure }
        guard unreadable == nil else { return false }
        reader.limitInflation(to: bytes)
        try drain(atEnd: false)
        return unreadable == nil && reader.hasPendingInflation
    }

    public mutating func finish() throws(DataSetError) -> ExtractedMetadata {
        if let failure { throw failure }
        if unreadable == nil {
            reader.finish()
            reader.limitInflation(to: .max)
            try drain(atEnd: true)
        }
        if unreadable != nil {
            builder.closeOpenContainers()
        } else if builder.depth != 1 {
            let error = DataSetError(.unexpectedEndOfData, offset: reader.offset)
            failure = error
            throw error
        }
        builder.setRootEncoding(isImplicitVR: reader.isImplicitVR)
        let json: ByteBuffer
        var unconvertible: [[Tag]] = []
        let jsonOptions = DICOMJSONOptions(bulkDataThreshold: options.bulkDataThreshold, bulkDataURI: options.bulkDataURI)
        switch options.damageHandling {
        case .fail:
            json = try DICOMJSONWriter.write(builder.root, options: jsonOptions)
        case .record:
            (json, unconvertible) = DICOMJSONWriter.writeOmittingUnconvertible(builder.root, options: jsonOptions)
        }
        return ExtractedMetadata(json: json, attributes: attributes, wasTruncated: reader.wasTruncated,
                                 unconvertibleElements: unconvertible, unreadable: unreadable)
    }

    private mutating func drain(atEnd: Bool) throws(DataSetError) {
        do {
            while let event = try reader.next() {
                try builder.apply(event, at: reader.offset)
                if builder.depth == 1, case .element(let header, _) = event, CatalogAttributes.fields[header.tag] != nil,
                   let element = builder.root[header.tag] {
                    attributes.update(with: element, characterSet: builder.root.characterSet)
                }
            }
        } catch {
            guard options.damageHandling == .record, Self.canReadPast(error, atEnd: atEnd) else {
                failure = error
                throw error
            }
            unreadable = error
            builder.recordUnreadable(error)
        }
    }

    /// Damage the object can be stored past: not a data set that ends early (at the end
    /// of input, `unexpectedEndOfData` means incomplete) and not the inflation bounds.
    private static func canReadPast(_ error: DataSetError, atEnd: Bool) -> Bool {
        switch error.code {
        case .inflatedSizeExceeded, .inflationRatioExceeded, .unsupportedTransferSyntax:
            return false
        case .unexpectedEndOfData:
            return !atEnd
        default:
            return true
        }
    }
}
