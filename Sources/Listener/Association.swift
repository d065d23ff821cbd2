import DICOM
import Domain
import Foundation
import Logging
import NIOCore

/// One association on the acceptor side, from the transport connection to its close (PS3.8 §9.2,
/// PS3.7 §9.1–9.3, PS3.4 Annex B).
///
/// The Upper Layer decisions come from `AssociationStateMachine` (PS3.8 Table 9-10); this type performs
/// its actions (send, ARTIM, close), applies the listener's admission rules to the A-ASSOCIATE-RQ, and
/// runs the DIMSE service: C-ECHO, C-STORE into the `InstanceSink`, 0x0211 for anything else.
///
/// Backpressure: data set fragments are handed to the sink's receiver one at a time and awaited before
/// the next PDU is read; `PDUInbound` reads ahead at most two PDUs, so the socket is not read while the
/// sink is busy. Each PDU is written with `writeAndFlush` and awaited, so a peer that stops reading holds
/// up only its own association (bounded by the DIMSE timeout).
struct Association: Sendable {
    let channel: any Channel
    let inbound: PDUInbound
    let peer: PeerInfo
    let rules: DICOMListener.Rules
    let admission: any AssociationAdmission
    let logger: Logger

    /// Every transfer syntax of the registry: data sets are stored as sent, never transcoded.
    static let acceptableTransferSyntaxes: Set<String> = Set(TransferSyntax.all.map(\.uid))

    func run() async {
        let session = Session(association: self)
        await session.run()
    }
}

/// The mutable side of one association; lives only inside `Association.run()`.
private final class Session {
    let association: Association
    var logger: Logger
    let sink: any InstanceSink
    let config: ListenerConfig
    let timer: AssociationTimer

    var machine = AssociationStateMachine()
    var assembler = DIMSEMessageAssembler()
    var negotiated: NegotiationResult?
    var writer = PDataWriter(peerMaximumPDULength: 0)
    var context: AssociationContext?
    var admitted = false
    var outcome: AssociationOutcome = .aborted
    /// Why the association ended, for the log line.
    var endReason = "connection closed"
    /// The listener is stopping: end the association as soon as no message is in flight.
    var draining = false
    /// The C-STORE or other message whose data set is arriving.
    var inFlight: InFlight?

    enum InFlight {
        /// The sink is receiving this instance.
        case storing(any InstanceReceiver, CStoreRequest, contextID: UInt8, startedAt: ContinuousClock.Instant)
        /// The data set is read and dropped; then `response` is sent.
        case discarding(response: CommandSet, contextID: UInt8, delayed: Bool)
    }

    init(association: Association) {
        self.association = association
        self.sink = association.rules.sink
        self.config = association.rules.config
        self.timer = AssociationTimer(channel: association.channel)
        var logger = association.logger
        logger[metadataKey: "peer"] = "\(association.peer.address)"
        self.logger = logger
    }

    var metrics: ListenerMetrics { association.rules.metrics }
    var limits: ListenerLimits { config.limits }

    func run() async {
        do {
            try await loop()
        } catch where Task.isCancelled {
            await abortOnShutdown()
        } catch {
            logger.debug("association channel ended", metadata: ["error": "\(error)"])
        }
        association.channel.close(promise: nil)
        timer.cancel()
        await cancelInFlight()
        if admitted { association.admission.release() }
        if let context {
            metrics.associationEnded(outcome: outcome.rawValue)
            logger.info("association ended", metadata: ["outcome": "\(outcome.rawValue)", "reason": "\(endReason)"])
            await sink.associationEnded(context, outcome: outcome)
        }
    }

    // MARK: Upper Layer loop

