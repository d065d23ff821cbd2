import DICOM
import Domain
import NIOCore
import NIOSSL

/// The channel pipeline of one admitted connection:
/// `quick ACK → [TLS] → byte counter → PDU decoder → PDU encoder → A-ASSOCIATE-AC watcher → PDUInbound`.
///
/// The channel runs with `autoRead` off and `PDUInbound` asks for reads only while fewer than two decoded
/// PDUs wait for the association, so while the sink is busy memory stays at about one PDU in the sink,
/// two waiting and one being decoded.
enum AssociationPipeline {
    /// The P-DATA-TF Maximum Length we advertise (PS3.8 Annex D.1). `maxPDUSize` 0 ("no limit") advertises
    /// the hard cap rather than 0: a peer told "unlimited" may send a whole multi-gigabyte data set in one
    /// PDU, which we would have to refuse. So 0 means "as large as we accept", never more than the cap.
    static func advertisedMaximumPDULength(_ limits: ListenerLimits) -> UInt32 {
        let cap = ListenerLimits.hardMaximumPDUSize
        let configured = limits.maxPDUSize <= 0 ? cap : min(limits.maxPDUSize, cap)
        return UInt32(configured)
    }

    /// Installs the byte-level handlers; called on the channel's event loop before it is registered.
    static func configure(_ channel: any Channel, tls: NIOSSLContext?, limits: ListenerLimits,
                          metrics: ListenerMetrics) throws {
        let pipeline = channel.pipeline.syncOperations
        try pipeline.addHandler(QuickAcknowledgement())
        if let tls {
            try pipeline.addHandler(NIOSSLServerHandler(context: tls))
        }
        try pipeline.addHandler(ReceivedBytesCounter(metrics: metrics))
        // Until the A-ASSOCIATE-AC only association-phase PDUs of at most 64 KiB are decoded: a peer that
        // has not been admitted can never make us buffer a data-transfer-sized PDU.
        let phase = PDUDecoderPhase()
        let decoder = PDUDecoder(maximumPDULength: advertisedMaximumPDULength(limits), phase: phase)
        try pipeline.addHandler(ByteToMessageHandler(decoder, maximumBufferSize: decoder.maximumBufferSize))
        try pipeline.addHandler(MessageToByteHandler(PDUEncoder()))
        try pipeline.addHandler(AssociationAcceptWatcher(phase: phase))
    }

    /// Adds the inbound bridge; called on the event loop while reading is still off (it stays off: the
    /// bridge issues every read).
    static func wrap(_ channel: any Channel) throws -> PDUInbound {
        let inbound = PDUInbound(eventLoop: channel.eventLoop)
        try channel.pipeline.syncOperations.addHandler(inbound)
        return inbound
    }
}

/// Counts the bytes of PDUs received (after TLS) into `dicom_pdu_bytes_received_total`.
final class ReceivedBytesCounter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let metrics: ListenerMetrics

    init(metrics: ListenerMetrics) {
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        metrics.pduBytesReceived(Self.unwrapInboundIn(data).readableBytes)
        context.fireChannelRead(data)
    }
}
