public import NIOCore

/// Incremental data set reader: fed bytes in chunks of any size, it yields `DataSetEvent`s and never
/// needs the whole data set. Reads implicit VR LE, explicit VR LE/BE and deflated explicit VR LE
/// (PS3.5 §10, §A.5), defined and undefined-length sequences and items (§7.5), encapsulated values
/// (§A.4) and private elements (§7.8), tolerating what pydicom tolerates.
///
/// Memory is bounded by the largest chunk handed in plus the largest value held
/// (`maximumValueLength`) plus 64 KiB of inflated output; bulk values are skipped, not buffered.
/// Work on deflated input is bounded too: in total by `maximumInflatedBytes` and `maximumInflationRatio`
/// (a deflate bomb ends with a typed error), and between two yields of the caller by `limitInflation(to:)`.
///
/// Not Sendable when deflating (the zlib stream is a reference); keep one reader on one task.
public struct DataSetReader {
    public struct Options: Sendable, Hashable {
        /// Binary values (OB, OD, OF, OL, OV, OW, UN and the ambiguous binary VRs) longer than this are
        /// skipped. pydicom's JSON writer inlines up to `bulk_data_threshold // 4 * 3` bytes.
        public var inlineBinaryLimit: Int
        /// Other values longer than this are skipped too (a bound on memory; PS3.5 allows 4 GiB UT).
        public var maximumValueLength: Int
        /// Deepest sequence nesting accepted.
        public var maximumDepth: Int
        /// Most elements (all levels) accepted in one data set.
        public var maximumElementCount: Int
        /// Deflated data sets (PS3.5 §A.5): most bytes the whole data set may inflate to.
        public var maximumInflatedBytes: Int
        /// Deflated data sets: most inflated bytes per compressed byte consumed, checked once the output
        /// has passed `inflationRatioFloor`. Deflate itself cannot exceed about 1032:1, so a ratio above
        /// that never triggers.
        public var maximumInflationRatio: Int
        /// Inflated bytes always allowed whatever the ratio, so a small but very regular data set (a blank
        /// image) is read; beyond it the ratio stops a bomb after little work.
        public var inflationRatioFloor: Int

        /// 4 GiB: a defined-length value cannot exceed 2^32 - 2 bytes (PS3.5 §7.1.1), so a single-frame
        /// native image fits. Ratio 200: clinical images deflate 2-20:1 and text-heavy headers rarely beyond
        /// 50:1; a bomb sits near deflate's 1032:1.
        public static let defaultMaximumInflatedBytes = 4 << 30
        public static let defaultMaximumInflationRatio = 200
        public static let defaultInflationRatioFloor = 16 << 20

        public init(inlineBinaryLimit: Int = 768, maximumValueLength: Int = 4 << 20, maximumDepth: Int = 64,
                    maximumElementCount: Int = 1_000_000, maximumInflatedBytes: Int = Options.defaultMaximumInflatedBytes,
                    maximumInflationRatio: Int = Options.defaultMaximumInflationRatio,
                    inflationRatioFloor: Int = Options.defaultInflationRatioFloor) {
            self.inlineBinaryLimit = inlineBinaryLimit
            self.maximumValueLength = maximumValueLength
            self.maximumDepth = maximumDepth
            self.maximumElementCount = maximumElementCount
            self.maximumInflatedBytes = maximumInflatedBytes
            self.maximumInflationRatio = maximumInflationRatio
            self.inflationRatioFloor = inflationRatioFloor
        }
    }

    /// pydicom reads a defined-length sequence's value into memory and parses that copy, so nothing
    /// inside it can read past its end: values are cut there and items end there. `boundary` is the
    /// nearest such end (nil outside any defined-length sequence).
    struct DataSetFrame {
        var end: Int?
        var boundary: Int?
        var isImplicitVR: Bool
        var isLittleEndian: Bool
        var isTopLevel: Bool
        /// pydicom's `_is_implicit_vr` check is still to be made on the first element.
        var needsVRCheck: Bool
        /// Private creator values by (group << 8 | block).
        var creators: [UInt32: String] = [:]
    }

    struct SequenceFrame {
        var end: Int?
        var boundary: Int?
        var isImplicitVR: Bool
        var isLittleEndian: Bool
    }

    struct EncapsulatedFrame {
        var header: ElementHeader
        var valueStart: Int
    }

    enum Frame {
        case dataSet(DataSetFrame)
        case sequence(SequenceFrame)
        case encapsulated(EncapsulatedFrame)
    }