    private func loop() async throws {
        let inbound = association.inbound
        var pending: AssociationStateMachine.Action? = machine.transportConnected()
        while machine.state != .sta1 || pending != nil {
            if let action = pending {
                pending = try await perform(action)
                continue
            }
            if draining && isIdle {
                endForDrain()
                return
            }
            // Waiting for the peer: ARTIM before the association and after it ended; the DIMSE timeout while it is up.
            switch machine.state {
            case .sta2, .sta13: timer.arm(.artim, seconds: limits.networkTimeoutSeconds)
            default: timer.arm(.dimse, seconds: limits.dimseTimeoutSeconds)
            }
            let pdu: PDU?
            do {
                pdu = try await inbound.next()
            } catch let error as PDUError {
                timer.disarm()
                logger.notice("invalid PDU", metadata: ["error": "\(error)"])
                endReason = "invalid PDU: \(error.code)"
                pending = machine.receivedInvalidPDU(error)
                continue
            } catch is CancellationError {
                throw CancellationError()
            } catch is PDUInbound.DrainRequested {
                // Checked at the top of the loop: idle now, or after the message in flight is answered.
                timer.disarm()
                draining = true
                continue
            } catch {
                timer.disarm()
                await transportFailed(error)
                pending = machine.transportClosed()
                continue
            }
            timer.disarm()
            if let pdu {
                pending = machine.received(pdu)
            } else {
                switch timer.expired {
                case .artim?:
                    pending = machine.artimExpired()
                case .dimse?:
                    // The timer already sent the A-ABORT and closed the connection.
                    endReason = "DIMSE timeout (\(limits.dimseTimeoutSeconds) s)"
                    outcome = .aborted
                    logger.notice("DIMSE timeout: association aborted")
                    return
                case nil:
                    pending = machine.transportClosed()
                }
            }
        }
    }

    /// Performs one action of the state machine; returns the follow-up action, if the action leads to a
    /// local primitive (accept/reject, release response).
    private func perform(_ action: AssociationStateMachine.Action) async throws -> AssociationStateMachine.Action? {
        if let pdu = action.pduToSend {
            try await write(pdu)
        }
        if action.stopsARTIM { timer.disarm() }
        switch action {
        case .indicateAssociateRequest(let request):
            return await answer(request)
        case .rejectAssociateRequest(let reject):
            // The state machine refuses an unsupported protocol version itself (PS3.8 §9.3.2).
            let request = firstRequest
            await recordReject(reject, callingAETitle: request?.callingAETitle ?? "", calledAETitle: request?.calledAETitle ?? "")
        case .sendAssociateAccept:
            await associationAccepted()
        case .deliverData(let transfer), .deliverDataAwaitingRelease(let transfer):
            return try await deliver(transfer)
        case .indicateRelease, .indicateReleaseCollision:
            if inFlight != nil || !assembler.isIdle {
                // A release in the middle of a message: the requestor broke PS3.7 §9.3; abort rather than half-store.
                endReason = "A-RELEASE-RQ in the middle of a message"
                return machine.abort()
            }
            outcome = .released
            endReason = "released"
            return machine.releaseResponse()
        case .sendReleaseResponse:
            // PS3.8 lets the acceptor wait in Sta13 for the requestor to close; we close once the RP is
            // written (the close is queued on the event loop after the write), as DCMTK and pynetdicom do.
            association.channel.close(promise: nil)
        case .indicateAbortAndClose(let abort):
            outcome = .aborted
            endReason = "peer A-ABORT (\(abort))"
        case .indicateProviderAbort:
            outcome = .aborted
            if endReason == "connection closed" { endReason = "connection lost" }
        case .sendAbort(let abort), .sendProviderAbort(let abort), .sendAbortAwaitingClose(let abort):
            if context != nil && outcome != .released { outcome = .aborted }
            logger.notice("A-ABORT sent", metadata: ["abort": "\(abort)", "reason": "\(endReason)"])
            halfClose()
        case .invalidEvent:
            logger.error("state machine refused a local event", metadata: ["state": "\(machine.state)"])
            return machine.abort()
        default:
            break
        }
        if case .sendAssociateReject = action { halfClose() }
        if case .rejectAssociateRequest = action { halfClose() }
        if action.closesTransport {
            association.channel.close(promise: nil)
        }
        return nil
    }

    /// After an A-ASSOCIATE-RJ or A-ABORT (Sta13) the requestor is to close the connection, with ARTIM
    /// bounding the wait. Closing only our output (FIN after the PDU) tells it so at once, and unlike a full
    /// close it cannot turn into a reset that discards the PDU while the peer's last bytes are unread.
    private func halfClose() {
        association.channel.close(mode: .output, promise: nil)
    }

