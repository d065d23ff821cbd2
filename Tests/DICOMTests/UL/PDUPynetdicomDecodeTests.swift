import DICOM
import NIOCore
import Testing

/// What we send, read back by an outside decoder: pynetdicom (Scripts/ul_decode_pdus.py).
@Suite("Our PDUs decoded by pynetdicom")
struct PDUPynetdicomDecodeTests {
    static let policy = NegotiationPolicy(
        acceptableAbstractSyntaxes: ["1.2.840.10008.1.1", "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"],
        acceptableTransferSyntaxes: ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"],
        maximumPDULength: 131_072
    )

    @Test func everythingTheListenerSends() throws {
        // Negotiated accepts for real DCMTK proposals (128 contexts), and one with role selection.
        var accepts: [AssociateAccept] = []
        for name in ["dcmtk_storescu_default_associate_rq", "dcmtk_storescu_xd_associate_rq", "dcmtk_echoscu_associate_rq"] {
            var bytes = try ULFixtures.bytes(name)
            guard case .associateRequest(let rq) = try #require(try PDU.decode(from: &bytes, limits: PDULimits(maximumDataTransferLength: 65536))) else {
                Issue.record("not RQ"); return
            }
            accepts.append(negotiate(rq, policy: Self.policy).accept)
        }
        let withRoles = AssociateRequest(
            calledAETitle: "STORE-SCP", callingAETitle: "MODALITY",
            presentationContexts: [PresentationContextProposal(id: 1, abstractSyntax: "1.2.840.10008.5.1.4.1.1.2",
                                                               transferSyntaxes: ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2"]),
                                   PresentationContextProposal(id: 3, abstractSyntax: "1.2.3.4", transferSyntaxes: ["1.2.840.10008.1.2"])],
            userInformation: UserInformation(maximumLength: 0, roleSelections: [RoleSelection(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", scuRole: true, scpRole: true)]))
        accepts.append(negotiate(withRoles, policy: Self.policy).accept)

        let rejects: [AssociateReject] = [.calledAETitleNotRecognized, .callingAETitleNotRecognized, .applicationContextNameNotSupported,
                                          .protocolVersionNotSupported, .localLimitExceeded]
        let aborts: [Abort] = [.serviceUser, Abort(source: .serviceProvider, reason: .unexpectedPDU),
                               Abort(source: .serviceProvider, reason: .invalidPDUParameterValue)]
        let response = CStoreResponse(messageIDBeingRespondedTo: 3, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
                                      affectedSOPInstanceUID: "1.2.3", status: 0xA700, errorComment: "storage unavailable")
        let responsePDUs = PDataWriter(peerMaximumPDULength: 40).dataTransfers(command: response.commandSet, contextID: 41)

        var pdus: [PDU] = accepts.map { .associateAccept($0) } + rejects.map { .associateReject($0) } + aborts.map { .abort($0) }
        pdus += responsePDUs.map { .dataTransfer($0) }
        pdus += [.releaseResponse]
        let decoded = try ULPynetdicom.decode(try pdus.map { try $0.encoded() })
        try #require(decoded.count == pdus.count)

        for (index, accept) in accepts.enumerated() {
            let json = decoded[index]
            #expect(json["type"] as? Int == 2)
            #expect(json["called"] as? String == accept.calledAETitle)
            #expect(json["calling"] as? String == accept.callingAETitle)
            #expect(json["applicationContext"] as? String == "1.2.840.10008.3.1.1.1")
            let contexts = try #require(json["contexts"] as? [[Any]])
            #expect(contexts.count == accept.presentationContexts.count)
            for (theirs, ours) in zip(contexts, accept.presentationContexts) {
                #expect(theirs[0] as? Int == Int(ours.id))
                #expect(theirs[1] as? Int == Int(ours.result.rawValue))
                if ours.result == .acceptance {
                    #expect(theirs[2] as? [String] == [ours.transferSyntax])
                }
            }
            let info = try #require(json["userInformation"] as? [String: Any])
            #expect(info["maximumLength"] as? Int == 131_072)
            #expect(info["implementationClassUID"] as? String == Implementation.classUID)
            #expect(info["implementationVersionName"] as? String == Implementation.versionName)
            let roles = try #require(info["roles"] as? [[Any]])
            #expect(roles.count == accept.userInformation.roleSelections.count)
            for (theirs, ours) in zip(roles, accept.userInformation.roleSelections) {
                #expect(theirs[0] as? String == ours.sopClassUID)
                #expect(theirs[1] as? Bool == ours.scuRole)
                #expect(theirs[2] as? Bool == ours.scpRole)
            }
        }
        #expect(accepts.last?.userInformation.roleSelections == [RoleSelection(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", scuRole: true, scpRole: false)])

        for (offset, reject) in rejects.enumerated() {
            let json = decoded[accepts.count + offset]
            #expect(json["type"] as? Int == 3)
            #expect(json["result"] as? Int == Int(reject.result.rawValue))
            #expect(json["source"] as? Int == Int(reject.source.rawValue))
            #expect(json["reason"] as? Int == Int(reject.reason))
        }
        for (offset, abort) in aborts.enumerated() {
            let json = decoded[accepts.count + rejects.count + offset]
            #expect(json["type"] as? Int == 7)
            #expect(json["source"] as? Int == Int(abort.source.rawValue))
            #expect(json["reason"] as? Int == Int(abort.reason.rawValue))
        }
        var command: [UInt8] = []
        for (offset, transfer) in responsePDUs.enumerated() {
            let json = decoded[accepts.count + rejects.count + aborts.count + offset]
            let values = try #require(json["values"] as? [[Any]])
            #expect(values.count == 1)
            let value = try #require(values.first)
            #expect(value[0] as? Int == 41)
            let isLast = offset == responsePDUs.count - 1
            #expect(value[1] as? Int == (isLast ? 3 : 1))
            command += try ULFixtures.hex(try #require(value[2] as? String))
            #expect(Array(buffer: transfer.values[0].data) == (try ULFixtures.hex(value[2] as? String ?? "")))
        }
        #expect(try CStoreResponse(try CommandSet(decoding: ByteBuffer(bytes: command))) == response)
        #expect(decoded.last?["type"] as? Int == 6)
    }
}
