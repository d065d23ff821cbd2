// libFuzzer entry point for the whole inbound path of one association, in process (see Fuzz/README.md).
// Not part of the SwiftPM package: built with swiftc -sanitize=fuzzer against the DICOM sources.
//
// The input is the byte stream a peer sends on one TCP connection. It goes the way the listener's
// `Association` takes it: PDU decoder (PS3.8 §9.3) → Upper Layer state machine (PS3.8 Table 9-10) →
// acceptor negotiation with the storage SCP policy (every registry Storage SOP class and transfer syntax)
// → DIMSE reassembly from PDVs → command set → C-ECHO / C-STORE request → File Meta header (PS3.10) and
// metadata extraction (data set reader, DICOM JSON writer) → responses encoded as the listener sends them.
// Only the I/O is left out: what would be written to the socket is encoded into a scratch buffer.
import NIOCore

#if canImport(Glibc)
import Glibc
#endif

/// FUZZ_TRACE=1 prints each response and the final state to stderr, to check what a seed exercises.
let tracing = getenv("FUZZ_TRACE") != nil

func trace(_ line: String) {
    let text = line + "\n"
    _ = text.withCString { write(2, $0, strlen($0)) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzAssociation(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var session = FuzzedAssociation()
    session.run(ByteBuffer(bytes: UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// The acceptor side of one association, as `AssociationSession` (Sources/Listener/Association.swift and
/// AssociationSession+DIMSE.swift) runs it.
struct FuzzedAssociation {
    /// The storage SCP policy of a listener with no `allowedSOPClasses`.
    static let policy = NegotiationPolicy(
        acceptableAbstractSyntaxes: NegotiationPolicy.storageSCPAbstractSyntaxes(allowedStorageSOPClasses: []),
        acceptableTransferSyntaxes: Set(TransferSyntax.all.map(\.uid)),
        maximumPDULength: 16 * 1024 * 1024)

    var decoder = PDUDecoder(maximumPDULength: 16 * 1024 * 1024)
    var machine = AssociationStateMachine()
    var assembler = DIMSEMessageAssembler()
    var negotiated: NegotiationResult?
    var writer = PDataWriter(peerMaximumPDULength: 0)
    var store: Store?
    /// What the listener would write to the socket (responses, AC/RJ, A-ABORT); encoded, then dropped.
    var output = ByteBuffer()

    /// A C-STORE whose data set is arriving.
    struct Store {
        var request: CStoreRequest
        var contextID: UInt8
        var header: ByteBuffer
        var extractor: MetadataExtractor?
    }

    mutating func run(_ input: ByteBuffer) {
        var cumulation = input
        var pending: AssociationStateMachine.Action? = machine.transportConnected()
        var endOfInput = false
        // Bounded: every turn either performs an action or consumes a PDU; the input is finite.
        for _ in 0..<100_000 {
            if let action = pending {
                pending = perform(action)
                continue
            }
            if machine.state == .sta1 { return }
            if endOfInput { return }
            do {
                if let pdu = try decoder.decode(buffer: &cumulation) {
                    pending = machine.received(pdu)
                } else if let pdu = try decoder.decodeLast(buffer: &cumulation, seenEOF: true) {
                    pending = machine.received(pdu)
                } else {
                    endOfInput = true
                    pending = machine.transportClosed()
                }
            } catch let error as PDUError {
                pending = machine.receivedInvalidPDU(error)
                // The listener stops reading after an invalid PDU: the A-ABORT is its last word.
                endOfInput = true
            } catch {
                preconditionFailure("PDUDecoder threw something other than a PDUError: \(error)")
            }
        }
    }

    mutating func perform(_ action: AssociationStateMachine.Action) -> AssociationStateMachine.Action? {
        if let pdu = action.pduToSend { send(pdu) }
        switch action {
        case .indicateAssociateRequest(let request):
            let result = negotiate(request, policy: Self.policy)
            negotiated = result
            writer = PDataWriter(peerMaximumPDULength: result.peerMaximumPDULength)
            return machine.accept(result.accept)
        case .deliverData(let transfer), .deliverDataAwaitingRelease(let transfer):
            return deliver(transfer)
        case .indicateRelease, .indicateReleaseCollision:
            if store != nil || !assembler.isIdle { return machine.abort() }
            return machine.releaseResponse()
        case .invalidEvent:
            return machine.abort()
        default:
            return nil
        }
    }

    mutating func deliver(_ transfer: DataTransfer) -> AssociationStateMachine.Action? {
        guard let negotiated else { return machine.abort() }
        for pdv in transfer.values {
            guard let context = negotiated.acceptedContexts[pdv.contextID] else { return machine.abort() }
            let event: DIMSEMessageAssembler.Event?
            do {
                event = try assembler.append(pdv)
            } catch {
                _ = error.description
                return machine.abort()
            }
            switch event {
            case nil:
                continue
            case .command(let command, let contextID)?:
                handleCommand(command, context: context, contextID: contextID)
            case .dataSetFragment(let bytes, let contextID, let isLast)?:
                handleDataSetFragment(bytes, contextID: contextID, isLast: isLast)
            }
        }
        return nil
    }

    mutating func handleCommand(_ command: CommandSet, context: AcceptedPresentationContext, contextID: UInt8) {
        store = nil
        switch CommandField(rawValue: command.commandField ?? 0) {
        case .cEchoRequest:
            do {
                respond(CEchoResponse(respondingTo: try CEchoRequest(command)).commandSet, contextID: contextID)
            } catch {
                respond(StatusOnlyResponse(respondingTo: command, status: 0x0120, errorComment: "\(error.code)").commandSet,
                        contextID: contextID)
            }
        case .cStoreRequest:
            let request: CStoreRequest
            do {
                request = try CStoreRequest(command)
            } catch {
                respond(StatusOnlyResponse(respondingTo: command, status: 0x0120, errorComment: "\(error.code)").commandSet,
                        contextID: contextID)
                return
            }
            guard command.hasDataSet, request.affectedSOPClassUID == context.abstractSyntax else {
                respond(CStoreResponse(respondingTo: request, status: DIMSEStatus.sopClassNotSupported,
                                       errorComment: "SOP Class differs from the presentation context").commandSet,
                        contextID: contextID)
                return
            }
            // The listener refuses a UID that breaks PS3.5 §9.1 before this point (Domain's UIDSyntax, which
            // this harness does not link); here every UID reaches the File Meta header, which must answer
            // a value beyond its VR with an error, never a trap.
            let header: ByteBuffer
            do {
                header = try Part10.fileMetaHeader(
                    sopClassUID: request.affectedSOPClassUID, sopInstanceUID: request.affectedSOPInstanceUID,
                    transferSyntaxUID: context.transferSyntax, sourceAETitle: machineCallingAETitle,
                    sendingAETitle: machineCallingAETitle, receivingAETitle: machineCalledAETitle)
            } catch {
                respond(CStoreResponse(respondingTo: request, status: DIMSEStatus.invalidObjectInstance,
                                       errorComment: "\(error)").commandSet,
                        contextID: contextID)
                return
            }
            // The listener's defaults, with the value bound lowered so one input stays fast.
            let options = MetadataOptions(bulkDataThreshold: 1024, bulkDataURI: { "bulk:\($0.tag.hexString)" },
                                          maximumValueLength: 1 << 20, maximumDepth: 64, maximumMetadataBytes: 16 << 20)
            var extractor: MetadataExtractor?
            do {
                extractor = try MetadataExtractor(transferSyntaxUID: context.transferSyntax, options: options)
            } catch {
                extractor = nil  // answered with a failure status when the data set ends
            }
            store = Store(request: request, contextID: contextID, header: header, extractor: extractor)
        default:
            respond(StatusOnlyResponse(respondingTo: command, status: DIMSEStatus.unrecognizedOperation).commandSet,
                    contextID: contextID)
        }
    }

    mutating func handleDataSetFragment(_ bytes: ByteBuffer, contextID: UInt8, isLast: Bool) {
        guard var current = store else { return }
        var status = DIMSEStatus.success
        if var extractor = current.extractor {
            do {
                try extractor.consume(bytes)
                if isLast {
                    let metadata = try extractor.finish()
                    precondition(metadata.json.readableBytes > 0, "DICOM JSON of a data set is never empty")
                    current.extractor = nil
                } else {
                    current.extractor = extractor
                }
            } catch {
                _ = "\(error)"
                status = DIMSEStatus.cannotUnderstand
                current.extractor = nil
            }
        } else {
            status = DIMSEStatus.cannotUnderstand
        }
        store = isLast ? nil : current
        if isLast {
            respond(CStoreResponse(respondingTo: current.request, status: status, errorComment: "fuzz").commandSet,
                    contextID: contextID)
        }
    }

    var machineCallingAETitle: String { requestAETitles.calling }
    var machineCalledAETitle: String { requestAETitles.called }
    var requestAETitles: (calling: String, called: String) {
        guard let accept = negotiated?.accept else { return ("", "") }
        return (accept.callingAETitle, accept.calledAETitle)
    }

    mutating func respond(_ command: CommandSet, contextID: UInt8) {
        if tracing {
            let field = String(command.commandField ?? 0, radix: 16), status = String(command.status ?? 0, radix: 16)
            trace("response \(field) status \(status) on context \(contextID)")
        }
        guard machine.canSendData else { return }
        for transfer in writer.dataTransfers(command: command, contextID: contextID) {
            let action = machine.send(transfer)
            if let pdu = action.pduToSend { send(pdu) }
        }
    }

    mutating func send(_ pdu: PDU) {
        if tracing { trace("send PDU type \(pdu.type.rawValue) in \(machine.state)") }
        output.clear()
        do {
            try pdu.write(into: &output)
        } catch {
            // A value too long for its length field: the listener aborts; here it only must not trap.
            _ = error.description
        }
    }
}
