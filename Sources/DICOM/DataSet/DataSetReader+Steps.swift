import NIOCore

// The steps of `next()`: one per kind of frame on the stack (data set, sequence, encapsulated value),
// with the VR resolution of implicit and private elements (PS3.5 §6.2, §7.1, §7.5, §A.4).
extension DataSetReader {
    enum StepResult {
        case event(DataSetEvent)
        case needMore
        /// State or stack changed without an event.
        case again
    }

    mutating func recordCreator(_ header: ElementHeader, _ value: ByteBuffer) {
        guard header.tag.isPrivateCreator, case .dataSet(var frame) = stack[stack.count - 1] else { return }
        var bytes = Array(value.readableBytesView)
        while let last = bytes.last, last == 0 || last == 0x20 { bytes.removeLast() }
        let key = UInt32(header.tag.group) << 8 | UInt32(header.tag.element & 0xFF)
        frame.creators[key] = String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) }))
        stack[stack.count - 1] = .dataSet(frame)
    }

    mutating func dataSetStep(_ frameIn: DataSetFrame) throws(DataSetError) -> StepResult {
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

    func ambiguousPlaceholder(_ dictionaryVR: String) -> VR {
        switch dictionaryVR {
        case "US or SS": return .US
        case "OB or OW": return .OB
        default: return .OW
        }
    }

    func implicitVR(for tag: Tag, length: UInt32, frame: DataSetFrame) -> (vr: VR, ambiguous: String?) {
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
    func privateVR(for tag: Tag, frame: DataSetFrame) -> (vr: VR, ambiguous: String?) {
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

    func shouldSkip(_ header: ElementHeader) -> Bool {
        let length = Int(header.length)
        if header.tag == .pixelData { return true }
        let binary = header.vr.isBinary || (header.ambiguousVR != nil && header.ambiguousVR != "US or SS")
        if binary { return length > options.inlineBinaryLimit }
        return length > options.maximumValueLength
    }

    mutating func pushSequence(end: Int?, boundary: Int?, implicit: Bool, little: Bool, at offset: Int, tag: Tag) throws(DataSetError) {
        sequenceDepth += 1
        if sequenceDepth > options.maximumDepth {
            throw DataSetError(.nestingTooDeep, offset: offset, tag: tag)
        }
        stack.append(.sequence(SequenceFrame(end: end, boundary: boundary, isImplicitVR: implicit, isLittleEndian: little)))
    }

    mutating func sequenceStep(_ frame: SequenceFrame) throws(DataSetError) -> StepResult {
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

    mutating func encapsulatedStep(_ frame: EncapsulatedFrame) throws(DataSetError) -> StepResult {
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
    mutating func endOfInput() throws(DataSetError) -> DataSetEvent? {
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