    // MARK: A-ASSOCIATE

    private var firstRequest: AssociateRequest?

    /// The listener's rules, in the order of issue 4 (the protocol version is checked by the state machine).
    private func answer(_ request: AssociateRequest) async -> AssociationStateMachine.Action {
        firstRequest = request
        logger[metadataKey: "callingAE"] = "\(request.callingAETitle)"
        let called = request.calledAETitle.trimmingCharacters(in: .whitespaces)
        let calling = request.callingAETitle.trimmingCharacters(in: .whitespaces)
        let allowedCalling = Set(config.allowedCallingAETitles.map { $0.trimmingCharacters(in: .whitespaces) })

        let reject: AssociateReject?
        if request.applicationContextName != dicomApplicationContextName {
            reject = .applicationContextNameNotSupported
        } else if !ListenerValidation.matches(called, ListenerValidation.Pattern.aeTitle) {
            // PS3.8 §9.3.2 and PS3.5 §6.2 (VR AE): the default repertoire without control characters or
            // backslash, not all spaces. Checked before the value reaches a log line, a row or a file.
            reject = .calledAETitleNotRecognized
        } else if !ListenerValidation.matches(calling, ListenerValidation.Pattern.aeTitle) {
            reject = .callingAETitleNotRecognized
        } else if config.requireCalledAETitle && called != config.aeTitle.trimmingCharacters(in: .whitespaces) {
            reject = .calledAETitleNotRecognized
        } else if !allowedCalling.isEmpty && !allowedCalling.contains(calling) {
            reject = .callingAETitleNotRecognized
        } else if draining || !association.admission.admit() {
            // A request that arrives while the listener stops is refused as transient: the sender retries
            // it on another node or after the restart.
            reject = .localLimitExceeded
        } else {
            reject = nil
            admitted = true
        }
        if let reject {
            await recordReject(reject, callingAETitle: calling, calledAETitle: called)
            return machine.reject(reject)
        }

        let policy = NegotiationPolicy(
            acceptableAbstractSyntaxes: association.rules.acceptableAbstractSyntaxes,
            acceptableTransferSyntaxes: Association.acceptableTransferSyntaxes,
            maximumPDULength: AssociationPipeline.advertisedMaximumPDULength(limits))
        let result = negotiate(request, policy: policy)
        negotiated = result
        writer = PDataWriter(peerMaximumPDULength: result.peerMaximumPDULength)
        let associationContext = AssociationContext(
            listener: config, callingAETitle: calling, calledAETitle: called, peerAddress: association.peer.address)
        context = associationContext
        logger[metadataKey: "association"] = "\(associationContext.associationId)"
        logger.info("association accepted", metadata: [
            "contexts": "\(result.acceptedContexts.count)/\(request.presentationContexts.count)",
            "peerMaxPDU": "\(result.peerMaximumPDULength)",
        ])
        return machine.accept(result.accept)
    }

    private func associationAccepted() async {
        guard let context else { return }
        await sink.associationAccepted(context)
    }

    private func recordReject(_ reject: AssociateReject, callingAETitle: String, calledAETitle: String) async {
        let reason = reject.description
        endReason = "rejected: \(reason)"
        logger.notice("association rejected", metadata: [
            "reason": "\(reason)", "calledAE": "\(calledAETitle)",
            "result": "\(reject.result.rawValue)", "source": "\(reject.source.rawValue)", "diagnostic": "\(reject.reason)",
        ])
        metrics.associationRejected(reason: reason)
        await sink.associationRejected(RejectedAssociation(
            listener: config, callingAETitle: callingAETitle, calledAETitle: calledAETitle,
            peerAddress: association.peer.address, reason: reason))
    }

