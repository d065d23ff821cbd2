public import NIOCore

/// Splits outgoing DIMSE messages into P-DATA-TF PDUs that respect the peer's Maximum Length (PS3.8 Annex D.1,
/// §9.3.5): the PDU length field (the variable field: PDV items of `4 + 1 + 1 + fragment` bytes) never exceeds it.
/// One PDV per PDU; the command and the data set never share a PDV (PS3.8 Annex E.2).
public struct PDataWriter: Sendable, Hashable {
    /// The Maximum Length the peer advertised in its user information; 0 means no limit.
    public var peerMaximumPDULength: UInt32

    public init(peerMaximumPDULength: UInt32) {
        self.peerMaximumPDULength = peerMaximumPDULength
    }

    /// Largest fragment per PDV: the PDU length minus the PDV item header (item length 4, context id 1, control 1).
    /// A peer advertising fewer than 7 bytes is answered with 1-byte fragments rather than not at all.
    public var maximumFragmentLength: Int {
        guard peerMaximumPDULength != 0 else { return Int(UInt32.max) - 6 }
        return max(1, Int(peerMaximumPDULength) - 6)
    }

    /// P-DATA-TF PDUs for a command set: command PDVs, the last flagged last.
    public func dataTransfers(command: CommandSet, contextID: UInt8,
                              allocator: ByteBufferAllocator = ByteBufferAllocator()) -> [DataTransfer] {
        fragments(command.encoded(allocator: allocator), contextID: contextID, isCommand: true, endsMessage: true)
    }

    /// P-DATA-TF PDUs for (part of) a data set. `endsMessage` flags the final fragment as last; pass false
    /// when more data set bytes follow in a later call.
    public func dataTransfers(dataSet: ByteBuffer, contextID: UInt8, endsMessage: Bool = true) -> [DataTransfer] {
        fragments(dataSet, contextID: contextID, isCommand: false, endsMessage: endsMessage)
    }

    /// Encodes a whole message (command, then the data set if any) as consecutive PDUs into one buffer, so the
    /// caller can send it in one write.
    public func write(command: CommandSet, dataSet: ByteBuffer? = nil, contextID: UInt8, into buffer: inout ByteBuffer) throws(PDUError) {
        for transfer in dataTransfers(command: command, contextID: contextID) {
            try PDU.dataTransfer(transfer).write(into: &buffer)
        }
        if let dataSet {
            for transfer in dataTransfers(dataSet: dataSet, contextID: contextID) {
                try PDU.dataTransfer(transfer).write(into: &buffer)
            }
        }
    }

    private func fragments(_ bytes: ByteBuffer, contextID: UInt8, isCommand: Bool, endsMessage: Bool) -> [DataTransfer] {
        var remaining = bytes
        var transfers: [DataTransfer] = []
        transfers.reserveCapacity(remaining.readableBytes / maximumFragmentLength + 1)
        repeat {
            let fragment = remaining.readSlice(length: min(maximumFragmentLength, remaining.readableBytes))!
            let isLast = endsMessage && remaining.readableBytes == 0
            transfers.append(DataTransfer(values: [PresentationDataValue(contextID: contextID, isCommand: isCommand,
                                                                         isLast: isLast, data: fragment)]))
        } while remaining.readableBytes > 0
        return transfers
    }
}
