import DICOM
import Domain
import Foundation
import Logging
import NIOCore

/// One association on the acceptor side, from the transport connection to its close (PS3.8 §9.2,
/// PS3.7 §9.1–9.3, PS3.4 Annex B).
///
/// The Upper Layer decisions come from `AssociationStateMachine` (PS3.8 Table 9-10); this type performs
/// its actions (send, ARTIM, close), asks `AssociateRequestRules` about the A-ASSOCIATE-RQ, and hands each
/// DIMSE message to its service: C-ECHO to `VerificationService`, C-STORE to `StorageService` (its data
/// set through `CStoreStateMachine` into the `InstanceSink`), 0211 Unrecognized Operation for anything else.
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
        let session = AssociationSession(association: self)
        await session.run()
    }
}

/// The mutable side of one association; lives only inside `Association.run()`. Its DIMSE side is in
/// `AssociationSession+DIMSE.swift`.
final class AssociationSession {
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
    /// The data set of the C-STORE or other message in flight.
    var dataSet = CStoreStateMachine<any InstanceReceiver>()
    let storage: StorageService

    init(association: Association) {
        self.association = association
        self.sink = association.rules.sink
        self.config = association.rules.config
        self.storage = StorageService(sink: association.rules.sink)
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
            if !dataSet.isIdle || !assembler.isIdle {
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

    /// The listener's rules (`AssociateRequestRules`), then presentation context negotiation (PS3.8 §9.3.2.2).
    private func answer(_ request: AssociateRequest) async -> AssociationStateMachine.Action {
        firstRequest = request
        logger[metadataKey: "callingAE"] = "\(request.callingAETitle)"
        let called = AssociateRequestRules.trimmed(request.calledAETitle)
        let calling = AssociateRequestRules.trimmed(request.callingAETitle)
        let rules = AssociateRequestRules(config: config)
        let admission = association.admission
        if case .reject(let reject) = rules.decide(request, draining: draining, admit: { admission.admit() }) {
            await recordReject(reject, callingAETitle: calling, calledAETitle: called)
            return machine.reject(reject)
        }
        admitted = true

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
        logger[metadataKey: "association"] = "\(associationContext.associationID)"
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

    /// One PDU, one write. The DIMSE timeout also bounds a write that waits on a peer that stopped reading.
    func write(_ pdu: PDU) async throws {
        timer.arm(.dimse, seconds: limits.dimseTimeoutSeconds)
        defer { timer.disarm() }
        try await association.channel.writeAndFlush(pdu)
    }

    // MARK: Ending

    private func cancelInFlight() async {
        if case .cancel(let storing, _) = dataSet.associationEnded() {
            logger.notice("C-STORE cancelled: association ended mid-instance", metadata: ["messageID": "\(storing.request.messageID)"])
            await storing.receiver.cancel()
        }
    }

    /// No message is in flight (nothing half received, no answer owed) in a state where waiting for the
    /// peer is all that is left: before the A-ASSOCIATE-RQ, or an established association between messages.
    private var isIdle: Bool {
        dataSet.isIdle && assembler.isIdle && (machine.state == .sta2 || machine.state == .sta6)
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