    private func transportFailed(_ error: any Error) async {
        endReason = "transport error"
        if machine.state == .sta2, config.tls != nil {
            // Nothing was negotiated: a failed TLS handshake (e.g. no or an untrusted client certificate).
            logger.notice("TLS handshake failed", metadata: ["error": "\(error)"])
            metrics.associationRejected(reason: RejectReason.tlsHandshakeFailed)
            await sink.associationRejected(RejectedAssociation(
                listener: config, callingAETitle: "", calledAETitle: "", peerAddress: association.peer.address,
                reason: RejectReason.tlsHandshakeFailed))
        } else if context == nil {
            // Lost before any association: a port scan or a connect flood would otherwise write one info
            // line per connection. An association that was accepted is always logged.
            logger.debug("transport error before association", metadata: ["error": "\(error)"])
        } else {
            logger.info("transport error", metadata: ["error": "\(error)"])
        }
    }

    // MARK: DIMSE

    private func deliver(_ transfer: DataTransfer) async throws -> AssociationStateMachine.Action? {
        guard let negotiated else { return machine.abort() }
        for pdv in transfer.values {
            guard negotiated.acceptedContexts[pdv.contextID] != nil else {
                endReason = "PDV on presentation context \(pdv.contextID), which is not accepted"
                logger.notice("PDV on a presentation context that was not accepted", metadata: ["contextID": "\(pdv.contextID)"])
                return machine.abort()
            }
            let event: DIMSEMessageAssembler.Event?
            do {
                event = try assembler.append(pdv)
            } catch {
                endReason = "DIMSE protocol error: \(error.code)"
                logger.notice("DIMSE protocol error", metadata: ["error": "\(error)"])
                return machine.abort()
            }
            switch event {
            case nil:
                continue
            case .command(let command, let contextID)?:
                if let action = try await handleCommand(command, contextID: contextID) {
                    return action
                }
            case .dataSetFragment(let bytes, _, let isLast)?:
                try await handleDataSetFragment(bytes, isLast: isLast)
            }
        }
        return nil
    }

