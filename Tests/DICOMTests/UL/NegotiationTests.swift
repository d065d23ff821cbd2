import DICOM
import NIOCore
import Testing

@Suite("Presentation negotiation (PS3.8 §9.3.3.2, PS3.7 D.3.3)")
struct NegotiationTests {
    static let verification = "1.2.840.10008.1.1"
    static let ct = "1.2.840.10008.5.1.4.1.1.2"
    static let mr = "1.2.840.10008.5.1.4.1.1.4"
    static let implicit = "1.2.840.10008.1.2"
    static let explicit = "1.2.840.10008.1.2.1"
    static let big = "1.2.840.10008.1.2.2"
    static let deflate = "1.2.840.10008.1.2.1.99"
    static let jpeg = "1.2.840.10008.1.2.4.50"
    static let jpeg2000 = "1.2.840.10008.1.2.4.90"

    static let policy = NegotiationPolicy(
        acceptableAbstractSyntaxes: [verification, ct],
        acceptableTransferSyntaxes: [implicit, explicit, big, deflate, jpeg, jpeg2000],
        maximumPDULength: 65536
    )

    private func request(_ contexts: [PresentationContextProposal], roles: [RoleSelection] = [], maximumLength: UInt32? = 16384) -> AssociateRequest {
        AssociateRequest(calledAETitle: "STORE", callingAETitle: "MODALITY", presentationContexts: contexts,
                         userInformation: UserInformation(maximumLength: maximumLength, implementationClassUID: "1.2.3",
                                                          roleSelections: roles, implementationVersionName: "PEER"))
    }

    @Test func resultsPerContext() {
        let result = negotiate(request([
            PresentationContextProposal(id: 1, abstractSyntax: Self.verification, transferSyntaxes: [Self.implicit]),
            PresentationContextProposal(id: 3, abstractSyntax: Self.mr, transferSyntaxes: [Self.explicit]),
            PresentationContextProposal(id: 5, abstractSyntax: Self.ct, transferSyntaxes: ["1.2.3.4.5"]),
            PresentationContextProposal(id: 7, abstractSyntax: Self.ct, transferSyntaxes: []),
        ]), policy: Self.policy)
        let results = result.accept.presentationContexts
        #expect(results.map(\.id) == [1, 3, 5, 7])
        #expect(results.map(\.result) == [.acceptance, .abstractSyntaxNotSupported, .transferSyntaxesNotSupported, .transferSyntaxesNotSupported])
        #expect(results[0].transferSyntax == Self.implicit)
        // Not significant, but a sub-item is required: the first proposed syntax.
        #expect(results[1].transferSyntax == Self.explicit)
        #expect(results[2].transferSyntax == "1.2.3.4.5")
        #expect(result.acceptedContexts.keys.sorted() == [1])
        #expect(result.acceptedContexts[1]?.transferSyntax == Self.implicit)
    }

    @Test(arguments: [
        ([implicit, explicit, big], explicit),
        ([big, implicit], implicit),
        ([big], big),
        ([jpeg, big, jpeg2000], big),
        ([jpeg2000, jpeg], jpeg2000),
        (["1.9.9", deflate, jpeg], deflate),
    ])
    func transferSyntaxPreference(proposed: [String], chosen: String) {
        let result = negotiate(request([PresentationContextProposal(id: 1, abstractSyntax: Self.ct, transferSyntaxes: proposed)]),
                               policy: Self.policy)
        #expect(result.accept.presentationContexts.first?.transferSyntax == chosen)
        #expect(result.acceptedContexts[1]?.transferSyntax == chosen)
    }

    @Test func acceptIdentifiesUsAndEchoesTitles() {
        let result = negotiate(request([PresentationContextProposal(id: 1, abstractSyntax: Self.verification, transferSyntaxes: [Self.implicit])]),
                               policy: Self.policy)
        let ac = result.accept
        #expect(ac.calledAETitle == "STORE" && ac.callingAETitle == "MODALITY")
        #expect(ac.applicationContextName == "1.2.840.10008.3.1.1.1")
        #expect(ac.userInformation.maximumLength == 65536)
        #expect(ac.userInformation.implementationClassUID == Implementation.classUID)
        #expect(ac.userInformation.implementationVersionName == Implementation.versionName)
        #expect(ac.userInformation.asynchronousOperationsWindow == nil)
        #expect(ac.userInformation.userIdentityResponse == nil)
        #expect(result.peerMaximumPDULength == 16384)
        #expect(result.peerImplementationClassUID == "1.2.3")
        #expect(result.peerImplementationVersionName == "PEER")
        #expect(negotiate(request([], maximumLength: nil), policy: Self.policy).peerMaximumPDULength == 0)
    }

