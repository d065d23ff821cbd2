import DICOM
import Domain
import NIOCore

/// The data set of the one DIMSE message in flight on an association, acceptor side (PS3.7 §9.3.1
/// C-STORE, PS3.8 §9.3.5 P-DATA-TF): either streamed into an `InstanceReceiver` and answered with the
/// receiver's status, or, for a message answered without its data set (a refused C-STORE, a C-ECHO or
/// an unsupported request that announces one), read and dropped and then answered.
///
/// A value type, like `AssociationStateMachine`: each `mutating` event method moves to the next state and
/// returns the `Action` the caller performs (hand a fragment to the receiver, finish or cancel it, send a
/// response). It does no I/O. `Receiver` is `any InstanceReceiver` in the listener.
///
/// ```
/// idle       ─ beginStoring     → storing
/// storing    ─ fragment         → receiving                 (.receive)
/// receiving  ─ receiveSucceeded → storing, or finishing     (.finish, after the last fragment)
/// receiving  ─ receiveFailed    → idle (.cancel, then the RSP) after the last fragment, else
///                                 discarding (.cancel; the RSP after the last fragment)
/// finishing  ─ finished         → idle                      (.send the C-STORE-RSP)
/// idle       ─ discardDataSet   → discarding ─ last fragment → idle (.send the response, if any)
/// ```
///
/// The receiver contract (`InstanceReceiver`): fragments in order, one at a time, then exactly one of
/// `finish` or `cancel`. So a receiver whose `receive` failed is cancelled and never finished, and one
/// that is finishing is never cancelled when the association ends.
struct CStoreStateMachine<Receiver: Sendable>: Sendable {
    /// The C-STORE whose data set goes to `receiver`.
    struct Storing: Sendable {
        var receiver: Receiver
        var request: CStoreRequest
        var contextID: UInt8
        var startedAt: ContinuousClock.Instant
    }

    /// A response command and where to send it. `delayed`: subject to `limits.cstoreDelayMs`.
    struct Response: Sendable, Hashable {
        var command: CommandSet
        var contextID: UInt8
        var delayed: Bool
    }

    enum State: Sendable {
        /// No data set expected: between messages.
        case idle
        /// The receiver is open and waits for the next fragment.
        case storing(Storing)
        /// `receive` of a fragment is in progress; `isLast` if it was the data set's last fragment.
        case receiving(Storing, isLast: Bool)
        /// The last fragment was received; `finish` is in progress.
        case finishing(Storing)
        /// The data set is read and dropped; `response` (if any) is sent after its last fragment.
        case discarding(Response?)
    }

    enum Action: Sendable {
        /// Nothing to do: wait for the next fragment or message.
        case none
        /// Hand `fragment` to the receiver, then report `receiveSucceeded` or `receiveFailed`.
        case receive(Storing, fragment: ByteBuffer)
        /// Ask the receiver for the status of the stored instance, then report `finished`.
        case finish(Storing)
        /// Cancel the receiver (nothing of the instance remains), then send `response` if there is one.
        case cancel(Storing, thenSend: Response?)
        /// Send this response.
        case send(Response)
    }

    private(set) var state: State = .idle

    /// No data set is expected and no answer is owed.
    var isIdle: Bool {
        if case .idle = state { return true }
        return false
    }

    /// A C-STORE-RQ was accepted by the sink: its data set goes to `receiver`.
    mutating func beginStoring(_ receiver: Receiver, request: CStoreRequest, contextID: UInt8,
                               startedAt: ContinuousClock.Instant = .now) {
        state = .storing(Storing(receiver: receiver, request: request, contextID: contextID, startedAt: startedAt))
    }

    /// The message's data set is to be read and dropped; `response` (nil: none, as for a response
    /// message we did not ask for) is sent after its last fragment.
    mutating func discardDataSet(thenSend response: Response?) {
        state = .discarding(response)
    }

    /// One fragment of the data set arrived (PS3.8 Annex E: the PDV with its Last Fragment bit).
    mutating func dataSetFragment(_ fragment: ByteBuffer, isLast: Bool) -> Action {
        switch state {
        case .storing(let storing):
            if fragment.readableBytes > 0 {
                state = .receiving(storing, isLast: isLast)
                return .receive(storing, fragment: fragment)
            }
            guard isLast else { return .none }
            state = .finishing(storing)
            return .finish(storing)
        case .discarding(let response):
            guard isLast else { return .none }
            state = .idle
            return response.map(Action.send) ?? .none
        case .idle, .receiving, .finishing:
            // The assembler yields data set fragments only after a command announcing one, and one at a time.
            return .none
        }
    }

    /// The receiver took the fragment.
    mutating func receiveSucceeded() -> Action {
        guard case .receiving(let storing, let isLast) = state else { return .none }
        guard isLast else {
            state = .storing(storing)
            return .none
        }
        state = .finishing(storing)
        return .finish(storing)
    }

    /// The receiver refused the fragment with `status`: it is cancelled, the rest of the data set is
    /// dropped and the C-STORE-RSP carries `status`.
    mutating func receiveFailed(_ status: StoreStatus) -> Action {
        guard case .receiving(let storing, let isLast) = state else { return .none }
        let response = Self.response(to: storing, status: status)
        if isLast {
            state = .idle
            return .cancel(storing, thenSend: response)
        }
        state = .discarding(response)
        return .cancel(storing, thenSend: nil)
    }

    /// The receiver answered `status` for the whole instance.
    mutating func finished(_ status: StoreStatus) -> Action {
        guard case .finishing(let storing) = state else { return .none }
        state = .idle
        return .send(Self.response(to: storing, status: status))
    }

    /// The association ended (abort, connection lost, shutdown): an open receiver is cancelled.
    mutating func associationEnded() -> Action {
        defer { state = .idle }
        switch state {
        case .storing(let storing), .receiving(let storing, _):
            return .cancel(storing, thenSend: nil)
        case .idle, .finishing, .discarding:
            return .none
        }
    }

    /// The C-STORE-RSP (PS3.7 §9.3.1.2) of `storing` with `status` and its Error Comment.
    static func response(to storing: Storing, status: StoreStatus) -> Response {
        let command = CStoreResponse(respondingTo: storing.request, status: status.code, errorComment: status.errorComment).commandSet
        return Response(command: command, contextID: storing.contextID, delayed: true)
    }
}
