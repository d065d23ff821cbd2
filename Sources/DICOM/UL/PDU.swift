public import NIOCore

/// A DICOM Upper Layer protocol data unit (PS3.8 §9.3).
///
/// Every PDU starts with the same 6-byte header, then `length` bytes of variable field:
/// ```
/// +------+----------+-------------------------+----------------
/// | type | reserved | PDU length (UInt32, BE) | variable field …
/// +------+----------+-------------------------+----------------
///   1        1                 4                   length
/// ```
public enum PDU: Sendable, Hashable {
    /// A-ASSOCIATE-RQ, type 0x01 (PS3.8 §9.3.2).
    case associateRequest(AssociateRequest)
    /// A-ASSOCIATE-AC, type 0x02 (PS3.8 §9.3.3).
    case associateAccept(AssociateAccept)
    /// A-ASSOCIATE-RJ, type 0x03 (PS3.8 §9.3.4).
    case associateReject(AssociateReject)
    /// P-DATA-TF, type 0x04 (PS3.8 §9.3.5).
    case dataTransfer(DataTransfer)
    /// A-RELEASE-RQ, type 0x05 (PS3.8 §9.3.6).
    case releaseRequest
    /// A-RELEASE-RP, type 0x06 (PS3.8 §9.3.7).
    case releaseResponse
    /// A-ABORT, type 0x07 (PS3.8 §9.3.8).
    case abort(Abort)

    public var type: PDUType {
        switch self {
        case .associateRequest: .associateRequest
        case .associateAccept: .associateAccept
        case .associateReject: .associateReject
        case .dataTransfer: .dataTransfer
        case .releaseRequest: .releaseRequest
        case .releaseResponse: .releaseResponse
        case .abort: .abort
        }
    }
}

/// The first byte of a PDU (PS3.8 Table 9-11 … 9-26).
public enum PDUType: UInt8, Sendable, Hashable, CaseIterable {
    case associateRequest = 0x01
    case associateAccept = 0x02
    case associateReject = 0x03
    case dataTransfer = 0x04
    case releaseRequest = 0x05
    case releaseResponse = 0x06
    case abort = 0x07
}

/// The DICOM Application Context Name (PS3.7 Annex A.2.1), the only one defined.
public let dicomApplicationContextName = "1.2.840.10008.3.1.1.1"

/// A-ASSOCIATE-RQ (PS3.8 §9.3.2, Table 9-11).
/// ```
/// header(6) | protocol-version(2) | reserved(2) | called-AE(16) | calling-AE(16) | reserved(32) | items…
/// ```
/// Items: one application context (0x10), one or more presentation contexts (0x20), one user information (0x50).
public struct AssociateRequest: Sendable, Hashable {
    /// Bit 0 set means version 1 (the only one defined).
    public var protocolVersion: UInt16
    /// AE titles without their space padding (leading and trailing spaces are insignificant, PS3.8 §9.3.2).
    public var calledAETitle: String
    public var callingAETitle: String
    /// Empty when the item is missing: the acceptor then rejects with "application context name not supported".
    public var applicationContextName: String
    public var presentationContexts: [PresentationContextProposal]
    public var userInformation: UserInformation
    /// Items of a type this implementation does not know, preserved and re-encoded after the presentation contexts.
    public var unknownItems: [UnknownItem]

    public init(protocolVersion: UInt16 = 1, calledAETitle: String, callingAETitle: String,
                applicationContextName: String = dicomApplicationContextName,
                presentationContexts: [PresentationContextProposal], userInformation: UserInformation = UserInformation(),
                unknownItems: [UnknownItem] = []) {
        self.protocolVersion = protocolVersion
        self.calledAETitle = calledAETitle
        self.callingAETitle = callingAETitle
        self.applicationContextName = applicationContextName
        self.presentationContexts = presentationContexts
        self.userInformation = userInformation
        self.unknownItems = unknownItems
    }
}

/// A-ASSOCIATE-AC (PS3.8 §9.3.3, Table 9-17): same fixed layout as the request; the AE title fields are
/// reserved but sent back as received. Items: application context, presentation context results (0x21), user information.
public struct AssociateAccept: Sendable, Hashable {
    public var protocolVersion: UInt16
    public var calledAETitle: String
    public var callingAETitle: String
    public var applicationContextName: String
    public var presentationContexts: [PresentationContextResult]
    public var userInformation: UserInformation
    public var unknownItems: [UnknownItem]

