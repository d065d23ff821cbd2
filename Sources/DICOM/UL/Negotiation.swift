/// What an acceptor is willing to accept (the input of `negotiate`). Built by the listener from the registry
/// (`UIDRegistry.storageSOPClasses`, `UIDRegistry.verificationSOPClass`, `TransferSyntax.all`) and its configuration.
public struct NegotiationPolicy: Sendable, Hashable {
    /// Abstract syntaxes (SOP classes) we accept.
    public var acceptableAbstractSyntaxes: Set<String>
    /// Transfer syntaxes we accept (stored as sent, never transcoded).
    public var acceptableTransferSyntaxes: Set<String>
    /// Abstract syntaxes for which we act as SCU if the requestor asks us to (its SCP role). Empty for a storage SCP.
    public var abstractSyntaxesWeCanActAsSCUFor: Set<String>
    /// Preference among the proposed acceptable syntaxes; anything not listed ranks after, in proposal order.
    public var transferSyntaxPreference: [String]
    /// The Maximum Length we advertise (PS3.8 Annex D.1): the P-DATA-TF bound of our `PDUDecoder`.
    public var maximumPDULength: UInt32
    public var implementationClassUID: String
    public var implementationVersionName: String

    /// Explicit VR Little Endian, then Implicit VR Little Endian, then Explicit VR Big Endian (retired, still sent).
    public static let uncompressedPreference = ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"]

    public init(acceptableAbstractSyntaxes: Set<String>, acceptableTransferSyntaxes: Set<String>,
                abstractSyntaxesWeCanActAsSCUFor: Set<String> = [],
                transferSyntaxPreference: [String] = NegotiationPolicy.uncompressedPreference,
                maximumPDULength: UInt32 = 256 * 1024,
                implementationClassUID: String = Implementation.classUID,
                implementationVersionName: String = Implementation.versionName) {
        self.acceptableAbstractSyntaxes = acceptableAbstractSyntaxes
        self.acceptableTransferSyntaxes = acceptableTransferSyntaxes
        self.abstractSyntaxesWeCanActAsSCUFor = abstractSyntaxesWeCanActAsSCUFor
        self.transferSyntaxPreference = transferSyntaxPreference
        self.maximumPDULength = maximumPDULength
        self.implementationClassUID = implementationClassUID
        self.implementationVersionName = implementationVersionName
    }
}

/// A presentation context the association may use.
public struct AcceptedPresentationContext: Sendable, Hashable {
    public var id: UInt8
    public var abstractSyntax: String
    public var transferSyntax: String
    /// Roles the requestor may play on this context (PS3.7 D.3.3.4): by default SCU only.
    public var requestorIsSCU: Bool
    public var requestorIsSCP: Bool

    public init(id: UInt8, abstractSyntax: String, transferSyntax: String, requestorIsSCU: Bool = true, requestorIsSCP: Bool = false) {
        self.id = id
        self.abstractSyntax = abstractSyntax
        self.transferSyntax = transferSyntax
        self.requestorIsSCU = requestorIsSCU
        self.requestorIsSCP = requestorIsSCP
    }
}

/// The outcome of acceptor negotiation: the A-ASSOCIATE-AC to send and what it agreed.
public struct NegotiationResult: Sendable, Hashable {
    public var accept: AssociateAccept
    /// Accepted contexts by id (result 0 only).
    public var acceptedContexts: [UInt8: AcceptedPresentationContext]
    /// The requestor's Maximum Length (0 = unlimited): feed it to `PDataWriter`.
    public var peerMaximumPDULength: UInt32
    public var peerImplementationClassUID: String?
    public var peerImplementationVersionName: String?

    /// True when no context was accepted (PS3.8 allows the AC anyway; most SCPs then release or abort).
    public var acceptsNothing: Bool { acceptedContexts.isEmpty }
}

