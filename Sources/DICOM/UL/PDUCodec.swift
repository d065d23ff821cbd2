public import NIOCore

/// Inbound half of the Upper Layer codec: bytes → `PDU` (PS3.8 §9.3).
///
/// Use as `ByteToMessageHandler(PDUDecoder(...), maximumBufferSize: decoder.maximumBufferSize)`.
/// A PDU whose header announces more than `limits` allow fails immediately with `PDUError.Code.pduTooLarge`,
/// before its body is buffered; any malformed PDU throws a `PDUError` whose `abort` is the A-ABORT to send.
/// P-DATA-TF fragments are slices of the cumulation buffer: value bytes are never copied.
public struct PDUDecoder: NIOSingleStepByteToMessageDecoder {
    public typealias InboundOut = PDU

    public var limits: PDULimits

    /// - Parameter maximumPDULength: the Maximum Length we advertise in A-ASSOCIATE-AC (PS3.8 Annex D.1): the bound for
    ///   P-DATA-TF. Every other PDU is bounded by `maximumAssociationPDULength` (64 KiB), including the A-ASSOCIATE-RQ
    ///   that arrives before anything is negotiated.
    public init(maximumPDULength: UInt32, maximumAssociationPDULength: UInt32 = PDULimits.defaultAssociationPDULength) {
        limits = PDULimits(maximumDataTransferLength: maximumPDULength, maximumAssociationPDULength: maximumAssociationPDULength)
    }

    /// Our advertised maximum for P-DATA-TF.
    public var maximumPDULength: UInt32 {
        get { limits.maximumDataTransferLength }
        set { limits.maximumDataTransferLength = newValue }
    }

    /// Largest number of bytes that must ever be buffered: the largest allowed PDU plus its header.
    public var maximumBufferSize: Int {
        Int(max(limits.maximumDataTransferLength, limits.maximumAssociationPDULength)) + PDU.headerLength
    }

    public mutating func decode(buffer: inout ByteBuffer) throws -> PDU? {
        try PDU.decode(from: &buffer, limits: limits)
    }

    /// At end of stream a partial PDU is dropped: the connection is closing and there is no one to answer.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> PDU? {
        try PDU.decode(from: &buffer, limits: limits)
    }
}

/// Outbound half of the Upper Layer codec: `PDU` → bytes, one contiguous buffer per PDU so each goes out in one write.
public struct PDUEncoder: MessageToByteEncoder {
    public typealias OutboundIn = PDU

    public init() {}

    public func encode(data: PDU, out: inout ByteBuffer) throws {
        try data.write(into: &out)
    }
}
