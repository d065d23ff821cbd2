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
    private struct DataSetFrame {
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

    private struct SequenceFrame {
        var end: Int?
        var boundary: Int?
        var isImplicitVR: Bool
        var isLittleEndian: Bool
    }

    private struct EncapsulatedFrame {
        var header: ElementHeader
        var valueStart: Int
    }

    private enum Frame {
        case dataSet(DataSetFrame)
        case sequence(SequenceFrame)
        case encapsulated(EncapsulatedFrame)
    }

    private enum State {
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
    private var buffer = ByteBuffer()
    /// Stream offset of `buffer.readerIndex`.
    private var position = 0
    private var stack: [Frame]
    private var state: State = .header
    private var inflater: Inflater?
    private var isAtEnd = false
    private var elementCount = 0
    private var sequenceDepth = 0
    /// The data set ended early the way pydicom accepts (a cut value or header at top level).
    public private(set) var wasTruncated = false
    /// Inflated bytes `next()` may still produce before it returns nil to let the caller yield.
    private var inflationSliceRemaining = Int.max

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
    public private(set) var isImplicitVR: Bool

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

    private mutating func skipFromChunk(_ chunk: ByteBuffer) -> ByteBuffer {
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
    private func checkInflationLimits(_ inflater: Inflater) throws(DataSetError) {
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

    private var readable: Int { buffer.readableBytes }

    private mutating func consume(_ count: Int) {
        buffer.moveReaderIndex(forwardBy: count)
        position += count
    }

    private func uint16(at index: Int, littleEndian: Bool) -> UInt16 {
        buffer.getInteger(at: buffer.readerIndex + index, endianness: littleEndian ? .little : .big, as: UInt16.self)!
    }

    private func uint32(at index: Int, littleEndian: Bool) -> UInt32 {
        buffer.getInteger(at: buffer.readerIndex + index, endianness: littleEndian ? .little : .big, as: UInt32.self)!
    }

    private func byte(at index: Int) -> UInt8 { buffer.getInteger(at: buffer.readerIndex + index, as: UInt8.self)! }

    /// One event, or nil when `buffer` lacks bytes.
    private mutating func step() throws(DataSetError) -> DataSetEvent? {
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

    private enum StepResult {
        case event(DataSetEvent)
        case needMore
        /// State or stack changed without an event.
        case again
    }

    private mutating func recordCreator(_ header: ElementHeader, _ value: ByteBuffer) {
        guard header.tag.isPrivateCreator, case .dataSet(var frame) = stack[stack.count - 1] else { return }
        var bytes = Array(value.readableBytesView)
        while let last = bytes.last, last == 0 || last == 0x20 { bytes.removeLast() }
        let key = UInt32(header.tag.group) << 8 | UInt32(header.tag.element & 0xFF)
        frame.creators[key] = String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        stack[stack.count - 1] = .dataSet(frame)
    }

    private mutating func dataSetStep(_ frameIn: DataSetFrame) throws(DataSetError) -> StepResult {
        var frame = frameIn
        if let end = frame.end, position >= end {
            stack.removeLast()
            return .event(.itemEnd(isImplicitVR: frame.isImplicitVR))
        }
        if let boundary = frame.boundary, boundary - position < 8 {
            // Encapsulated fragments are not cut at the boundary; one that ran past it is an error.
            guard position <= boundary else { throw DataSetError(.lengthExceedsParent, offset: position) }
            // Fewer than 8 bytes left in pydicom's in-memory copy: its element loop ends the item there.
            guard readable >= boundary - position else { return .needMore }
            consume(boundary - position)
            stack.removeLast()
            return .event(.itemEnd(isImplicitVR: frame.isImplicitVR))
        }
        if frame.needsVRCheck {
            // pydicom `_is_implicit_vr`: look at the 2 bytes after the first tag.
            guard readable >= 6 || isAtEnd else { return .needMore }
            if readable >= 6 {
                let first = byte(at: 4), second = byte(at: 5)
                let foundImplicit = !(first > 0x40 && first < 0x5B && second > 0x40 && second < 0x5B)
                if frame.isTopLevel {
                    frame.isImplicitVR = foundImplicit
                    isImplicitVR = foundImplicit
                } else if !frame.isImplicitVR && foundImplicit {
                    frame.isImplicitVR = true
                }
            }
            frame.needsVRCheck = false
            stack[stack.count - 1] = .dataSet(frame)
        }
        guard readable >= 8 else { return .needMore }
        let little = frame.isLittleEndian
        let tag = Tag(group: uint16(at: 0, littleEndian: little), element: uint16(at: 2, littleEndian: little))
        let start = position

        if tag == .itemDelimitation {
            consume(8)
            if frame.isTopLevel {
                // pydicom stops reading the data set here and ignores what follows.
                state = .finished
                buffer = ByteBuffer()
                return .needMore
            }
            stack.removeLast()
            return .event(.itemEnd(isImplicitVR: frame.isImplicitVR))
        }

        var implicit = frame.isImplicitVR
        var explicitVR: VR?
        var headerLength = 8
        var length: UInt32
        if !implicit {
            let first = byte(at: 4), second = byte(at: 5)
            let candidate = VR(code: UInt16(first) << 8 | UInt16(second))
            if VR.known.contains(candidate) {
                explicitVR = candidate
                if candidate.hasLongExplicitLength {
                    if let boundary = frame.boundary, boundary - position < 12 {
                        throw DataSetError(.unexpectedEndOfData, offset: start, tag: tag)
                    }
                    guard readable >= 12 else {
                        if isAtEnd { throw DataSetError(.unexpectedEndOfData, offset: start, tag: tag) }
                        return .needMore
                    }
                    headerLength = 12
                    length = uint32(at: 8, littleEndian: little)
                } else {
                    length = UInt32(uint16(at: 6, littleEndian: little))
                }
            } else if (first, second) < (0x41, 0x41) || (first, second) > (0x5A, 0x5A) {
                // Not letters: this element is implicit VR (pydicom `assume_implicit_vr_switch`).
                implicit = true
                length = uint32(at: 4, littleEndian: little)
            } else {
                throw DataSetError(.unknownVR, offset: start, tag: tag)
            }
        } else {
            length = uint32(at: 4, littleEndian: little)
        }

        elementCount += 1
        if elementCount > options.maximumElementCount {
            throw DataSetError(.tooManyElements, offset: start, tag: tag)
        }

        var header = ElementHeader(tag: tag, vr: .UN, ambiguousVR: nil, length: length, offset: start,
                                   isImplicitVR: implicit, isLittleEndian: little)
        let undefined = length == 0xFFFF_FFFF

        if undefined {
            var isSequence = false
            var vr = explicitVR
            if vr == .UN { vr = .SQ }  // pydicom `infer_sq_for_un_vr`
            if vr == nil {
                if let entry = DataElementDictionary.entry(for: tag) {
                    vr = VR(entry.vr) ?? ambiguousPlaceholder(entry.vr)
                    if VR(entry.vr) == nil { header.ambiguousVR = entry.vr }
                } else {
                    // Unknown tag: a sequence if an item tag follows (pydicom peeks 4 bytes).
                    guard readable >= headerLength + 4 else {
                        if isAtEnd { throw DataSetError(.unexpectedEndOfData, offset: start, tag: tag) }
                        return .needMore
                    }
                    let next = Tag(group: uint16(at: headerLength, littleEndian: little),
                                   element: uint16(at: headerLength + 2, littleEndian: little))
                    if next == .item {
                        vr = .SQ
                    } else {
                        vr = implicitVR(for: tag, length: length, frame: frame).vr
                    }
                }
            }
            isSequence = vr == .SQ
            header.vr = vr ?? .UN
            consume(headerLength)
            if isSequence {
                try pushSequence(end: nil, boundary: frame.boundary, implicit: implicit, little: little, at: start, tag: tag)
                return .event(.sequenceStart(header))
            }
            stack.append(.encapsulated(EncapsulatedFrame(header: header, valueStart: position)))
            return .again
        }

        // Defined length.
        if let vr = explicitVR, vr != .UN {
            header.vr = vr
        } else if explicitVR == .UN {
            // pydicom `replace_un_with_known_vr`.
            if tag.isPrivate {
                (header.vr, header.ambiguousVR) = privateVR(for: tag, frame: frame)
            } else if length < 0xFFFF, let entry = DataElementDictionary.entry(for: tag) {
                if let known = VR(entry.vr) {
                    header.vr = known
                } else if entry.vr != "NONE" {
                    header.vr = ambiguousPlaceholder(entry.vr)
                    header.ambiguousVR = entry.vr
                }
            } else {
                header.vr = .UN
            }
        } else {
            (header.vr, header.ambiguousVR) = implicitVR(for: tag, length: length, frame: frame)
        }
        consume(headerLength)
        var valueLength = Int(length)
        if let boundary = frame.boundary, position + valueLength > boundary {
            valueLength = boundary - position
        }
        if header.vr == .SQ && header.ambiguousVR == nil {
            let end = position + valueLength
            try pushSequence(end: end, boundary: end, implicit: implicit, little: little, at: start, tag: tag)
            return .event(.sequenceStart(header))
        }
        if shouldSkip(header) {
            state = .skip(header, remaining: valueLength, total: valueLength)
        } else {
            state = .value(header, length: valueLength)
        }
        return .again
    }

    private func ambiguousPlaceholder(_ dictionaryVR: String) -> VR {
        switch dictionaryVR {
        case "US or SS": return .US
        case "OB or OW": return .OB
        default: return .OW
        }
    }

    private func implicitVR(for tag: Tag, length: UInt32, frame: DataSetFrame) -> (vr: VR, ambiguous: String?) {
        if let entry = DataElementDictionary.entry(for: tag) {
            if let vr = VR(entry.vr) { return (vr, nil) }
            if entry.vr == "NONE" { return (.UN, nil) }
            return (ambiguousPlaceholder(entry.vr), entry.vr)
        }
        if tag.isPrivate { return privateVR(for: tag, frame: frame) }
        if tag.element == 0 { return (.UL, nil) }
        return (.UN, nil)
    }

    /// pydicom `_private_vr_for_tag`.
    private func privateVR(for tag: Tag, frame: DataSetFrame) -> (vr: VR, ambiguous: String?) {
        if tag.isPrivateCreator { return (.LO, nil) }
        if tag.element & 0xFF00 != 0 {
            let key = UInt32(tag.group) << 8 | UInt32(tag.element >> 8)
            if let creator = frame.creators[key], !creator.isEmpty,
               let vrString = PrivateDictionary.vr(for: tag, creator: creator) {
                if let vr = VR(vrString) { return (vr, nil) }
                if vrString != "NONE" { return (ambiguousPlaceholder(vrString), vrString) }
            }
        }
        return (.UN, nil)
    }

    private func shouldSkip(_ header: ElementHeader) -> Bool {
        let length = Int(header.length)
        if header.tag == .pixelData { return true }
        let binary = header.vr.isBinary || (header.ambiguousVR != nil && header.ambiguousVR != "US or SS")
        if binary { return length > options.inlineBinaryLimit }
        return length > options.maximumValueLength
    }

    private mutating func pushSequence(end: Int?, boundary: Int?, implicit: Bool, little: Bool, at offset: Int, tag: Tag) throws(DataSetError) {
        sequenceDepth += 1
        if sequenceDepth > options.maximumDepth {
            throw DataSetError(.nestingTooDeep, offset: offset, tag: tag)
        }
        stack.append(.sequence(SequenceFrame(end: end, boundary: boundary, isImplicitVR: implicit, isLittleEndian: little)))
    }

    private mutating func sequenceStep(_ frame: SequenceFrame) throws(DataSetError) -> StepResult {
        if let end = frame.end, position >= end {
            stack.removeLast()
            sequenceDepth -= 1
            return .event(.sequenceEnd)
        }
        if let boundary = frame.boundary, boundary - position < 8 {
            // pydicom cannot read the next item header from its in-memory copy.
            throw DataSetError(.unexpectedEndOfData, offset: position)
        }
        guard readable >= 8 else { return .needMore }
        let little = frame.isLittleEndian
        let tag = Tag(group: uint16(at: 0, littleEndian: little), element: uint16(at: 2, littleEndian: little))
        let length = uint32(at: 4, littleEndian: little)
        let start = position
        consume(8)
        if tag == .sequenceDelimitation {
            stack.removeLast()
            sequenceDepth -= 1
            return .event(.sequenceEnd)
        }
        // pydicom reads any other tag as an item header.
        let itemEnd: Int? = length == 0xFFFF_FFFF ? nil : position + Int(length)
        stack.append(.dataSet(DataSetFrame(end: itemEnd, boundary: frame.boundary, isImplicitVR: frame.isImplicitVR, isLittleEndian: little,
                                           isTopLevel: false, needsVRCheck: !frame.isImplicitVR)))
        return .event(.itemStart(offset: start))
    }

    private mutating func encapsulatedStep(_ frame: EncapsulatedFrame) throws(DataSetError) -> StepResult {
        guard readable >= 8 else { return .needMore }
        let little = frame.header.isLittleEndian
        let tag = Tag(group: uint16(at: 0, littleEndian: little), element: uint16(at: 2, littleEndian: little))
        let length = uint32(at: 4, littleEndian: little)
        if tag == .sequenceDelimitation {
            let total = position - frame.valueStart
            consume(8)
            stack.removeLast()
            return .event(.skippedElement(frame.header, valueLength: total))
        }
        guard tag == .item, length != 0xFFFF_FFFF else {
            state = .scan
            return .again
        }
        consume(8)
        state = .fragment(remaining: Int(length))
        return .again
    }

    /// Called when input has ended and `step` needs more bytes. pydicom reads a defined-length sequence
    /// as one (here: short) byte string and parses what there is, so a data set cut inside defined-length
    /// sequences ends quietly, values cut short; an open undefined-length sequence fails in pydicom too.
    private mutating func endOfInput() throws(DataSetError) -> DataSetEvent? {
        if let inflater, !inflater.isFinished {
            throw DataSetError(.unexpectedEndOfData, offset: position)
        }
        let topLevelEncapsulated = stack.count == 2 && { if case .encapsulated = stack[1] { return true } else { return false } }()
        let graceful = stack.allSatisfy { frame in
            switch frame {
            case .dataSet: return true
            case .sequence(let sequence): return sequence.end != nil
            case .encapsulated: return false
            }
        }
        switch state {
        case .finished:
            return nil
        case .value(let header, _):
            guard graceful else { throw DataSetError(.unexpectedEndOfData, offset: position, tag: header.tag) }
            let value = buffer.readSlice(length: readable)!
            position += value.readableBytes
            wasTruncated = true
            state = .header
            recordCreator(header, value)
            return .element(header, value: value)
        case .skip(let header, let remaining, let total):
            guard graceful else { throw DataSetError(.unexpectedEndOfData, offset: position, tag: header.tag) }
            wasTruncated = true
            state = .header
            return .skippedElement(header, valueLength: total - remaining)
        case .fragment, .scan:
            guard topLevelEncapsulated else { throw DataSetError(.unexpectedEndOfData, offset: position) }
            // pydicom drops an unterminated encapsulated value at top level and ends the data set.
            wasTruncated = true
            state = .finished
            return nil
        case .header:
            if topLevelEncapsulated {
                wasTruncated = true
                state = .finished
                return nil
            }
            guard graceful, let top = stack.last else { throw DataSetError(.unexpectedEndOfData, offset: position) }
            switch top {
            case .dataSet(let frame):
                if readable > 0 {
                    // A partial element header: pydicom's element loop stops there.
                    wasTruncated = true
                    consume(readable)
                }
                if stack.count == 1 {
                    state = .finished
                    return nil
                }
                wasTruncated = true
                stack.removeLast()
                return .itemEnd(isImplicitVR: frame.isImplicitVR)
            case .sequence:
                guard readable == 0 else { throw DataSetError(.unexpectedEndOfData, offset: position) }
                wasTruncated = true
                stack.removeLast()
                sequenceDepth -= 1
                return .sequenceEnd
            case .encapsulated:
                throw DataSetError(.unexpectedEndOfData, offset: position)
            }
        }
    }
}