    private func handleCommand(_ command: CommandSet, contextID: UInt8) async throws -> AssociationStateMachine.Action? {
        let presentationContext = negotiated!.acceptedContexts[contextID]!
        let field = CommandField(rawValue: command.commandField ?? 0)
        switch field {
        case .cEchoRequest:
            let response: CommandSet
            do {
                let request = try CEchoRequest(command)
                // PS3.7 §9.1.5: C-ECHO belongs to the Verification SOP Class, on a context negotiated for it.
                if presentationContext.abstractSyntax != UIDRegistry.verificationSOPClass
                    || (!request.affectedSOPClassUID.isEmpty && request.affectedSOPClassUID != UIDRegistry.verificationSOPClass) {
                    response = StatusOnlyResponse(respondingTo: command, status: DIMSEStatus.sopClassNotSupported,
                                                  errorComment: "C-ECHO needs the Verification context").commandSet
                } else {
                    response = CEchoResponse(respondingTo: request).commandSet
                }
            } catch {
                response = StatusOnlyResponse(respondingTo: command, status: DIMSEStatus.missingAttribute, errorComment: "missing Message ID").commandSet
            }
            logger.debug("C-ECHO")
            try await respond(response, contextID: contextID, afterDataSetOf: command, delayed: false)

        case .cStoreRequest:
            let request: CStoreRequest
            do {
                request = try CStoreRequest(command)
            } catch {
                // Well-formed command, missing a required field: PS3.7 C.5.3 Missing Attribute.
                let response = StatusOnlyResponse(respondingTo: command, status: DIMSEStatus.missingAttribute, errorComment: "\(error.code)").commandSet
                try await respond(response, contextID: contextID, afterDataSetOf: command, delayed: true)
                return nil
            }
            // The UID names the object key, the catalog row and the file meta header: it must be a UID
            // (PS3.5 §9.1) before anything is built from it. PS3.7 §C.5.x: 0117 Invalid Object Instance.
            guard UIDSyntax.isValid(request.affectedSOPInstanceUID, .toleratingLeadingZeros) else {
                var response = CStoreResponse(respondingTo: request, status: DIMSEStatus.invalidObjectInstance,
                                              errorComment: "Affected SOP Instance UID is not a valid UID")
                // Not echoed: it is not a UID, and it may be up to 64 KiB of anything.
                response.affectedSOPInstanceUID = ""
                logger.notice("C-STORE refused: invalid Affected SOP Instance UID", metadata: [
                    "messageID": "\(request.messageID)", "uidBytes": "\(request.affectedSOPInstanceUID.unicodeScalars.count)",
                ])
                try await respond(response.commandSet, contextID: contextID, afterDataSetOf: command, delayed: true)
                return nil
            }
            guard command.hasDataSet else {
                let response = CStoreResponse(respondingTo: request, status: DIMSEStatus.cannotUnderstand,
                                              errorComment: "C-STORE-RQ without a data set").commandSet
                try await respond(response, contextID: contextID, afterDataSetOf: command, delayed: true)
                return nil
            }
            // The context must be the instance's own Storage SOP Class (PS3.4 B.2): the Verification context
            // is accepted for every peer, so a C-STORE on it, or naming Verification, would bypass `allowedSOPClasses`.
            guard request.affectedSOPClassUID == presentationContext.abstractSyntax,
                  presentationContext.abstractSyntax != UIDRegistry.verificationSOPClass else {
                inFlight = .discarding(
                    response: CStoreResponse(respondingTo: request, status: DIMSEStatus.sopClassNotSupported,
                                             errorComment: "SOP Class differs from the presentation context").commandSet,
                    contextID: contextID, delayed: true)
                return nil
            }
            let storeRequest = StoreRequest(
                association: context!, messageID: request.messageID, affectedSOPClassUID: request.affectedSOPClassUID,
                affectedSOPInstanceUID: request.affectedSOPInstanceUID, transferSyntaxUID: presentationContext.transferSyntax,
                priority: request.priority, moveOriginatorAETitle: request.moveOriginatorAETitle,
                moveOriginatorMessageID: request.moveOriginatorMessageID)
            do {
                let receiver = try await sink.beginStore(storeRequest)
                inFlight = .storing(receiver, request, contextID: contextID, startedAt: .now)
            } catch {
                let status = Self.status(for: error)
                logger.notice("C-STORE refused by the sink", metadata: ["status": "\(status)", "messageID": "\(request.messageID)"])
                inFlight = .discarding(
                    response: CStoreResponse(respondingTo: request, status: status.code, errorComment: status.errorComment).commandSet,
                    contextID: contextID, delayed: true)
            }

        default:
            if field.isResponse || field == .cCancelRequest {
                // We never send requests, so a response has nothing to answer; C-CANCEL has no response.
                logger.notice("ignoring DIMSE message", metadata: ["command": "\(field)"])
                if command.hasDataSet {
                    inFlight = .discarding(response: CommandSet(), contextID: contextID, delayed: false)
                }
                return nil
            }
            logger.notice("unsupported DIMSE operation", metadata: ["command": "\(field)"])
            let response = StatusOnlyResponse(respondingTo: command, status: DIMSEStatus.unrecognizedOperation).commandSet
            try await respond(response, contextID: contextID, afterDataSetOf: command, delayed: false)
        }
        return nil
    }

    /// Sends `response` now, or after the data set the command announces has been read and dropped.
    private func respond(_ response: CommandSet, contextID: UInt8, afterDataSetOf command: CommandSet,
                         delayed: Bool) async throws {
        if command.hasDataSet {
            inFlight = .discarding(response: response, contextID: contextID, delayed: delayed)
        } else {
            try await send(response, contextID: contextID, delayed: delayed)
        }
    }

    private func handleDataSetFragment(_ bytes: ByteBuffer, isLast: Bool) async throws {
        switch inFlight {
        case .storing(let receiver, let request, let contextID, let startedAt)?:
            do {
                if bytes.readableBytes > 0 {
                    try await receiver.receive(bytes)
                }
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                let status = Self.status(for: error)
                logger.notice("C-STORE failed while receiving", metadata: ["status": "\(status)", "messageID": "\(request.messageID)"])
                inFlight = nil
                await receiver.cancel()
                let response = CStoreResponse(respondingTo: request, status: status.code, errorComment: status.errorComment).commandSet
                if isLast {
                    try await send(response, contextID: contextID, delayed: true)
                } else {
                    inFlight = .discarding(response: response, contextID: contextID, delayed: true)
                }
                return
            }
            guard isLast else { return }
            inFlight = nil
            let status = await receiver.finish()
            logger.info("C-STORE", metadata: [
                "status": "\(status)", "messageID": "\(request.messageID)",
                "ms": "\(Self.milliseconds(since: startedAt))",
            ])
            let response = CStoreResponse(respondingTo: request, status: status.code, errorComment: status.errorComment).commandSet
            try await send(response, contextID: contextID, delayed: true)

        case .discarding(let response, let contextID, let delayed)?:
            guard isLast else { return }
            inFlight = nil
            if !response.elements.isEmpty {
                try await send(response, contextID: contextID, delayed: delayed)
            }

        case nil:
            // The assembler only yields data set fragments after a command announcing one.
            break
        }
    }