    public init(protocolVersion: UInt16 = 1, calledAETitle: String, callingAETitle: String,
                applicationContextName: String = dicomApplicationContextName,
                presentationContexts: [PresentationContextResult], userInformation: UserInformation = UserInformation(),
                unknownItems: [UnknownItem] = []) {
        self.protocolVersion = protocolVersion
        self.calledAETitle = calledAETitle
        self.callingAETitle = callingAETitle
        self.applicationContextName = applicationContextName
        self.presentationContexts = presentationContexts
        self.userInformation = userInformation
        self.unknownItems = unknownItems
    }
}

/// Presentation Context Item of an A-ASSOCIATE-RQ, type 0x20 (PS3.8 §9.3.2.2):
/// ```
/// 0x20 | reserved | length(2) | context-id(1) | reserved(3) | abstract syntax (0x30) | transfer syntaxes (0x40)…
/// ```
public struct PresentationContextProposal: Sendable, Hashable {
    /// Odd number 1…255.
    public var id: UInt8
    /// Empty when the sub-item is missing (negotiation answers "abstract syntax not supported").
    public var abstractSyntax: String
    public var transferSyntaxes: [String]

    public init(id: UInt8, abstractSyntax: String, transferSyntaxes: [String]) {
        self.id = id
        self.abstractSyntax = abstractSyntax
        self.transferSyntaxes = transferSyntaxes
    }
}

/// Presentation Context Item of an A-ASSOCIATE-AC, type 0x21 (PS3.8 §9.3.3.2):
/// ```
/// 0x21 | reserved | length(2) | context-id(1) | reserved(1) | result/reason(1) | reserved(1) | transfer syntax (0x40)
/// ```
/// The transfer syntax sub-item is always present; it is not significant unless the result is acceptance.
public struct PresentationContextResult: Sendable, Hashable {
    public var id: UInt8
    public var result: Result
    public var transferSyntax: String

    public init(id: UInt8, result: Result, transferSyntax: String) {
        self.id = id
        self.result = result
        self.transferSyntax = transferSyntax
    }

    /// Result/Reason values (PS3.8 Table 9-18).
    public struct Result: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }

        public static let acceptance = Result(rawValue: 0)
        public static let userRejection = Result(rawValue: 1)
        public static let noReason = Result(rawValue: 2)
        public static let abstractSyntaxNotSupported = Result(rawValue: 3)
        public static let transferSyntaxesNotSupported = Result(rawValue: 4)

        public var description: String {
            switch rawValue {
            case 0: "acceptance"
            case 1: "user-rejection"
            case 2: "no-reason"
            case 3: "abstract-syntax-not-supported"
            case 4: "transfer-syntaxes-not-supported"
            default: "result-\(rawValue)"
            }
        }
    }
}

/// An item or sub-item whose type this implementation does not interpret, kept verbatim.
public struct UnknownItem: Sendable, Hashable {
    public var type: UInt8
    /// The second header byte (reserved for most items, a version number for some).
    public var reserved: UInt8
    public var value: [UInt8]

    public init(type: UInt8, reserved: UInt8 = 0, value: [UInt8]) {
        self.type = type
        self.reserved = reserved
        self.value = value
    }
}

/// A-ASSOCIATE-RJ (PS3.8 §9.3.4, Table 9-21):
/// ```
/// header(6) | reserved(1) | result(1) | source(1) | reason/diag.(1)
/// ```
public struct AssociateReject: Sendable, Hashable, CustomStringConvertible {
    public var result: Result
    public var source: Source
    /// Meaning depends on `source` (PS3.8 Table 9-21).
    public var reason: UInt8

    public init(result: Result, source: Source, reason: UInt8) {
        self.result = result
        self.source = source
        self.reason = reason
    }

