public import NIOCore

/// A DIMSE command set: the elements of group 0000 (PS3.7 §6.3, §E.1), always encoded Implicit VR Little Endian
/// whatever the negotiated transfer syntax, and led by (0000,0000) Command Group Length:
/// ```
/// { group(2) element(2) value-length(4) value }…   all little endian, no VR
/// ```
/// Values are kept as raw bytes keyed by element number (the group is always 0000), so unknown elements survive.
public struct CommandSet: Sendable, Hashable {
    /// Element number → value bytes (without the group length element, which is computed on encode).
    public private(set) var elements: [UInt16: [UInt8]]

    /// Commands are small; anything larger than this is a protocol violation, not a command.
    public static let maximumEncodedLength = 64 * 1024

    public init() {
        elements = [:]
    }

    // MARK: Element numbers (PS3.7 Annex E.1)

    public enum Element {
        public static let commandGroupLength: UInt16 = 0x0000
        public static let affectedSOPClassUID: UInt16 = 0x0002
        public static let requestedSOPClassUID: UInt16 = 0x0003
        public static let commandField: UInt16 = 0x0100
        public static let messageID: UInt16 = 0x0110
        public static let messageIDBeingRespondedTo: UInt16 = 0x0120
        public static let moveDestination: UInt16 = 0x0600
        public static let priority: UInt16 = 0x0700
        public static let commandDataSetType: UInt16 = 0x0800
        public static let status: UInt16 = 0x0900
        public static let offendingElement: UInt16 = 0x0901
        public static let errorComment: UInt16 = 0x0902
        public static let errorID: UInt16 = 0x0903
        public static let affectedSOPInstanceUID: UInt16 = 0x1000
        public static let requestedSOPInstanceUID: UInt16 = 0x1001
        public static let moveOriginatorApplicationEntityTitle: UInt16 = 0x1030
        public static let moveOriginatorMessageID: UInt16 = 0x1031
    }

    /// Command Data Set Type (0000,0800) value meaning "no data set" (PS3.7 §E.1); any other value means one follows.
    public static let noDataSet: UInt16 = 0x0101

    // MARK: Typed access

    public subscript(raw element: UInt16) -> [UInt8]? {
        get { elements[element] }
        set {
            guard element != Element.commandGroupLength else { return }
            elements[element] = newValue
        }
    }

    public func uint16(_ element: UInt16) -> UInt16? {
        guard let bytes = elements[element], bytes.count == 2 else { return nil }
        return UInt16(bytes[0]) | UInt16(bytes[1]) << 8
    }

    public mutating func setUInt16(_ element: UInt16, _ value: UInt16) {
        self[raw: element] = [UInt8(value & 0xFF), UInt8(value >> 8)]
    }

    /// UI value without its NUL padding.
    public func uid(_ element: UInt16) -> String? {
        string(element, padding: [0x00, 0x20])
    }

    /// AE / LO value without leading or trailing spaces.
    public func text(_ element: UInt16) -> String? {
        guard let value = string(element, padding: [0x20, 0x00]) else { return nil }
        var scalars = Substring(value)
        while scalars.first == " " { scalars.removeFirst() }
        return String(scalars)
    }

    private func string(_ element: UInt16, padding: Set<UInt8>) -> String? {
        guard var bytes = elements[element] else { return nil }
        while let last = bytes.last, padding.contains(last) { bytes.removeLast() }
        var result = ""
        for byte in bytes { result.unicodeScalars.append(Unicode.Scalar(byte)) }
        return result
    }

    /// UI: padded with one NUL to an even length (PS3.5 §6.2).
    public mutating func setUID(_ element: UInt16, _ uid: String) {
        var bytes = Self.latin1(uid)
        if bytes.count % 2 == 1 { bytes.append(0x00) }
        self[raw: element] = bytes
    }

    /// AE / LO / SH text: padded with one space to an even length.
    public mutating func setText(_ element: UInt16, _ text: String) {
        var bytes = Self.latin1(text)
        if bytes.count % 2 == 1 { bytes.append(0x20) }
        self[raw: element] = bytes
    }

