public import Foundation
public import NIOCore

/// Who is talking to whom on one accepted association.
public struct AssociationContext: Sendable, Hashable {
    public var associationID: UUID
    public var listener: ListenerConfig
    public var callingAETitle: String
    public var calledAETitle: String
    /// `host:port` of the peer (IPv6 in brackets).
    public var peerAddress: String
    public var startedAt: Date

    public init(associationID: UUID = UUID(), listener: ListenerConfig, callingAETitle: String, calledAETitle: String,
                peerAddress: String, startedAt: Date = Date()) {
        self.associationID = associationID
        self.listener = listener
        self.callingAETitle = callingAETitle
        self.calledAETitle = calledAETitle
        self.peerAddress = peerAddress
        self.startedAt = startedAt
    }
}

/// An association refused before or during negotiation (A-ASSOCIATE-RJ, or a peer outside
/// `allowedPeers` that was closed before any PDU).
public struct RejectedAssociation: Sendable, Hashable {
    /// The id of the row that records it (and later coalesced attempts).
    public var id: UUID
    public var listener: ListenerConfig
    public var callingAETitle: String
    public var calledAETitle: String
    public var peerAddress: String
    /// Stable machine-readable reason, e.g. `called-ae-title-not-recognized`, `peer-not-allowed`.
    public var reason: String
    public var at: Date

    public init(id: UUID = UUID(), listener: ListenerConfig, callingAETitle: String, calledAETitle: String, peerAddress: String,
                reason: String, at: Date = Date()) {
        self.id = id
        self.listener = listener
        self.callingAETitle = callingAETitle
        self.calledAETitle = calledAETitle
        self.peerAddress = peerAddress
        self.reason = reason
        self.at = at
    }
}

/// One C-STORE-RQ (PS3.7 §9.1.1) as the sink needs it.
public struct StoreRequest: Sendable, Hashable {
    public var association: AssociationContext
    public var messageID: UInt16
    public var affectedSOPClassUID: String
    public var affectedSOPInstanceUID: String
    /// Transfer syntax negotiated for the presentation context the data set arrives on.
    public var transferSyntaxUID: String
    public var priority: UInt16
    public var moveOriginatorAETitle: String?
    public var moveOriginatorMessageID: UInt16?

    public init(association: AssociationContext, messageID: UInt16, affectedSOPClassUID: String, affectedSOPInstanceUID: String,
                transferSyntaxUID: String, priority: UInt16 = 0, moveOriginatorAETitle: String? = nil, moveOriginatorMessageID: UInt16? = nil) {
        self.association = association
        self.messageID = messageID
        self.affectedSOPClassUID = affectedSOPClassUID
        self.affectedSOPInstanceUID = affectedSOPInstanceUID
        self.transferSyntaxUID = transferSyntaxUID
        self.priority = priority
        self.moveOriginatorAETitle = moveOriginatorAETitle
        self.moveOriginatorMessageID = moveOriginatorMessageID
    }
}

/// DIMSE status of a C-STORE-RSP (PS3.4 Annex B.2.3, PS3.7 Annex C).
public struct StoreStatus: Sendable, Hashable, CustomStringConvertible {
    public var code: UInt16
    /// Error Comment (0000,0902): at most 64 characters, no PHI.
    public var errorComment: String?

    public init(code: UInt16, errorComment: String? = nil) {
        self.code = code
        self.errorComment = errorComment.map { String($0.prefix(64)) }
    }

    public static let success = StoreStatus(code: 0x0000)
    /// Refused: Out of Resources (A7xx). Senders retry.
    public static func outOfResources(_ comment: String) -> StoreStatus { StoreStatus(code: 0xA700, errorComment: comment) }
    /// Error: Data Set does not match SOP Class (A9xx).
    public static func dataSetDoesNotMatchSOPClass(_ comment: String) -> StoreStatus { StoreStatus(code: 0xA900, errorComment: comment) }
    /// Error: Cannot understand (Cxxx).
    public static func cannotUnderstand(_ comment: String) -> StoreStatus { StoreStatus(code: 0xC000, errorComment: comment) }
    /// Failure: Duplicate SOP Instance (0111, PS3.7 Annex C): the UID is held by another listener. Not retried.
    public static func duplicateSOPInstance(_ comment: String) -> StoreStatus { StoreStatus(code: 0x0111, errorComment: comment) }
    /// Processing failure (0110).
    public static func processingFailure(_ comment: String) -> StoreStatus { StoreStatus(code: 0x0110, errorComment: comment) }
    /// Warning: Data Set does not match SOP Class (B007): stored as sent, but not a valid instance.
    public static func dataSetDoesNotMatchSOPClassWarning(_ comment: String) -> StoreStatus { StoreStatus(code: 0xB007, errorComment: comment) }

    public var isSuccess: Bool { code == 0x0000 }
    public var isWarning: Bool { code == 0x0001 || (code & 0xF000) == 0xB000 || code == 0x0107 || code == 0x0116 }

    public var description: String {
        let hex = String(code, radix: 16, uppercase: true)
        let padded = String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        return errorComment.map { "0x\(padded) (\($0))" } ?? "0x\(padded)"
    }
}

/// Thrown by an `InstanceReceiver` to end a C-STORE early with this status. The listener then reads and
/// discards the rest of the data set and answers with `status`.
public struct StoreFailure: Error, Sendable, Hashable {
    public var status: StoreStatus
    public init(_ status: StoreStatus) { self.status = status }
}

/// Receives the data set of one C-STORE, fragment by fragment, in order, as the PDVs arrive.
/// `receive` may suspend: the listener stops reading the socket until it returns (backpressure).
/// The listener calls exactly one of `finish` (after the last fragment) or `cancel` (peer abort,
/// connection loss, shutdown, or after `receive` threw).
public protocol InstanceReceiver: Sendable {
    func receive(_ fragment: ByteBuffer) async throws
    /// Completes the instance. `.success` only when the object is complete and its catalog row committed.
    func finish() async -> StoreStatus
    /// Drops everything of this instance: no object, no row.
    func cancel() async
}

/// What the listener hands C-STORE data sets and association events to (PS3.4 Annex B storage SCP).
public protocol InstanceSink: Sendable {
    /// Throwing `StoreFailure` refuses the instance before any data set byte (the data set is then
    /// read and discarded).
    func beginStore(_ request: StoreRequest) async throws -> any InstanceReceiver
    func associationAccepted(_ context: AssociationContext) async
    func associationEnded(_ context: AssociationContext, outcome: AssociationOutcome) async
    func associationRejected(_ rejection: RejectedAssociation) async
    /// `count` more refusals were coalesced into the row of the rejection with `id`.
    func associationRejectionsRepeated(id: UUID, count: Int) async
}

extension InstanceSink {
    public func associationAccepted(_ context: AssociationContext) async {}
    public func associationEnded(_ context: AssociationContext, outcome: AssociationOutcome) async {}
    public func associationRejected(_ rejection: RejectedAssociation) async {}
    public func associationRejectionsRepeated(id: UUID, count: Int) async {}
}

/// What the REST API may ask of the listener runtime on this node.
public protocol ListenerControl: Sendable {
    /// Apply the catalog's listener configuration now (instead of at the next poll) and return once
    /// every listener has reached its new state (running, stopped or failed).
    func reconcileNow() async
}