    @Test func roleSelectionForAStorageSCP() {
        let result = negotiate(request([
            PresentationContextProposal(id: 1, abstractSyntax: Self.ct, transferSyntaxes: [Self.explicit]),
            PresentationContextProposal(id: 3, abstractSyntax: Self.verification, transferSyntaxes: [Self.implicit]),
        ], roles: [
            // Requestor offers both roles for CT: we accept it as SCU only (we never act as storage SCU).
            RoleSelection(sopClassUID: Self.ct, scuRole: true, scpRole: true),
            // Requestor wants only to be the SCP for Verification: no role left → context rejected by the user.
            RoleSelection(sopClassUID: Self.verification, scuRole: false, scpRole: true),
            // Role selection for a class without a context is ignored.
            RoleSelection(sopClassUID: Self.mr, scuRole: true, scpRole: false),
        ]), policy: Self.policy)
        #expect(result.accept.userInformation.roleSelections == [
            RoleSelection(sopClassUID: Self.ct, scuRole: true, scpRole: false),
            RoleSelection(sopClassUID: Self.verification, scuRole: false, scpRole: false),
        ])
        #expect(result.accept.presentationContexts.map(\.result) == [.acceptance, .userRejection])
        #expect(result.acceptedContexts[1]?.requestorIsSCU == true)
        #expect(result.acceptedContexts[1]?.requestorIsSCP == false)
        #expect(result.acceptedContexts[3] == nil)
    }

    @Test func roleSelectionWhenPolicyAllowsActingAsSCU() {
        var policy = Self.policy
        policy.abstractSyntaxesWeCanActAsSCUFor = [Self.ct]
        let result = negotiate(request([PresentationContextProposal(id: 1, abstractSyntax: Self.ct, transferSyntaxes: [Self.explicit])],
                                       roles: [RoleSelection(sopClassUID: Self.ct, scuRole: false, scpRole: true)]), policy: policy)
        #expect(result.accept.userInformation.roleSelections == [RoleSelection(sopClassUID: Self.ct, scuRole: false, scpRole: true)])
        #expect(result.acceptedContexts[1]?.requestorIsSCP == true)
    }

    @Test func dcmtkStorescuProposalsNegotiateAsExpected() throws {
        // Real proposals: storescu -xb prefers big endian, but we prefer explicit little endian when offered.
        let bytes = try ULFixtures.bytes("dcmtk_storescu_xb_associate_rq")
        var buffer = bytes
        guard case .associateRequest(let rq) = try #require(try PDU.decode(from: &buffer, limits: PDULimits(maximumDataTransferLength: 65536))) else {
            Issue.record("not RQ"); return
        }
        let result = negotiate(rq, policy: Self.policy)
        let ctContexts = rq.presentationContexts.filter { $0.abstractSyntax == Self.ct }
        for context in ctContexts {
            let chosen = result.acceptedContexts[context.id]?.transferSyntax
            if context.transferSyntaxes.contains(Self.explicit) {
                #expect(chosen == Self.explicit)
            } else {
                #expect(chosen == preferredTransferSyntax(context.transferSyntaxes, policy: Self.policy))
            }
        }
        #expect(result.accept.presentationContexts.count == rq.presentationContexts.count)
        // The AC we build is well-formed: it round-trips through our codec.
        var encoded = try PDU.associateAccept(result.accept).encoded()
        #expect(try PDU.decode(from: &encoded, limits: PDULimits(maximumDataTransferLength: 65536)) == .associateAccept(result.accept))
    }

    @Test func oneHundredTwentyEightContexts() {
        var contexts: [PresentationContextProposal] = []
        for index in 0..<128 {
            let id = UInt8(index * 2 + 1)
            let abstractSyntax: String = index % 2 == 0 ? Self.ct : Self.mr
            contexts.append(PresentationContextProposal(id: id, abstractSyntax: abstractSyntax, transferSyntaxes: [Self.implicit, Self.explicit]))
        }
        let result = negotiate(request(contexts), policy: Self.policy)
        #expect(result.accept.presentationContexts.count == 128)
        #expect(result.acceptedContexts.count == 64)
        #expect(result.acceptedContexts.values.allSatisfy { $0.transferSyntax == Self.explicit })
    }
}