    /// Command set text is the default repertoire; one byte per scalar, "?" outside Latin-1.
    private static func latin1(_ text: String) -> [UInt8] {
        text.unicodeScalars.map { $0.value <= 0xFF ? UInt8($0.value) : UInt8(ascii: "?") }
    }

    public mutating func remove(_ element: UInt16) {
        elements[element] = nil
    }

    // MARK: Common fields

    public var commandField: UInt16? { uint16(Element.commandField) }
    public var messageID: UInt16? { uint16(Element.messageID) }
    public var messageIDBeingRespondedTo: UInt16? { uint16(Element.messageIDBeingRespondedTo) }
    public var status: UInt16? { uint16(Element.status) }

    /// Whether a data set follows the command (Command Data Set Type ≠ 0x0101). Missing counts as "none".
    public var hasDataSet: Bool {
        guard let type = uint16(Element.commandDataSetType) else { return false }
        return type != Self.noDataSet
    }

    // MARK: Encoding

    /// Encoded length including the (0000,0000) group length element.
    public var encodedLength: Int {
        12 + elements.values.reduce(0) { $0 + 8 + $1.count }
    }

    /// Appends the command set, Implicit VR Little Endian, elements in ascending order, group length first.
    public func write(into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt16(0), endianness: .little)
        buffer.writeInteger(Element.commandGroupLength, endianness: .little)
        buffer.writeInteger(UInt32(4), endianness: .little)
        buffer.writeInteger(UInt32(encodedLength - 12), endianness: .little)
        for element in elements.keys.sorted() {
            let value = elements[element]!
            buffer.writeInteger(UInt16(0), endianness: .little)
            buffer.writeInteger(element, endianness: .little)
            buffer.writeInteger(UInt32(value.count), endianness: .little)
            buffer.writeBytes(value)
        }
    }

    public func encoded(allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: encodedLength)
        write(into: &buffer)
        return buffer
    }

    // MARK: Decoding

    /// Reads a whole command set. Every element must be in group 0000 and fit in the buffer; (0000,0000), when
    /// present, must agree with the bytes that follow it. Duplicate elements are a violation.
    public init(decoding buffer: ByteBuffer) throws(DIMSEError) {
        guard buffer.readableBytes <= Self.maximumEncodedLength else {
            throw DIMSEError(.commandTooLarge, "command set above 64 KiB")
        }
        var buffer = buffer
        var elements: [UInt16: [UInt8]] = [:]
        var declaredGroupLength: (value: UInt32, after: Int)?
        while buffer.readableBytes > 0 {
            guard let group = buffer.readInteger(endianness: .little, as: UInt16.self),
                  let element = buffer.readInteger(endianness: .little, as: UInt16.self),
                  let length = buffer.readInteger(endianness: .little, as: UInt32.self)
            else { throw DIMSEError(.malformedCommand, "truncated element header") }
            guard group == 0x0000 else { throw DIMSEError(.malformedCommand, "element outside group 0000") }
            guard Int(length) <= buffer.readableBytes, let value = buffer.readBytes(length: Int(length)) else {
                throw DIMSEError(.malformedCommand, "element longer than the command set")
            }
            if element == Element.commandGroupLength {
                guard declaredGroupLength == nil, elements.isEmpty, value.count == 4 else {
                    throw DIMSEError(.malformedCommand, "misplaced command group length")
                }
                let groupLength = UInt32(value[0]) | UInt32(value[1]) << 8 | UInt32(value[2]) << 16 | UInt32(value[3]) << 24
                declaredGroupLength = (groupLength, buffer.readableBytes)
                continue
            }
            guard elements[element] == nil else { throw DIMSEError(.malformedCommand, "duplicate command element") }
            elements[element] = value
        }
        if let declared = declaredGroupLength, Int(declared.value) != declared.after {
            throw DIMSEError(.malformedCommand, "command group length disagrees with the command set")
        }
        guard elements[Element.commandField] != nil, elements[Element.commandField]?.count == 2 else {
            throw DIMSEError(.malformedCommand, "command field missing")
        }
        self.elements = elements
    }
}
