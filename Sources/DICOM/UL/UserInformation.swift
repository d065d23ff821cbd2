/// User Information Item, type 0x50 (PS3.8 §9.3.2.3, PS3.7 Annex D.3.3):
/// ```
/// 0x50 | reserved | length(2) | sub-items…
/// ```
/// Sub-items are encoded in ascending type order; unknown ones are kept and written last.
public struct UserInformation: Sendable, Hashable {
    /// 0x51 (PS3.8 Annex D.1): maximum length of the variable field of P-DATA-TF PDUs the sender can receive; 0 = no limit.
    public var maximumLength: UInt32?
    /// 0x52 (PS3.7 D.3.3.2).
    public var implementationClassUID: String?
    /// 0x53 (PS3.7 D.3.3.3).
    public var asynchronousOperationsWindow: AsynchronousOperationsWindow?
    /// 0x54 (PS3.7 D.3.3.4), one per SOP class.
    public var roleSelections: [RoleSelection]
    /// 0x55 (PS3.7 D.3.3.2).
    public var implementationVersionName: String?
    /// 0x56 (PS3.7 D.3.3.5).
    public var sopClassExtendedNegotiations: [SOPClassExtendedNegotiation]
    /// 0x57 (PS3.7 D.3.3.6).
    public var sopClassCommonExtendedNegotiations: [SOPClassCommonExtendedNegotiation]
    /// 0x58 (PS3.7 D.3.3.7.1).
    public var userIdentity: UserIdentityRequest?
    /// 0x59 (PS3.7 D.3.3.7.2).
    public var userIdentityResponse: UserIdentityResponse?
    public var unknownSubItems: [UnknownItem]

    public init(maximumLength: UInt32? = nil, implementationClassUID: String? = nil,
                asynchronousOperationsWindow: AsynchronousOperationsWindow? = nil, roleSelections: [RoleSelection] = [],
                implementationVersionName: String? = nil, sopClassExtendedNegotiations: [SOPClassExtendedNegotiation] = [],
                sopClassCommonExtendedNegotiations: [SOPClassCommonExtendedNegotiation] = [],
                userIdentity: UserIdentityRequest? = nil, userIdentityResponse: UserIdentityResponse? = nil,
                unknownSubItems: [UnknownItem] = []) {
        self.maximumLength = maximumLength
        self.implementationClassUID = implementationClassUID
        self.asynchronousOperationsWindow = asynchronousOperationsWindow
        self.roleSelections = roleSelections
        self.implementationVersionName = implementationVersionName
        self.sopClassExtendedNegotiations = sopClassExtendedNegotiations
        self.sopClassCommonExtendedNegotiations = sopClassCommonExtendedNegotiations
        self.userIdentity = userIdentity
        self.userIdentityResponse = userIdentityResponse
        self.unknownSubItems = unknownSubItems
    }
}

/// Asynchronous Operations Window sub-item, 0x53 (PS3.7 D.3.3.3):
/// `0x53 | reserved | length(2)=4 | max-operations-invoked(2) | max-operations-performed(2)`.
public struct AsynchronousOperationsWindow: Sendable, Hashable {
    public var maximumOperationsInvoked: UInt16
    public var maximumOperationsPerformed: UInt16

    public init(maximumOperationsInvoked: UInt16, maximumOperationsPerformed: UInt16) {
        self.maximumOperationsInvoked = maximumOperationsInvoked
        self.maximumOperationsPerformed = maximumOperationsPerformed
    }
}

/// SCP/SCU Role Selection sub-item, 0x54 (PS3.7 D.3.3.4):
/// `0x54 | reserved | length(2) | uid-length(2) | SOP class UID | SCU-role(1) | SCP-role(1)`.
/// In a request the roles are those the requestor proposes for itself; in a reply, those the acceptor accepts
/// for the requestor.
public struct RoleSelection: Sendable, Hashable {
    public var sopClassUID: String
    public var scuRole: Bool
    public var scpRole: Bool

    public init(sopClassUID: String, scuRole: Bool, scpRole: Bool) {
        self.sopClassUID = sopClassUID
        self.scuRole = scuRole
        self.scpRole = scpRole
    }
}

/// SOP Class Extended Negotiation sub-item, 0x56 (PS3.7 D.3.3.5):
/// `0x56 | reserved | length(2) | uid-length(2) | SOP class UID | service-class-application-information…`.
public struct SOPClassExtendedNegotiation: Sendable, Hashable {
    public var sopClassUID: String
    public var applicationInformation: [UInt8]

    public init(sopClassUID: String, applicationInformation: [UInt8]) {
        self.sopClassUID = sopClassUID
        self.applicationInformation = applicationInformation
    }
}

/// SOP Class Common Extended Negotiation sub-item, 0x57 (PS3.7 D.3.3.6):
/// ```
/// 0x57 | sub-item-version(1) | length(2) | uid-length(2) | SOP class UID | service-class-uid-length(2) |
///   service class UID | related-general-SOP-class-ids-length(2) | { uid-length(2) | UID }…
/// ```
public struct SOPClassCommonExtendedNegotiation: Sendable, Hashable {
    public var version: UInt8
    public var sopClassUID: String
    public var serviceClassUID: String
    public var relatedGeneralSOPClassUIDs: [String]

    public init(version: UInt8 = 0, sopClassUID: String, serviceClassUID: String, relatedGeneralSOPClassUIDs: [String] = []) {
        self.version = version
        self.sopClassUID = sopClassUID
        self.serviceClassUID = serviceClassUID
        self.relatedGeneralSOPClassUIDs = relatedGeneralSOPClassUIDs
    }
}

/// User Identity Negotiation sub-item (request), 0x58 (PS3.7 D.3.3.7.1):
/// ```
/// 0x58 | reserved | length(2) | identity-type(1) | positive-response-requested(1) |
///   primary-field-length(2) | primary field | secondary-field-length(2) | secondary field
/// ```
/// The fields can hold passwords or tokens: never log them.
public struct UserIdentityRequest: Sendable, Hashable {
    /// 1 username, 2 username and passcode, 3 Kerberos, 4 SAML, 5 JWT.
    public var identityType: UInt8
    public var positiveResponseRequested: Bool
    public var primaryField: [UInt8]
    public var secondaryField: [UInt8]

    public init(identityType: UInt8, positiveResponseRequested: Bool, primaryField: [UInt8], secondaryField: [UInt8] = []) {
        self.identityType = identityType
        self.positiveResponseRequested = positiveResponseRequested
        self.primaryField = primaryField
        self.secondaryField = secondaryField
    }
}

/// User Identity Negotiation sub-item (accept), 0x59 (PS3.7 D.3.3.7.2):
/// `0x59 | reserved | length(2) | server-response-length(2) | server response`.
public struct UserIdentityResponse: Sendable, Hashable {
    public var serverResponse: [UInt8]

    public init(serverResponse: [UInt8]) {
        self.serverResponse = serverResponse
    }
}
