public import NIOCore

/// Reassembles DIMSE messages from PDV fragments (PS3.8 Annex E.2, PS3.7 §6.3.1).
///
/// A message is a command (PDVs with bit 0 of the message control header set, the last with bit 1 set) followed,
/// when its Command Data Set Type is not 0x0101, by a data set (PDVs with bit 0 clear). All fragments of one message
/// use one presentation context. The command is buffered (bounded by `CommandSet.maximumEncodedLength`); data set
/// fragments are passed through as the slices they arrived in, so memory stays at one PDU whatever the data set size.
///
/// ```
/// var assembler = DIMSEMessageAssembler()
/// for pdv in transfer.values {
///     switch try assembler.append(pdv) {
///     case .command(let command, let contextID)?: …
///     case .dataSetFragment(let bytes, let contextID, let isLast)?: …
///     case nil: continue   // command still incomplete
///     }
/// }
/// ```
public struct DIMSEMessageAssembler: Sendable {
    public enum Event: Sendable, Hashable {
        /// A complete command set. `hasDataSet` tells whether data set fragments follow.
        case command(CommandSet, contextID: UInt8)
        /// A data set fragment (possibly empty), a slice of the received PDU.
        case dataSetFragment(ByteBuffer, contextID: UInt8, isLast: Bool)
    }

    private enum State: Sendable {
        case idle
        case readingCommand(contextID: UInt8, fragments: ByteBuffer)
        case readingDataSet(contextID: UInt8)
    }

    private var state: State = .idle
    /// Whether the last complete message was a command without data set: a data fragment now is `unexpectedDataSet`.
    private var lastCommandHadNoDataSet = false
    public let maximumCommandLength: Int

    public init(maximumCommandLength: Int = CommandSet.maximumEncodedLength) {
        self.maximumCommandLength = maximumCommandLength
    }

    /// True between messages: no command or data set is partially received.
    public var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    /// The presentation context of the message in progress, if any.
    public var currentContextID: UInt8? {
        switch state {
        case .idle: nil
        case .readingCommand(let id, _), .readingDataSet(let id): id
        }
    }

    /// Feeds one PDV. Returns the event it completes, or nil while a command is still incomplete.
    /// After a thrown error the assembler is back to idle, but the association must be aborted.
    public mutating func append(_ pdv: PresentationDataValue) throws(DIMSEError) -> Event? {
        switch state {
        case .idle:
            guard pdv.isCommand else {
                if lastCommandHadNoDataSet {
                    throw DIMSEError(.unexpectedDataSet, "data set fragment after a command without data set")
                }
                throw DIMSEError(.dataBeforeCommand, "data set fragment without a preceding command")
            }
            lastCommandHadNoDataSet = false
            return try appendCommandFragment(pdv, contextID: pdv.contextID, accumulated: nil)

        case .readingCommand(let contextID, var fragments):
            guard pdv.contextID == contextID else {
                state = .idle
                throw DIMSEError(.contextChangedMidMessage, "command fragment on another presentation context")
            }
            guard pdv.isCommand else {
                state = .idle
                throw DIMSEError(.dataBeforeCommand, "data set fragment before the last command fragment")
            }
            state = .idle  // drop our reference so `fragments` stays uniquely owned while appending
            fragments.writeImmutableBuffer(pdv.data)
            return try appendCommandFragment(pdv, contextID: contextID, accumulated: fragments)

        case .readingDataSet(let contextID):
            guard pdv.contextID == contextID else {
                state = .idle
                throw DIMSEError(.contextChangedMidMessage, "data set fragment on another presentation context")
            }
            guard !pdv.isCommand else {
                state = .idle
                throw DIMSEError(.commandWhileAwaitingDataSet, "command fragment before the last data set fragment")
            }
            if pdv.isLast {
                state = .idle
                lastCommandHadNoDataSet = false
            }
            return .dataSetFragment(pdv.data, contextID: contextID, isLast: pdv.isLast)
        }
    }

    private mutating func appendCommandFragment(_ pdv: PresentationDataValue, contextID: UInt8,
                                                accumulated: ByteBuffer?) throws(DIMSEError) -> Event? {
        let bytes = accumulated ?? pdv.data
        guard bytes.readableBytes <= maximumCommandLength else {
            state = .idle
            throw DIMSEError(.commandTooLarge, "command set above its bound")
        }
        guard pdv.isLast else {
            if accumulated == nil {
                // Copy the first fragment into a buffer we own, so later fragments can be appended.
                var owned = ByteBufferAllocator().buffer(capacity: min(maximumCommandLength, pdv.data.readableBytes * 2))
                owned.writeImmutableBuffer(pdv.data)
                state = .readingCommand(contextID: contextID, fragments: owned)
            } else {
                state = .readingCommand(contextID: contextID, fragments: bytes)
            }
            return nil
        }
        state = .idle
        let command = try CommandSet(decoding: bytes)
        if command.hasDataSet { state = .readingDataSet(contextID: contextID) } else { lastCommandHadNoDataSet = true }
        return .command(command, contextID: contextID)
    }
}
