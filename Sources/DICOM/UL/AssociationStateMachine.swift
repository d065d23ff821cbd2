/// The DICOM Upper Layer state machine, association-acceptor side (PS3.8 §9.2, Tables 9-9 and 9-10).
///
/// A value type: each `mutating` event method moves to the next state and returns the `Action` the caller
/// performs (send a PDU, start/stop the ARTIM timer, close the transport, hand something to the DIMSE layer).
/// It does no I/O and holds no timers.
///
/// ```
/// var machine = AssociationStateMachine()
/// machine.transportConnected()                       // AE-5: start ARTIM
/// switch machine.received(pdu) {                     // Evt6 → AE-6
/// case .indicateAssociateRequest(let request): …     // negotiate, then machine.accept(ac) / machine.reject(rj)
/// …
/// }
/// ```
/// Requestor-only events (Evt1 A-ASSOCIATE request, Evt2 transport connect confirmation) are not modelled;
/// states Sta4, Sta5, Sta9 and Sta11 exist for completeness of the table but an acceptor never enters them.
public struct AssociationStateMachine: Sendable, Hashable {
    /// PS3.8 Table 9-1.
    public enum State: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// Idle.
        case sta1 = 1
        /// Transport connection open (awaiting A-ASSOCIATE-RQ PDU).
        case sta2
        /// Awaiting local A-ASSOCIATE response primitive.
        case sta3
        /// Awaiting transport connection opening to complete (requestor).
        case sta4
        /// Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU (requestor).
        case sta5
        /// Association established and ready for data transfer.
        case sta6
        /// Awaiting A-RELEASE-RP PDU.
        case sta7
        /// Awaiting local A-RELEASE response primitive.
        case sta8
        /// Release collision, requestor side: awaiting A-RELEASE response primitive.
        case sta9
        /// Release collision, acceptor side: awaiting A-RELEASE-RP PDU.
        case sta10
        /// Release collision, requestor side: awaiting A-RELEASE-RP PDU.
        case sta11
        /// Release collision, acceptor side: awaiting A-RELEASE response primitive.
        case sta12
        /// Awaiting transport connection close indication (association no longer exists).
        case sta13

