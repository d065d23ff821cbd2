import NIOCore

/// The non-bulk part of a data set, as read: what DICOM JSON and the catalog need. Bulk values are
/// kept as their length only. Element order is first appearance; a repeated tag keeps its first
/// position and its last value (as pydicom's dict does).
public struct DataSetNode: Sendable, Hashable {
    public enum Content: Sendable, Hashable {
        /// The value bytes (copied out of the input: small by construction).
        case value([UInt8])
        /// The value was skipped; its length in bytes.
        case skipped(length: Int)
        case sequence([DataSetNode])
    }

    public struct Element: Sendable, Hashable {
        public var header: ElementHeader
        public var content: Content
    }

    public private(set) var elements: [Element] = []
    private var index: [Tag: Int] = [:]
    /// The item's encoding after pydicom's implicit/explicit check (PS3.5 §7.5 items inherit it).
    public var isImplicitVR: Bool
    /// The Specific Character Set in force for this data set: its own (0008,0005), else its parent's.
    public var characterSet: SpecificCharacterSet

    public init(isImplicitVR: Bool, characterSet: SpecificCharacterSet) {
        self.isImplicitVR = isImplicitVR
        self.characterSet = characterSet
    }

    public subscript(tag: Tag) -> Element? {
        index[tag].map { elements[$0] }
    }

    public mutating func set(_ element: Element) {
        if let position = index[element.header.tag] {
            elements[position] = element
        } else {
            index[element.header.tag] = elements.count
            elements.append(element)
        }
    }
}

/// Builds `DataSetNode`s from reader events, bounding what it holds.
struct DataSetTreeBuilder {
    private struct OpenSequence {
        var header: ElementHeader
        var items: [DataSetNode] = []
    }

    private var nodes: [DataSetNode]
    private var sequences: [OpenSequence] = []
    private(set) var heldBytes = 0
    let maximumHeldBytes: Int

    init(maximumHeldBytes: Int) {
        self.maximumHeldBytes = maximumHeldBytes
        nodes = [DataSetNode(isImplicitVR: false, characterSet: .defaultRepertoire)]
    }

    var root: DataSetNode { nodes[0] }
    var depth: Int { nodes.count }

    mutating func apply(_ event: DataSetEvent, at offset: Int) throws(DataSetError) {
        switch event {
        case .element(let header, let value):
            heldBytes += value.readableBytes + 64
            guard heldBytes <= maximumHeldBytes else { throw DataSetError(.metadataTooLarge, offset: offset, tag: header.tag) }
            let bytes = Array(value.readableBytesView)
            if header.tag == .specificCharacterSet {
                nodes[nodes.count - 1].characterSet = SpecificCharacterSet(terms: Self.characterSetTerms(bytes))
            }
            nodes[nodes.count - 1].set(.init(header: header, content: .value(bytes)))
        case .skippedElement(let header, let length):
            heldBytes += 64
            guard heldBytes <= maximumHeldBytes else { throw DataSetError(.metadataTooLarge, offset: offset, tag: header.tag) }
            nodes[nodes.count - 1].set(.init(header: header, content: .skipped(length: length)))
        case .sequenceStart(let header):
            heldBytes += 64
            sequences.append(OpenSequence(header: header))
        case .itemStart:
            heldBytes += 64
            guard heldBytes <= maximumHeldBytes else { throw DataSetError(.metadataTooLarge, offset: offset) }
            // Items inherit the character set in force when the sequence was read (pydicom `parent_encoding`).
            let parent = nodes[nodes.count - 1]
            nodes.append(DataSetNode(isImplicitVR: parent.isImplicitVR, characterSet: parent.characterSet))
        case .itemEnd(let isImplicitVR):
            var item = nodes.removeLast()
            item.isImplicitVR = isImplicitVR
            sequences[sequences.count - 1].items.append(item)
        case .sequenceEnd:
            let sequence = sequences.removeLast()
            nodes[nodes.count - 1].set(.init(header: sequence.header, content: .sequence(sequence.items)))
        }
    }

    /// Records where reading stopped on damage the reader cannot get past: the element it was reading,
    /// when its tag is known, is kept in the data set it belongs to as `UN` without a value (PS3.18 F.2.5
    /// lets an element have no Value), so the JSON says which attribute is missing and why it is empty.
    mutating func recordUnreadable(_ error: DataSetError) {
        guard let tag = error.tag, nodes[nodes.count - 1][tag] == nil else { return }
        let header = ElementHeader(tag: tag, vr: .UN, ambiguousVR: nil, length: 0, offset: error.offset,
                                   isImplicitVR: nodes[nodes.count - 1].isImplicitVR, isLittleEndian: true)
        nodes[nodes.count - 1].set(.init(header: header, content: .skipped(length: 0)))
    }

    /// Ends every open item and sequence where it stands (after damage), so the root holds all that was read.
    mutating func closeOpenContainers() {
        // Every open item is inside an open sequence, so there are at least as many sequences as items.
        while !sequences.isEmpty {
            if nodes.count - 1 == sequences.count {
                let item = nodes.removeLast()
                sequences[sequences.count - 1].items.append(item)
            } else {
                let sequence = sequences.removeLast()
                nodes[nodes.count - 1].set(.init(header: sequence.header, content: .sequence(sequence.items)))
            }
        }
        while nodes.count > 1 { nodes.removeLast() }
    }

    mutating func setRootEncoding(isImplicitVR: Bool) {
        nodes[0].isImplicitVR = isImplicitVR
    }

    /// (0008,0005) as pydicom reads it: latin-1, trailing spaces/NULs dropped, split on backslash.
    static func characterSetTerms(_ bytes: [UInt8]) -> [String] {
        var trimmed = bytes[...]
        while let last = trimmed.last, last == 0x20 || last == 0 { trimmed.removeLast() }
        return trimmed.split(separator: 0x5C, omittingEmptySubsequences: false).map { Latin1.string($0) }
    }
}

enum Latin1 {
    /// Each byte is the Unicode scalar of the same value (ISO 8859-1 is the first 256 code points), written
    /// straight as UTF-8: one allocation per value instead of one append per scalar.
    static func string<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        if let converted = bytes.withContiguousStorageIfAvailable({ string(contiguous: $0) }) {
            return converted
        }
        return string(contiguous: Array(bytes))
    }

    private static func string(contiguous bytes: [UInt8]) -> String {
        bytes.withUnsafeBufferPointer { string(contiguous: $0) }
    }

    private static func string(contiguous bytes: UnsafeBufferPointer<UInt8>) -> String {
        if !bytes.contains(where: { $0 >= 0x80 }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        // U+0080...U+00FF take two UTF-8 bytes: 110000xx 10xxxxxx.
        return String(unsafeUninitializedCapacity: bytes.count * 2) { utf8 in
            var count = 0
            for byte in bytes {
                if byte < 0x80 {
                    utf8[count] = byte
                    count += 1
                } else {
                    utf8[count] = 0xC0 | byte >> 6
                    utf8[count + 1] = 0x80 | byte & 0x3F
                    count += 2
                }
            }
            return count
        }
    }
}