    enum State {
        case header
        /// Waiting for `length` value bytes (less than the header's length when cut at a boundary).
        case value(ElementHeader, length: Int)
        case skip(ElementHeader, remaining: Int, total: Int)
        case fragment(remaining: Int)
        /// Undefined-length value that is not a clean item sequence: pydicom then scans the bytes for
        /// the sequence delimitation tag. We scan from where the items stopped making sense.
        case scan
        case finished
    }

    public let options: Options
    public let transferSyntax: TransferSyntax
    var buffer = ByteBuffer()
    /// Stream offset of `buffer.readerIndex`.
    var position = 0
    var stack: [Frame]
    var state: State = .header
    var inflater: Inflater?
    var isAtEnd = false
    var elementCount = 0
    var sequenceDepth = 0
    /// The data set ended early the way pydicom accepts (a cut value or header at top level).
    public internal(set) var wasTruncated = false
    /// Inflated bytes `next()` may still produce before it returns nil to let the caller yield.
    var inflationSliceRemaining = Int.max

    /// Deflated data sets: compressed bytes consumed and inflated bytes produced so far.
    public var inflationTotals: (compressed: Int, inflated: Int) { (inflater?.totalIn ?? 0, inflater?.totalOut ?? 0) }

    /// `next()` returned nil with deflated input still to inflate: the slice set by `limitInflation(to:)`
    /// is used up. Call `limitInflation(to:)` again (after yielding) and go on with `next()`.
    public var hasPendingInflation: Bool { inflater?.hasPendingWork ?? false }

    /// Bounds the inflation work of the following `next()` calls to about `bytes` of output (in 64 KiB
    /// steps), so one fragment of a deflated data set never does unbounded work between two yields.
    public mutating func limitInflation(to bytes: Int) {
        inflationSliceRemaining = bytes
    }

    /// Offset in the decoded stream of the next byte to read.
    public var offset: Int { position }

    /// Bytes the reader holds and has not yet read (its bound on memory besides the caller's chunk).
    public var bufferedByteCount: Int { buffer.readableBytes }

    /// The top-level encoding: the transfer syntax's, or what pydicom's check of the first element found.
    public internal(set) var isImplicitVR: Bool

    public init(transferSyntax: TransferSyntax, options: Options = .init()) throws(DataSetError) {
        self.options = options
        self.transferSyntax = transferSyntax
        if transferSyntax.isDeflated { inflater = try Inflater() }
        isImplicitVR = !transferSyntax.isExplicitVR
        stack = [.dataSet(DataSetFrame(end: nil, boundary: nil, isImplicitVR: !transferSyntax.isExplicitVR,
                                       isLittleEndian: !transferSyntax.isBigEndian, isTopLevel: true, needsVRCheck: true))]
    }

    public init(transferSyntaxUID: String, options: Options = .init()) throws(DataSetError) {
        guard let syntax = TransferSyntax.lookup(transferSyntaxUID) else {
            // pydicom reads unknown (private) transfer syntaxes as explicit VR little endian.
            try self.init(transferSyntax: TransferSyntax(uid: transferSyntaxUID, name: "", isExplicitVR: true,
                                                         isBigEndian: false, isDeflated: false, isEncapsulated: true),
                          options: options)
            return
        }
        try self.init(transferSyntax: syntax, options: options)
    }

    /// Hands the reader the next bytes of the data set. Call `next()` until it returns nil afterwards.
    public mutating func feed(_ chunk: ByteBuffer) {
        guard chunk.readableBytes > 0 else { return }
        if case .finished = state { return }
        if let inflater {
            inflater.append(chunk)
            return
        }
        var chunk = chunk
        // While skipping bulk data, drop bytes straight from the caller's chunk: nothing is copied.
        if buffer.readableBytes == 0 {
            chunk = skipFromChunk(chunk)
            buffer = chunk
            return
        }
        if buffer.readerIndex > 0 { buffer.discardReadBytes() }
        buffer.writeBuffer(&chunk)
    }

    mutating func skipFromChunk(_ chunk: ByteBuffer) -> ByteBuffer {
        var chunk = chunk
        switch state {
        case .skip(let header, let remaining, let total):
            let count = min(remaining, chunk.readableBytes)
            chunk.moveReaderIndex(forwardBy: count)
            position += count
            state = .skip(header, remaining: remaining - count, total: total)
        case .fragment(let remaining):
            let count = min(remaining, chunk.readableBytes)
            chunk.moveReaderIndex(forwardBy: count)
            position += count
            state = .fragment(remaining: remaining - count)
        default:
            break
        }
        return chunk
    }

    /// Marks the end of input. `next()` then reports what remains and finally nil, or throws when the
    /// data set ends where pydicom would fail too (inside a sequence, item or deflate stream).
    public mutating func finish() {
        isAtEnd = true
    }