        public var description: String { "Sta\(rawValue)" }
    }

    /// PS3.8 Table 9-7 events, as the acceptor sees them.
    public enum Event: Sendable, Hashable {
        /// Evt5: transport connection indication.
        case transportConnected
        /// Evt3, 4, 6, 10, 12, 13, 16 depending on the PDU type.
        case received(PDU)
        /// Evt7: local A-ASSOCIATE response primitive (accept).
        case accept(AssociateAccept)
        /// Evt8: local A-ASSOCIATE response primitive (reject).
        case reject(AssociateReject)
        /// Evt9: local P-DATA request primitive.
        case sendData(DataTransfer)
        /// Evt11: local A-RELEASE request primitive.
        case requestRelease
        /// Evt14: local A-RELEASE response primitive.
        case releaseResponse
        /// Evt15: local A-ABORT request primitive (DIMSE timeout, shutdown, DIMSE protocol error).
        case abort
        /// Evt17: transport connection closed indication.
        case transportClosed
        /// Evt18: ARTIM timer expired.
        case artimExpired
        /// Evt19: unrecognized or invalid PDU received.
        case invalidPDU(PDUError)

        /// The event number of PS3.8 Table 9-7.
        public var number: Int {
            switch self {
            case .transportConnected: 5
            case .received(let pdu):
                switch pdu {
                case .associateAccept: 3
                case .associateReject: 4
                case .associateRequest: 6
                case .dataTransfer: 10
                case .releaseRequest: 12
                case .releaseResponse: 13
                case .abort: 16
                }
            case .accept: 7
            case .reject: 8
            case .sendData: 9
            case .requestRelease: 11
            case .releaseResponse: 14
            case .abort: 15
            case .transportClosed: 17
            case .artimExpired: 18
            case .invalidPDU: 19
            }
        }
    }

    /// PS3.8 Table 9-9 actions. Use the helpers (`pduToSend`, `startsARTIM`, `stopsARTIM`, `closesTransport`) for
    /// the mechanical part, and switch on the cases that carry something for the DIMSE layer.
    public enum Action: Sendable, Hashable {
        /// AE-5: accept the transport connection, start ARTIM. → Sta2
        case acceptTransport
        /// AE-6, request acceptable to the UL: stop ARTIM; the local user negotiates, then calls `accept` or `reject`. → Sta3
        case indicateAssociateRequest(AssociateRequest)
        /// AE-6, request not acceptable to the UL (protocol version): stop ARTIM, send A-ASSOCIATE-RJ, start ARTIM. → Sta13
        case rejectAssociateRequest(AssociateReject)
        /// AE-7: send A-ASSOCIATE-AC. → Sta6
        case sendAssociateAccept(AssociateAccept)
        /// AE-8: send A-ASSOCIATE-RJ, start ARTIM. → Sta13
        case sendAssociateReject(AssociateReject)
        /// DT-1: send P-DATA-TF. → Sta6
        case sendData(DataTransfer)
        /// DT-2: P-DATA indication: hand the PDVs to the DIMSE layer. → Sta6
        case deliverData(DataTransfer)
        /// AR-1: send A-RELEASE-RQ. → Sta7
        case sendReleaseRequest
        /// AR-2: A-RELEASE indication: finish pending work, then call `releaseResponse()`. → Sta8
        case indicateRelease
        /// AR-3: A-RELEASE confirmation, close the transport. → Sta1
        case confirmReleaseAndClose
        /// AR-4: send A-RELEASE-RP, start ARTIM. → Sta13
        case sendReleaseResponse
        /// AR-5: stop ARTIM (the transport closed after the association ended). → Sta1
        case stopARTIM
        /// AR-6: P-DATA indication while awaiting A-RELEASE-RP. → Sta7
        case deliverDataAwaitingRelease(DataTransfer)
        /// AR-7: send P-DATA-TF while awaiting the local release response. → Sta8
        case sendDataAwaitingRelease(DataTransfer)
        /// AR-8: A-RELEASE indication (release collision); acceptor → Sta10
        case indicateReleaseCollision
        /// AR-9: send A-RELEASE-RP (collision, requestor side). → Sta11
        case sendReleaseResponseInCollision
        /// AR-10: A-RELEASE confirmation (collision, acceptor side). → Sta12
        case confirmReleaseInCollision
        /// AA-1: send A-ABORT, start (or restart) ARTIM. → Sta13
        case sendAbort(Abort)
        /// AA-2: stop ARTIM if running, close the transport. → Sta1
        case close
        /// AA-3: A-ABORT (or A-P-ABORT) indication, close the transport. → Sta1
        case indicateAbortAndClose(Abort)
        /// AA-4: A-P-ABORT indication (the transport closed under an association). → Sta1
        case indicateProviderAbort
        /// AA-5: stop ARTIM (transport closed before an A-ASSOCIATE-RQ). → Sta1
        case stopARTIMBeforeAssociation
        /// AA-6: ignore the PDU. → Sta13
        case ignore
        /// AA-7: send A-ABORT (no ARTIM change: it already runs). → Sta13
        case sendAbortAwaitingClose(Abort)
        /// AA-8: send A-ABORT (service-provider source), A-P-ABORT indication, start ARTIM. → Sta13
        case sendProviderAbort(Abort)
        /// A local primitive that PS3.8 Table 9-10 does not allow in this state (a caller bug, or an event
        /// outside the acceptor's table). The state is unchanged.
        case invalidEvent

        /// The action's name in PS3.8 Table 9-9.
        public var name: String {
            switch self {
            case .acceptTransport: "AE-5"
            case .indicateAssociateRequest, .rejectAssociateRequest: "AE-6"
            case .sendAssociateAccept: "AE-7"
            case .sendAssociateReject: "AE-8"
            case .sendData: "DT-1"
            case .deliverData: "DT-2"
            case .sendReleaseRequest: "AR-1"
            case .indicateRelease: "AR-2"
            case .confirmReleaseAndClose: "AR-3"
            case .sendReleaseResponse: "AR-4"
            case .stopARTIM: "AR-5"
            case .deliverDataAwaitingRelease: "AR-6"
            case .sendDataAwaitingRelease: "AR-7"
            case .indicateReleaseCollision: "AR-8"
            case .sendReleaseResponseInCollision: "AR-9"
            case .confirmReleaseInCollision: "AR-10"
            case .sendAbort: "AA-1"
            case .close: "AA-2"
            case .indicateAbortAndClose: "AA-3"
            case .indicateProviderAbort: "AA-4"
            case .stopARTIMBeforeAssociation: "AA-5"
            case .ignore: "AA-6"
            case .sendAbortAwaitingClose: "AA-7"
            case .sendProviderAbort: "AA-8"
            case .invalidEvent: "invalid"
            }
        }

        /// The PDU the caller must send, if any.
        public var pduToSend: PDU? {
            switch self {
            case .rejectAssociateRequest(let reject), .sendAssociateReject(let reject): .associateReject(reject)
            case .sendAssociateAccept(let accept): .associateAccept(accept)
            case .sendData(let data), .sendDataAwaitingRelease(let data): .dataTransfer(data)
            case .sendReleaseRequest: .releaseRequest
            case .sendReleaseResponse, .sendReleaseResponseInCollision: .releaseResponse
            case .sendAbort(let abort), .sendAbortAwaitingClose(let abort), .sendProviderAbort(let abort): .abort(abort)
            default: nil
            }
        }

        /// Whether ARTIM must be started (or restarted) after sending `pduToSend`.
        public var startsARTIM: Bool {
            switch self {
            case .acceptTransport, .rejectAssociateRequest, .sendAssociateReject, .sendReleaseResponse, .sendAbort, .sendProviderAbort: true
            default: false
            }
        }

        /// Whether ARTIM must be stopped.
        public var stopsARTIM: Bool {
            switch self {
            case .indicateAssociateRequest, .stopARTIM, .close, .stopARTIMBeforeAssociation: true
            default: false
            }
        }

        /// Whether the caller must close the transport connection.
        public var closesTransport: Bool {
            switch self {
            case .confirmReleaseAndClose, .close, .indicateAbortAndClose: true
            default: false
            }
        }
    }

    public private(set) var state: State

    public init() {
        state = .sta1
    }

    /// A machine in any state, for tests of the transition table.
    public init(state: State) {
        self.state = state
    }

    // MARK: Event methods

    public mutating func transportConnected() -> Action { handle(.transportConnected) }
    public mutating func received(_ pdu: PDU) -> Action { handle(.received(pdu)) }
    public mutating func receivedInvalidPDU(_ error: PDUError) -> Action { handle(.invalidPDU(error)) }
    public mutating func accept(_ accept: AssociateAccept) -> Action { handle(.accept(accept)) }
    public mutating func reject(_ reject: AssociateReject) -> Action { handle(.reject(reject)) }
    public mutating func send(_ data: DataTransfer) -> Action { handle(.sendData(data)) }
    public mutating func requestRelease() -> Action { handle(.requestRelease) }
    public mutating func releaseResponse() -> Action { handle(.releaseResponse) }
    public mutating func abort() -> Action { handle(.abort) }
    public mutating func transportClosed() -> Action { handle(.transportClosed) }
    public mutating func artimExpired() -> Action { handle(.artimExpired) }

    /// Whether P-DATA can be sent now (Sta6, or Sta8 while the peer awaits our release response).
    public var canSendData: Bool { state == .sta6 || state == .sta8 }

    /// The single transition function: PS3.8 Table 9-10.
    public mutating func handle(_ event: Event) -> Action {
        let (action, next) = Self.transition(from: state, on: event)
        if let next { state = next }
        return action
    }

    /// The A-ABORT sent when a PDU arrives that the state does not allow (AA-1 / AA-7 / AA-8).
    /// PS3.8 lets AA-1 use the service-user source; we say precisely why as the service-provider.
    private static func providerAbort(for event: Event) -> Abort {
        if case .invalidPDU(let error) = event { return error.abort }
        return Abort(source: .serviceProvider, reason: .unexpectedPDU)
    }

    // swiftlint:disable:next cyclomatic_complexity function_body_length
    static func transition(from state: State, on event: Event) -> (Action, State?) {
        let number = event.number
        let isIncomingPDU = [3, 4, 6, 10, 12, 13, 19].contains(number)

        switch (number, state) {
        case (5, .sta1):
            return (.acceptTransport, .sta2)

        // A-ASSOCIATE-RQ
        case (6, .sta2):
            guard case .received(.associateRequest(let request)) = event else { return (.invalidEvent, nil) }
            // PS3.8 §9.3.2: bit 0 of the protocol version must be set (version 1).
            guard request.protocolVersion & 0x0001 != 0 else {
                return (.rejectAssociateRequest(.protocolVersionNotSupported), .sta13)
            }
            return (.indicateAssociateRequest(request), .sta3)
        case (7, .sta3):
            guard case .accept(let accept) = event else { return (.invalidEvent, nil) }
            return (.sendAssociateAccept(accept), .sta6)
        case (8, .sta3):
            guard case .reject(let reject) = event else { return (.invalidEvent, nil) }
            return (.sendAssociateReject(reject), .sta13)

        // Data transfer
        case (9, .sta6):
            guard case .sendData(let data) = event else { return (.invalidEvent, nil) }
            return (.sendData(data), .sta6)
        case (9, .sta8):
            guard case .sendData(let data) = event else { return (.invalidEvent, nil) }
            return (.sendDataAwaitingRelease(data), .sta8)
        case (10, .sta6):
            guard case .received(.dataTransfer(let data)) = event else { return (.invalidEvent, nil) }
            return (.deliverData(data), .sta6)
        case (10, .sta7):
            guard case .received(.dataTransfer(let data)) = event else { return (.invalidEvent, nil) }
            return (.deliverDataAwaitingRelease(data), .sta7)

        // Release
        case (11, .sta6):
            return (.sendReleaseRequest, .sta7)
        case (12, .sta6):
            return (.indicateRelease, .sta8)
        case (12, .sta7):
            // AR-8: the acceptor goes to Sta10 (the requestor would go to Sta9).
            return (.indicateReleaseCollision, .sta10)
        case (13, .sta7), (13, .sta11):
            return (.confirmReleaseAndClose, .sta1)
        case (13, .sta10):
            return (.confirmReleaseInCollision, .sta12)
        case (14, .sta8), (14, .sta12):
            return (.sendReleaseResponse, .sta13)
        case (14, .sta9):
            return (.sendReleaseResponseInCollision, .sta11)

        // Abort requested locally
        case (15, .sta3), (15, .sta5), (15, .sta6), (15, .sta7), (15, .sta8), (15, .sta9), (15, .sta10), (15, .sta11), (15, .sta12):
            return (.sendAbort(.serviceUser), .sta13)
        case (15, .sta4):
            return (.close, .sta1)

        // A-ABORT received
        case (16, .sta2), (16, .sta13):
            return (.close, .sta1)
        case (16, _) where state != .sta1 && state != .sta4:
            guard case .received(.abort(let abort)) = event else { return (.invalidEvent, nil) }
            return (.indicateAbortAndClose(abort), .sta1)

        // Transport closed
        case (17, .sta2):
            return (.stopARTIMBeforeAssociation, .sta1)
        case (17, .sta13):
            return (.stopARTIM, .sta1)
        case (17, _) where state != .sta1:
            return (.indicateProviderAbort, .sta1)

        // ARTIM expired
        case (18, .sta2), (18, .sta13):
            return (.close, .sta1)

        // Any other PDU, or an invalid one
        case (_, .sta2) where isIncomingPDU:
            return (.sendAbort(providerAbort(for: event)), .sta13)
        case (_, .sta13) where isIncomingPDU:
            return number == 6 || number == 19 ? (.sendAbortAwaitingClose(providerAbort(for: event)), .sta13) : (.ignore, .sta13)
        case (_, _) where isIncomingPDU && state != .sta1 && state != .sta4:
            if number == 3 && state == .sta5 || number == 4 && state == .sta5 {
                // AE-3 / AE-4 belong to the requestor; an acceptor never waits in Sta5.
                return (.invalidEvent, nil)
            }
            return (.sendProviderAbort(providerAbort(for: event)), .sta13)

        default:
            return (.invalidEvent, nil)
        }
    }
}