/// Acceptor-side presentation negotiation (PS3.8 §9.3.3.2, PS3.7 Annex D.3.3): a pure function.
///
/// Per context, in proposal order:
/// - abstract syntax not in the policy → result 3 (abstract-syntax-not-supported);
/// - none of its transfer syntaxes acceptable → result 4 (transfer-syntaxes-not-supported);
/// - the requestor's role selection leaves no role we can serve → result 1 (user-rejection, PS3.7 D.3.3.4);
/// - otherwise result 0 with the preferred acceptable syntax (Explicit VR LE, Implicit VR LE, Explicit VR BE,
///   else the first acceptable one proposed).
/// For results other than 0 the transfer syntax field is not significant (PS3.8 Table 9-18) but a sub-item is
/// still required: it carries the first proposed syntax (or is empty when none was proposed).
///
/// Role selection (PS3.7 D.3.3.4): for each SOP class the requestor proposed roles for, we reply with the roles we
/// accept for it: SCU if it proposed SCU (we are the SCP), SCP only if it proposed SCP and the policy lets us act as
/// SCU for that class (a storage SCP never does: it answers 0).
///
/// The AC echoes the AE titles of the request, advertises `policy.maximumPDULength` and our implementation UID and
/// version; asynchronous operations, extended negotiation and user identity are not supported and so omitted
/// (PS3.7 D.3.3.3, D.3.3.5, D.3.3.7: omission means "not supported", the window then defaults to 1/1).
public func negotiate(_ request: AssociateRequest, policy: NegotiationPolicy) -> NegotiationResult {
    var proposedRoles: [String: RoleSelection] = [:]
    for role in request.userInformation.roleSelections where proposedRoles[role.sopClassUID] == nil {
        proposedRoles[role.sopClassUID] = role
    }

    var results: [PresentationContextResult] = []
    var accepted: [UInt8: AcceptedPresentationContext] = [:]
    var repliedRoles: [String: RoleSelection] = [:]
    var roleReplyOrder: [String] = []
    results.reserveCapacity(request.presentationContexts.count)

    for context in request.presentationContexts {
        let placeholder = context.transferSyntaxes.first ?? ""
        guard policy.acceptableAbstractSyntaxes.contains(context.abstractSyntax) else {
            results.append(PresentationContextResult(id: context.id, result: .abstractSyntaxNotSupported, transferSyntax: placeholder))
            continue
        }
        guard let transferSyntax = preferredTransferSyntax(context.transferSyntaxes, policy: policy) else {
            results.append(PresentationContextResult(id: context.id, result: .transferSyntaxesNotSupported, transferSyntax: placeholder))
            continue
        }
        // Default roles when no role selection was proposed: requestor SCU, acceptor SCP.
        var requestorIsSCU = true, requestorIsSCP = false
        if let proposal = proposedRoles[context.abstractSyntax] {
            requestorIsSCU = proposal.scuRole
            requestorIsSCP = proposal.scpRole && policy.abstractSyntaxesWeCanActAsSCUFor.contains(context.abstractSyntax)
            if repliedRoles[context.abstractSyntax] == nil {
                roleReplyOrder.append(context.abstractSyntax)
            }
            repliedRoles[context.abstractSyntax] = RoleSelection(sopClassUID: context.abstractSyntax,
                                                                 scuRole: requestorIsSCU, scpRole: requestorIsSCP)
        }
        guard requestorIsSCU || requestorIsSCP else {
            results.append(PresentationContextResult(id: context.id, result: .userRejection, transferSyntax: transferSyntax))
            continue
        }
        results.append(PresentationContextResult(id: context.id, result: .acceptance, transferSyntax: transferSyntax))
        // A repeated context id keeps its first acceptance: the requestor broke PS3.8 §9.3.2.2, not us.
        if accepted[context.id] == nil {
            accepted[context.id] = AcceptedPresentationContext(id: context.id, abstractSyntax: context.abstractSyntax,
                                                               transferSyntax: transferSyntax,
                                                               requestorIsSCU: requestorIsSCU, requestorIsSCP: requestorIsSCP)
        }
    }

    let userInformation = UserInformation(
        maximumLength: policy.maximumPDULength,
        implementationClassUID: policy.implementationClassUID,
        roleSelections: roleReplyOrder.compactMap { repliedRoles[$0] },
        implementationVersionName: policy.implementationVersionName
    )
    let accept = AssociateAccept(protocolVersion: 1, calledAETitle: request.calledAETitle, callingAETitle: request.callingAETitle,
                                 applicationContextName: dicomApplicationContextName, presentationContexts: results,
                                 userInformation: userInformation)
    return NegotiationResult(accept: accept, acceptedContexts: accepted,
                             peerMaximumPDULength: request.userInformation.maximumLength ?? 0,
                             peerImplementationClassUID: request.userInformation.implementationClassUID,
                             peerImplementationVersionName: request.userInformation.implementationVersionName)
}

/// The transfer syntax to accept among `proposed`: the best ranked in `policy.transferSyntaxPreference`, else the
/// first acceptable one in proposal order; nil if none is acceptable.
public func preferredTransferSyntax(_ proposed: [String], policy: NegotiationPolicy) -> String? {
    let acceptable = proposed.filter { policy.acceptableTransferSyntaxes.contains($0) }
    for preferred in policy.transferSyntaxPreference where acceptable.contains(preferred) {
        return preferred
    }
    return acceptable.first
}

extension NegotiationPolicy {
    /// The abstract syntaxes of a storage SCP (PS3.4 Annex A and B): Verification always, and the registry's Storage
    /// SOP classes — every one when `allowedStorageSOPClasses` is empty, else only those in it. An allowed UID that is
    /// not a Storage SOP class of the registry adds nothing: the list narrows what we accept, it never widens it.
    /// Proposals outside the result get result 3 (abstract-syntax-not-supported, PS3.8 §9.3.3.2).
    public static func storageSCPAbstractSyntaxes(allowedStorageSOPClasses: some Sequence<String>) -> Set<String> {
        var allowed = Set(allowedStorageSOPClasses)
        if allowed.isEmpty {
            allowed = UIDRegistry.storageSOPClasses
        } else {
            allowed.formIntersection(UIDRegistry.storageSOPClasses)
        }
        allowed.insert(UIDRegistry.verificationSOPClass)
        return allowed
    }
}