    /// The next event, or nil when more input is needed (or, after `finish()`, when the data set is done).
    public mutating func next() throws(DataSetError) -> DataSetEvent? {
        while true {
            if let event = try step() { return event }
            guard let inflater, inflater.hasPendingWork else {
                if isAtEnd { return try endOfInput() }
                return nil
            }
            guard inflationSliceRemaining > 0 else { return nil }
            if buffer.readerIndex > 0 { buffer.discardReadBytes() }
            let produced = try inflater.inflate(into: &buffer, maximumOutput: 64 << 10, offset: position)
            if inflationSliceRemaining != .max { inflationSliceRemaining -= produced }
            try checkInflationLimits(inflater)
            if case .finished = state { return nil }
        }
    }

    /// A deflate bomb is refused once its output passes the absolute bound, or the ratio bound beyond the
    /// floor; the work done until then is at most one 64 KiB step past the bound.
    func checkInflationLimits(_ inflater: Inflater) throws(DataSetError) {
        let compressed = inflater.totalIn, inflated = inflater.totalOut
        if inflated > options.maximumInflatedBytes {
            throw DataSetError(.inflatedSizeExceeded, offset: position)
        }
        if inflated > options.inflationRatioFloor {
            let (allowed, overflow) = max(compressed, 1).multipliedReportingOverflow(by: max(options.maximumInflationRatio, 1))
            if !overflow && inflated > allowed {
                throw DataSetError(.inflationRatioExceeded, offset: position)
            }
        }
    }

    // MARK: - Parsing

    var readable: Int { buffer.readableBytes }

    mutating func consume(_ count: Int) {
        buffer.moveReaderIndex(forwardBy: count)
        position += count
    }

    func uint16(at index: Int, littleEndian: Bool) -> UInt16 {
        buffer.getInteger(at: buffer.readerIndex + index, endianness: littleEndian ? .little : .big, as: UInt16.self)!
    }

    func uint32(at index: Int, littleEndian: Bool) -> UInt32 {
        buffer.getInteger(at: buffer.readerIndex + index, endianness: littleEndian ? .little : .big, as: UInt32.self)!
    }

    func byte(at index: Int) -> UInt8 { buffer.getInteger(at: buffer.readerIndex + index, as: UInt8.self)! }

    /// One event, or nil when `buffer` lacks bytes.
    mutating func step() throws(DataSetError) -> DataSetEvent? {
        while true {
            switch state {
            case .finished:
                buffer = ByteBuffer()
                return nil
            case .skip(let header, let remaining, let total):
                let count = min(remaining, readable)
                consume(count)
                if remaining - count > 0 {
                    state = .skip(header, remaining: remaining - count, total: total)
                    return nil
                }
                state = .header
                return .skippedElement(header, valueLength: total)
            case .fragment(let remaining):
                let count = min(remaining, readable)
                consume(count)
                if remaining - count > 0 {
                    state = .fragment(remaining: remaining - count)
                    return nil
                }
                state = .header
            case .scan:
                guard case .encapsulated(let frame) = stack.last else { throw DataSetError(.malformedEncapsulation, offset: position) }
                let pattern: [UInt8] = frame.header.isLittleEndian ? [0xFE, 0xFF, 0xDD, 0xE0] : [0xFF, 0xFE, 0xE0, 0xDD]
                let found: Int? = buffer.withUnsafeReadableBytes { raw in
                    guard raw.count >= 4 else { return nil }
                    var index = 0
                    while index + 4 <= raw.count {
                        if raw[index] == pattern[0] && raw[index + 1] == pattern[1] && raw[index + 2] == pattern[2]
                            && raw[index + 3] == pattern[3] {
                            return index
                        }
                        index += 1
                    }
                    return nil
                }
                guard let found else {
                    consume(max(0, readable - 3))
                    return nil
                }
                // pydicom reads (and ignores) the 4 length bytes after the delimiter tag.
                guard readable >= found + 8 || isAtEnd else {
                    consume(found)
                    return nil
                }
                consume(found)
                let total = position - frame.valueStart
                consume(min(8, readable))
                stack.removeLast()
                state = .header
                return .skippedElement(frame.header, valueLength: total)
            case .value(let header, let length):
                guard readable >= length else { return nil }
                let value = buffer.readSlice(length: length)!
                position += length
                state = .header
                recordCreator(header, value)
                return .element(header, value: value)
            case .header:
                guard let top = stack.last else { return nil }
                let result: StepResult
                switch top {
                case .dataSet(let frame): result = try dataSetStep(frame)
                case .sequence(let frame): result = try sequenceStep(frame)
                case .encapsulated(let frame): result = try encapsulatedStep(frame)
                }
                switch result {
                case .event(let event): return event
                case .needMore: return nil
                case .again: continue
                }
            }
        }
    }
}
