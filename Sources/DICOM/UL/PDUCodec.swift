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
    /// When set, P-DATA-TF is refused until `phase.associationAccepted()`: before the A-ASSOCIATE-AC only
    /// association-phase PDUs within `maximumAssociationPDULength` are accepted.
    public let phase: PDUDecoderPhase?

    /// - Parameter maximumPDULength: the Maximum Length we advertise in A-ASSOCIATE-AC (PS3.8 Annex D.1): the bound for
    ///   P-DATA-TF. Every other PDU is bounded by `maximumAssociationPDULength` (64 KiB), including the A-ASSOCIATE-RQ
    ///   that arrives before anything is negotiated.
    /// - Parameter phase: the acceptor's association phase (nil: P-DATA-TF accepted at any time, as a requestor needs).
    public init(maximumPDULength: UInt32, maximumAssociationPDULength: UInt32 = PDULimits.defaultAssociationPDULength,
                phase: PDUDecoderPhase? = nil) {
        limits = PDULimits(maximumDataTransferLength: maximumPDULength, maximumAssociationPDULength: maximumAssociationPDULength)
        self.phase = phase
    }

    private var limitsInForce: PDULimits {
        guard let phase, !phase.isAssociated else { return limits }
        var before = limits
        before.dataTransferAllowed = false
        return before
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
        try PDU.decode(from: &buffer, limits: limitsInForce)
    }

    /// At end of stream a partial PDU is dropped: the connection is closing and there is no one to answer.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws -> PDU? {
        try PDU.decode(from: &buffer, limits: limitsInForce)
    }
}

/// The acceptor's association phase as the decoder sees it. Shared by the decoder and whatever sends the
/// A-ASSOCIATE-AC; both run on the channel's event loop, which is the only place it may be touched
/// (the type is deliberately not `Sendable`).
public final class PDUDecoderPhase {
    public private(set) var isAssociated = false

    public init() {}

    /// The A-ASSOCIATE-AC is being written: from now on P-DATA-TF is accepted up to the advertised maximum.
    public func associationAccepted() { isAssociated = true }
}

/// Opens `phase` when an A-ASSOCIATE-AC goes out: an outbound handler between the association and the
/// encoder, so the switch happens on the event loop, in write order, before the peer can have the AC.
public final class AssociationAcceptWatcher: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = PDU
    public typealias OutboundOut = PDU

    private let phase: PDUDecoderPhase

    public init(phase: PDUDecoderPhase) {
        self.phase = phase
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .associateAccept = Self.unwrapOutboundIn(data) { phase.associationAccepted() }
        context.write(data, promise: promise)
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