    /// Writes a response command, each P-DATA-TF PDU in one write, within the peer's maximum PDU length.
    private func send(_ command: CommandSet, contextID: UInt8, delayed: Bool) async throws {
        if delayed && limits.cstoreDelayMs > 0 {
            try await Task.sleep(for: .milliseconds(limits.cstoreDelayMs))
        }
        for transfer in writer.dataTransfers(command: command, contextID: contextID) {
            let action = machine.send(transfer)
            guard let pdu = action.pduToSend else {
                logger.notice("response not sent: association no longer open", metadata: ["state": "\(machine.state)"])
                return
            }
            try await write(pdu)
        }
        let answered: String
        switch CommandField(rawValue: command.commandField ?? 0) {
        case .cEchoResponse: answered = "C-ECHO"
        case .cStoreResponse: answered = "C-STORE"
        default: answered = "other"
        }
        metrics.dimseResponseSent(command: answered, status: command.status ?? 0)
    }

    /// One PDU, one write. The DIMSE timeout also bounds a write that waits on a peer that stopped reading.
    private func write(_ pdu: PDU) async throws {
        timer.arm(.dimse, seconds: limits.dimseTimeoutSeconds)
        defer { timer.disarm() }
        try await association.channel.writeAndFlush(pdu)
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Int64 {
        let elapsed = ContinuousClock.now - start
        return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }

    static func status(for error: any Error) -> StoreStatus {
        if let failure = error as? StoreFailure { return failure.status }
        // Anything else the sink throws is its own trouble, not the data's: retryable.
        return .outOfResources("storage unavailable")
    }

    // MARK: Ending

    private func cancelInFlight() async {
        if case .storing(let receiver, let request, _, _)? = inFlight {
            logger.notice("C-STORE cancelled: association ended mid-instance", metadata: ["messageID": "\(request.messageID)"])
            inFlight = nil
            await receiver.cancel()
        }
        inFlight = nil
    }

    /// No message is in flight (nothing half received, no answer owed) in a state where waiting for the
    /// peer is all that is left: before the A-ASSOCIATE-RQ, or an established association between messages.
    private var isIdle: Bool {
        inFlight == nil && assembler.isIdle && (machine.state == .sta2 || machine.state == .sta6)
    }

    /// The listener is stopping and this association is idle. An acceptor cannot request a release
    /// (PS3.8 §7.2), so it aborts (A-ABORT, source service-user); every instance it answered is stored,
    /// and the sender opens a new association, on another node behind a load balancer, for the rest.
    private func endForDrain() {
        outcome = context == nil ? outcome : .aborted
        endReason = context == nil ? "listener stopping before association" : "listener stopping: idle association aborted"
        let channel = association.channel
        if context != nil {
            logger.info("A-ABORT sent: listener stopping, association idle")
            channel.writeAndFlush(PDU.abort(.serviceUser), promise: nil)
        }
        channel.close(promise: nil)
    }

    /// The listener is stopping and the grace period is over: A-ABORT, then close.
    private func abortOnShutdown() async {
        outcome = .aborted
        endReason = "listener stopped"
        let channel = association.channel
        // Not through the (cancelled) async writer: straight into the pipeline's PDU encoder. Both go onto
        // the event loop in order, so the flush precedes the close; a peer that no longer reads loses the
        // A-ABORT rather than holding up the shutdown.
        channel.writeAndFlush(PDU.abort(.serviceUser), promise: nil)
        channel.close(promise: nil)
    }
}