    public struct Result: RawRepresentable, Sendable, Hashable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let permanent = Result(rawValue: 1)
        public static let transient = Result(rawValue: 2)
    }

    public struct Source: RawRepresentable, Sendable, Hashable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// DICOM UL service-user.
        public static let serviceUser = Source(rawValue: 1)
        /// DICOM UL service-provider (ACSE related function).
        public static let serviceProviderACSE = Source(rawValue: 2)
        /// DICOM UL service-provider (Presentation related function).
        public static let serviceProviderPresentation = Source(rawValue: 3)
    }

    // The rejections the listener sends (PS3.8 Table 9-21).
    /// Permanent, service-user, 1.
    public static let noReasonGiven = AssociateReject(result: .permanent, source: .serviceUser, reason: 1)
    /// Permanent, service-user, 2.
    public static let applicationContextNameNotSupported = AssociateReject(result: .permanent, source: .serviceUser, reason: 2)
    /// Permanent, service-user, 3.
    public static let callingAETitleNotRecognized = AssociateReject(result: .permanent, source: .serviceUser, reason: 3)
    /// Permanent, service-user, 7.
    public static let calledAETitleNotRecognized = AssociateReject(result: .permanent, source: .serviceUser, reason: 7)
    /// Permanent, service-provider (ACSE), 2.
    public static let protocolVersionNotSupported = AssociateReject(result: .permanent, source: .serviceProviderACSE, reason: 2)
    /// Transient, service-provider (presentation), 1.
    public static let temporaryCongestion = AssociateReject(result: .transient, source: .serviceProviderPresentation, reason: 1)
    /// Transient, service-provider (presentation), 2: e.g. over `maxAssociations`.
    public static let localLimitExceeded = AssociateReject(result: .transient, source: .serviceProviderPresentation, reason: 2)

    /// Stable machine-readable name of the reason, for logs and metrics.
    public var description: String {
        switch (source.rawValue, reason) {
        case (1, 1): "no-reason-given"
        case (1, 2): "application-context-name-not-supported"
        case (1, 3): "calling-ae-title-not-recognized"
        case (1, 7): "called-ae-title-not-recognized"
        case (2, 1): "acse-no-reason-given"
        case (2, 2): "protocol-version-not-supported"
        case (3, 1): "temporary-congestion"
        case (3, 2): "local-limit-exceeded"
        default: "reject-\(result.rawValue)-\(source.rawValue)-\(reason)"
        }
    }
}

/// P-DATA-TF (PS3.8 §9.3.5): one or more Presentation Data Value items.
public struct DataTransfer: Sendable, Hashable {
    public var values: [PresentationDataValue]

    public init(values: [PresentationDataValue]) {
        self.values = values
    }
}

/// One Presentation Data Value item (PS3.8 §9.3.5.1 and Annex E.2):
/// ```
/// item-length(4) | context-id(1) | message control header(1) | fragment (item-length − 2)
/// ```
/// Message control header: bit 0 set = command, clear = data set; bit 1 set = last fragment.
public struct PresentationDataValue: Sendable, Hashable {
    public var contextID: UInt8
    public var messageControlHeader: UInt8
    /// The fragment: a slice of the received buffer (no copy).
    public var data: ByteBuffer

    public init(contextID: UInt8, messageControlHeader: UInt8, data: ByteBuffer) {
        self.contextID = contextID
        self.messageControlHeader = messageControlHeader
        self.data = data
    }

    public init(contextID: UInt8, isCommand: Bool, isLast: Bool, data: ByteBuffer) {
        self.init(contextID: contextID, messageControlHeader: (isCommand ? 0x01 : 0) | (isLast ? 0x02 : 0), data: data)
    }

    public var isCommand: Bool { messageControlHeader & 0x01 != 0 }
    public var isLast: Bool { messageControlHeader & 0x02 != 0 }
}

/// A-ABORT (PS3.8 §9.3.8, Table 9-26):
/// ```
/// header(6) | reserved(1) | reserved(1) | source(1) | reason/diag.(1)
/// ```
public struct Abort: Sendable, Hashable, CustomStringConvertible {
    public var source: Source
    /// Significant only when `source` is the service-provider.
    public var reason: Reason

    public init(source: Source, reason: Reason) {
        self.source = source
        self.reason = reason
    }

    /// An abort requested by the local user (e.g. a DIMSE timeout or shutdown): source 0, reason 0.
    public static let serviceUser = Abort(source: .serviceUser, reason: .notSpecified)

    public struct Source: RawRepresentable, Sendable, Hashable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let serviceUser = Source(rawValue: 0)
        public static let serviceProvider = Source(rawValue: 2)
    }

    public struct Reason: RawRepresentable, Sendable, Hashable {
        public var rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let notSpecified = Reason(rawValue: 0)
        public static let unrecognizedPDU = Reason(rawValue: 1)
        public static let unexpectedPDU = Reason(rawValue: 2)
        public static let unrecognizedPDUParameter = Reason(rawValue: 4)
        public static let unexpectedPDUParameter = Reason(rawValue: 5)
        public static let invalidPDUParameterValue = Reason(rawValue: 6)
    }

    public var description: String {
        if source == .serviceUser { return "service-user" }
        let reasonName = switch reason.rawValue {
        case 0: "reason-not-specified"
        case 1: "unrecognized-pdu"
        case 2: "unexpected-pdu"
        case 4: "unrecognized-pdu-parameter"
        case 5: "unexpected-pdu-parameter"
        case 6: "invalid-pdu-parameter-value"
        default: "reason-\(reason.rawValue)"
        }
        return "service-provider/\(reasonName)"
    }
}
