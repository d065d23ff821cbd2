import DICOM
import NIOCore
import NIOEmbedded
import NIOTestUtils
import Testing

private let limits = PDULimits(maximumDataTransferLength: 256 * 1024)

private func decodeOne(_ buffer: ByteBuffer) throws -> PDU {
    var buffer = buffer
    let pdu = try #require(try PDU.decode(from: &buffer, limits: limits))
    #expect(buffer.readableBytes == 0, "trailing bytes after the PDU")
    return pdu
}

private func encode(_ pdu: PDU) throws -> ByteBuffer {
    try pdu.encoded()
}

@Suite("PDU golden bytes (pynetdicom)")
struct PDUGoldenPynetdicomTests {
    @Test func associateRequestWithEverySubItem() throws {
        let bytes = try ULFixtures.bytes("pynetdicom_associate_rq_full")
        guard case .associateRequest(let rq) = try decodeOne(bytes) else { Issue.record("not an A-ASSOCIATE-RQ"); return }
        #expect(rq.protocolVersion == 1)
        #expect(rq.calledAETitle == "ANY-SCP")
        #expect(rq.callingAETitle == "PYNETDICOM")
        #expect(rq.applicationContextName == "1.2.840.10008.3.1.1.1")
        #expect(rq.presentationContexts == [
            PresentationContextProposal(id: 1, abstractSyntax: "1.2.840.10008.1.1", transferSyntaxes: ["1.2.840.10008.1.2"]),
            PresentationContextProposal(id: 3, abstractSyntax: "1.2.840.10008.5.1.4.1.1.2",
                                        transferSyntaxes: ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.2"]),
            PresentationContextProposal(id: 5, abstractSyntax: "1.2.840.10008.5.1.4.1.1.4",
                                        transferSyntaxes: ["1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.1.99"]),
        ])
        let info = rq.userInformation
        #expect(info.maximumLength == 16382)
        #expect(info.implementationClassUID == "1.2.826.0.1.3680043.9.3811.2.1")
        #expect(info.implementationVersionName == "PYNETDICOM_TEST")
        #expect(info.asynchronousOperationsWindow == AsynchronousOperationsWindow(maximumOperationsInvoked: 5, maximumOperationsPerformed: 3))
        #expect(info.roleSelections == [
            RoleSelection(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", scuRole: true, scpRole: false),
            RoleSelection(sopClassUID: "1.2.840.10008.5.1.4.1.1.4", scuRole: false, scpRole: true),
        ])
        #expect(info.sopClassExtendedNegotiations == [
            SOPClassExtendedNegotiation(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", applicationInformation: [1, 0, 1, 0]),
        ])
        #expect(info.sopClassCommonExtendedNegotiations == [
            SOPClassCommonExtendedNegotiation(sopClassUID: "1.2.840.10008.5.1.4.1.1.88.22", serviceClassUID: "1.2.840.10008.4.2",
                                              relatedGeneralSOPClassUIDs: ["1.2.840.10008.5.1.4.1.1.88.11", "1.2.840.10008.5.1.4.1.1.88.33"]),
        ])
        #expect(info.userIdentity == UserIdentityRequest(identityType: 2, positiveResponseRequested: true,
                                                         primaryField: Array("user".utf8), secondaryField: Array("secret".utf8)))
        #expect(info.unknownSubItems.isEmpty)
        #expect(rq.unknownItems.isEmpty)
        #expect(try encode(.associateRequest(rq)) == bytes, "re-encoding must reproduce pynetdicom's bytes")
    }

    @Test func associateRequestMinimal() throws {
        let bytes = try ULFixtures.bytes("pynetdicom_associate_rq_minimal")
        let pdu = try decodeOne(bytes)
        guard case .associateRequest(let rq) = pdu else { Issue.record("not an A-ASSOCIATE-RQ"); return }
        #expect(rq.userInformation.roleSelections.isEmpty)
        #expect(rq.userInformation.userIdentity == nil)
        #expect(try encode(pdu) == bytes)
    }

    @Test func associateAccept() throws {
        let bytes = try ULFixtures.bytes("pynetdicom_associate_ac")
        let pdu = try decodeOne(bytes)
        guard case .associateAccept(let ac) = pdu else { Issue.record("not an A-ASSOCIATE-AC"); return }
        #expect(ac.calledAETitle == "ANY-SCP")
        #expect(ac.callingAETitle == "PYNETDICOM")
        #expect(ac.presentationContexts == [
            PresentationContextResult(id: 1, result: .acceptance, transferSyntax: "1.2.840.10008.1.2"),
            PresentationContextResult(id: 3, result: .acceptance, transferSyntax: "1.2.840.10008.1.2.1"),
            PresentationContextResult(id: 5, result: .transferSyntaxesNotSupported, transferSyntax: "1.2.840.10008.1.2.4.50"),
        ])
        #expect(ac.userInformation.maximumLength == 32768)
        #expect(ac.userInformation.roleSelections == [RoleSelection(sopClassUID: "1.2.840.10008.5.1.4.1.1.2", scuRole: true, scpRole: false)])
        #expect(ac.userInformation.userIdentityResponse == UserIdentityResponse(serverResponse: Array("token-ok".utf8)))
        #expect(try encode(pdu) == bytes)
    }

    @Test(arguments: [
        ("pynetdicom_associate_rj_called_ae", AssociateReject.calledAETitleNotRecognized),
        ("pynetdicom_associate_rj_local_limit", AssociateReject.localLimitExceeded),
        ("pynetdicom_associate_rj_protocol_version", AssociateReject.protocolVersionNotSupported),
    ])
    func associateReject(name: String, expected: AssociateReject) throws {
        let bytes = try ULFixtures.bytes(name)
        #expect(try decodeOne(bytes) == .associateReject(expected))
        #expect(try encode(.associateReject(expected)) == bytes, "our builder must produce pynetdicom's bytes")
    }

    @Test func rejectReasonValues() {
        // The rejections of PS3.8 Table 9-21 the listener sends: (result, source, reason).
        let table: [(AssociateReject, UInt8, UInt8, UInt8)] = [
            (.calledAETitleNotRecognized, 1, 1, 7),
            (.callingAETitleNotRecognized, 1, 1, 3),
            (.applicationContextNameNotSupported, 1, 1, 2),
            (.protocolVersionNotSupported, 1, 2, 2),
            (.localLimitExceeded, 2, 3, 2),
        ]
        for (reject, result, source, reason) in table {
            #expect(reject.result.rawValue == result && reject.source.rawValue == source && reject.reason == reason, "\(reject)")
        }
    }

    @Test func dataTransferWithTwoPDVs() throws {
        let bytes = try ULFixtures.bytes("pynetdicom_p_data_two_pdvs")
        let pdu = try decodeOne(bytes)
        guard case .dataTransfer(let transfer) = pdu else { Issue.record("not a P-DATA-TF"); return }
        #expect(transfer.values.count == 2)
        #expect(transfer.values[0].contextID == 1)
        #expect(transfer.values[0].isCommand && transfer.values[0].isLast)
        #expect(Array(buffer: transfer.values[0].data) == Array(0..<10))
        #expect(transfer.values[1].contextID == 3)
        #expect(!transfer.values[1].isCommand && !transfer.values[1].isLast)
        #expect(Array(buffer: transfer.values[1].data) == [UInt8](repeating: 0xAA, count: 7))
        #expect(try encode(pdu) == bytes)
    }

    @Test func releaseAndAbort() throws {
        #expect(try decodeOne(try ULFixtures.bytes("pynetdicom_release_rq")) == .releaseRequest)
        #expect(try decodeOne(try ULFixtures.bytes("pynetdicom_release_rp")) == .releaseResponse)
        #expect(try encode(.releaseRequest) == (try ULFixtures.bytes("pynetdicom_release_rq")))
        #expect(try encode(.releaseResponse) == (try ULFixtures.bytes("pynetdicom_release_rp")))
        let user = try ULFixtures.bytes("pynetdicom_abort_user")
        #expect(try decodeOne(user) == .abort(.serviceUser))
        #expect(try encode(.abort(.serviceUser)) == user)
        let provider = try ULFixtures.bytes("pynetdicom_abort_provider_invalid_param")
        let invalid = Abort(source: .serviceProvider, reason: .invalidPDUParameterValue)
        #expect(try decodeOne(provider) == .abort(invalid))
        #expect(try encode(.abort(invalid)) == provider)
    }
}

@Suite("PDU golden bytes (DCMTK captures)")
struct PDUGoldenDCMTKTests {
    @Test func echoscuAssociateRequest() throws {
        let pdu = try decodeOne(try ULFixtures.bytes("dcmtk_echoscu_associate_rq"))
        guard case .associateRequest(let rq) = pdu else { Issue.record("not an A-ASSOCIATE-RQ"); return }
        #expect(rq.calledAETitle == "ANY-SCP")
        #expect(rq.callingAETitle == "ECHOSCU")
        #expect(rq.presentationContexts.count == 1)
        #expect(rq.presentationContexts.first?.abstractSyntax == "1.2.840.10008.1.1")
        #expect(rq.presentationContexts.first?.transferSyntaxes == ["1.2.840.10008.1.2"])
        #expect(rq.userInformation.maximumLength == 16384)
        #expect(rq.userInformation.implementationClassUID?.hasPrefix("1.2.276.0.7230010.3") == true)
        #expect(rq.userInformation.implementationVersionName?.hasPrefix("OFFIS_DCMTK") == true)
        // DCMTK puts 0xFF in a reserved byte of the presentation context item, so compare by meaning.
        #expect(try decodeOne(try encode(pdu)) == pdu)
    }

    @Test func echoscuCEcho() throws {
        let pdu = try decodeOne(try ULFixtures.bytes("dcmtk_echoscu_p_data_c_echo_rq"))
        guard case .dataTransfer(let transfer) = pdu, let pdv = transfer.values.first else { Issue.record("not a P-DATA-TF"); return }
        #expect(transfer.values.count == 1)
        #expect(pdv.isCommand && pdv.isLast && pdv.contextID == 1)
        let request = try CEchoRequest(try CommandSet(decoding: pdv.data))
        #expect(request.messageID == 1)
        #expect(request.affectedSOPClassUID == "1.2.840.10008.1.1")
        #expect(try encode(pdu) == (try ULFixtures.bytes("dcmtk_echoscu_p_data_c_echo_rq")))
        #expect(try decodeOne(try ULFixtures.bytes("dcmtk_echoscu_release_rq")) == .releaseRequest)
    }

    @Test(arguments: ["default", "xb", "xe", "xi", "xd"])
    func storescuProposals(flag: String) throws {
        let pdu = try decodeOne(try ULFixtures.bytes("dcmtk_storescu_\(flag)_associate_rq"))
        guard case .associateRequest(let rq) = pdu else { Issue.record("not an A-ASSOCIATE-RQ"); return }
        #expect(rq.callingAETitle == "STORESCU")
        #expect(!rq.presentationContexts.isEmpty)
        #expect(rq.presentationContexts.allSatisfy { $0.id % 2 == 1 })
        let ct = rq.presentationContexts.filter { $0.abstractSyntax == "1.2.840.10008.5.1.4.1.1.2" }
        #expect(!ct.isEmpty, "storescu proposes the file's SOP class")
        let first = ct.first?.transferSyntaxes.first
        switch flag {
        case "xb": #expect(first == "1.2.840.10008.1.2.2")
        case "xe": #expect(first == "1.2.840.10008.1.2.1")
        case "xi": #expect(ct.first?.transferSyntaxes == ["1.2.840.10008.1.2"])
        case "xd": #expect(first == "1.2.840.10008.1.2.1.99")
        default:
            // CT_small.dcm is explicit VR LE: storescu offers that first, and implicit LE in a second context.
            #expect(first == "1.2.840.10008.1.2.1")
            #expect(ct.flatMap(\.transferSyntaxes).contains("1.2.840.10008.1.2"))
        }
        #expect(rq.presentationContexts.count == (flag == "xi" ? 64 : 128))
        #expect(try decodeOne(try encode(pdu)) == pdu)
    }
}

@Suite("PDU decoder handler")
struct PDUDecoderHandlerTests {
    private func allFixtures() throws -> [(ByteBuffer, [PDU])] {
        // The storescu captures are 5–10 KB each: one of them is enough byte by byte (keeps the test fast).
        try ULFixtures.names(prefix: "").filter {
            !$0.contains("command") && !$0.contains("pdus_max32") && (!$0.hasPrefix("dcmtk_storescu") || $0.contains("_xi_"))
        }.map { name in
            let bytes = try ULFixtures.bytes(name)
            return (bytes, [try decodeOne(bytes)])
        }
    }

    @Test func verifierByteByByteAndAllAtOnce() throws {
        let pairs = try allFixtures()
        #expect(pairs.count >= 14)
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: pairs) {
            PDUDecoder(maximumPDULength: 256 * 1024)
        }
    }

    @Test func splitPDUsFromPynetdicomMessage() throws {
        // pynetdicom split a C-STORE for a 32-byte maximum: the whole stream is several P-DATA-TF PDUs.
        var stream = try ULFixtures.bytes("pynetdicom_c_store_rq_pdus_max32")
        var decoded: [PDU] = []
        while stream.readableBytes > 0, let pdu = try PDU.decode(from: &stream, limits: PDULimits(maximumDataTransferLength: 32)) {
            decoded.append(pdu)
        }
        #expect(decoded.count > 5)
        #expect(stream.readableBytes == 0)
        try ByteToMessageDecoderVerifier.verifyDecoder(inputOutputPairs: [(try ULFixtures.bytes("pynetdicom_c_store_rq_pdus_max32"), decoded)]) {
            PDUDecoder(maximumPDULength: 32)
        }
    }

    @Test func dataValuesAreSlicesNotCopies() throws {
        var payload = ByteBuffer(repeating: 0x5A, count: 10_000)
        var wire = ByteBuffer()
        try PDU.dataTransfer(DataTransfer(values: [PresentationDataValue(contextID: 1, isCommand: false, isLast: true, data: payload)]))
            .write(into: &wire)
        payload = ByteBuffer()
        let baseAddress = wire.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        var input = wire
        guard case .dataTransfer(let transfer) = try #require(try PDU.decode(from: &input, limits: limits)) else {
            Issue.record("not P-DATA"); return
        }
        let valueAddress = transfer.values[0].data.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        // The value starts 12 bytes into the PDU (6 header + 4 item length + context id + control header), same storage.
        #expect(valueAddress == baseAddress + 12)
        #expect(transfer.values[0].data.readableBytes == 10_000)
    }

    @Test func overlongPDUInAChannelFailsWithTheAbortToSend() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(PDUDecoder(maximumPDULength: 1024)))
        // A P-DATA-TF header announcing 2,000 bytes (our maximum is 1,024): refused before any body byte arrives.
        do {
            try channel.writeInbound(ByteBuffer(bytes: [0x04, 0x00, 0x00, 0x00, 0x07, 0xD0]))
            Issue.record("over-long PDU accepted")
        } catch let error as PDUError {
            #expect(error.code == .pduTooLarge)
            #expect(error.abort == Abort(source: .serviceProvider, reason: .invalidPDUParameterValue))
        }
        _ = try? channel.finish()
    }

    @Test func associateRequestAboveTheFixedBoundIsRefusedWhateverOurMaximum() throws {
        let channel = EmbeddedChannel(handler: ByteToMessageHandler(PDUDecoder(maximumPDULength: 1 << 20)))
        #expect(throws: PDUError.self) {
            try channel.writeInbound(ByteBuffer(bytes: [0x01, 0x00, 0x00, 0x01, 0x00, 0x01]))
        }
        _ = try? channel.finish()
    }

    @Test func maximumBufferSizeCoversTheLargestPDU() {
        let decoder = PDUDecoder(maximumPDULength: 1_000_000)
        #expect(decoder.maximumBufferSize == 1_000_006)
        #expect(PDUDecoder(maximumPDULength: 16384).maximumBufferSize == 65536 + 6)
    }

    @Test func encoderWritesOneBufferPerPDU() throws {
        var out = ByteBuffer()
        try PDUEncoder().encode(data: .releaseResponse, out: &out)
        #expect(out == (try ULFixtures.bytes("pynetdicom_release_rp")))
    }
}

@Suite("PDU errors map to A-ABORT reasons")
struct PDUErrorTests {
    private func error(_ bytes: [UInt8], limits: PDULimits = limits) -> PDUError? {
        var buffer = ByteBuffer(bytes: bytes)
        do {
            _ = try PDU.decode(from: &buffer, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func unknownPDUTypeIsUnrecognizedPDU() {
        let failure = error([0x08, 0, 0, 0, 0, 4, 0, 0, 0, 0])
        #expect(failure?.code == .unrecognizedPDUType)
        #expect(failure?.abort == Abort(source: .serviceProvider, reason: .unrecognizedPDU))
        // Detected from the first byte alone.
        #expect(error([0x00])?.code == .unrecognizedPDUType)
    }

    @Test func overlongPDUFailsBeforeItsBodyArrives() {
        // A-ASSOCIATE-RQ announcing 64 KiB + 1: refused on the header alone (fixed bound before negotiation).
        let failure = error([0x01, 0, 0x00, 0x01, 0x00, 0x01])
        #expect(failure?.code == .pduTooLarge)
        #expect(failure?.abortReason == .invalidPDUParameterValue)
        // P-DATA-TF over our advertised maximum.
        #expect(error([0x04, 0, 0, 0, 0x40, 0x01], limits: PDULimits(maximumDataTransferLength: 0x4000))?.code == .pduTooLarge)
        #expect(error([0x04, 0, 0, 0, 0x40, 0x00], limits: PDULimits(maximumDataTransferLength: 0x4000)) == nil, "exactly the maximum is fine (needs more bytes)")
    }

    @Test func fixedLengthPDUsWithWrongLength() {
        #expect(error([0x05, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0])?.code == .invalidLength)
        #expect(error([0x07, 0, 0, 0, 0, 3, 0, 0, 0])?.code == .invalidLength)
        #expect(error([0x03, 0, 0, 0, 0, 2, 0, 1])?.abortReason == .invalidPDUParameterValue)
    }

    @Test func invalidFieldValues() {
        #expect(error([0x07, 0, 0, 0, 0, 4, 0, 0, 1, 0])?.code == .invalidValue, "abort source 1 is reserved")
        #expect(error([0x03, 0, 0, 0, 0, 4, 0, 3, 1, 1])?.code == .invalidValue, "reject result 3 is undefined")
    }

    @Test func pdvItemLengths() {
        // Item length 1: shorter than context id + control header.
        #expect(error([0x04, 0, 0, 0, 0, 5, 0, 0, 0, 1, 1])?.code == .invalidLength)
        // Item length beyond the PDU.
        #expect(error([0x04, 0, 0, 0, 0, 6, 0, 0, 0, 9, 1, 3])?.code == .invalidLength)
        // No PDV at all.
        #expect(error([0x04, 0, 0, 0, 0, 0])?.code == .invalidLength)
    }

    @Test func itemLongerThanItsParent() throws {
        var bytes = Array(buffer: try ULFixtures.bytes("pynetdicom_associate_rq_minimal"))
        // The application context item starts right after the 74-byte fixed part; claim 0x7FFF bytes.
        #expect(bytes[74] == 0x10)
        bytes[76] = 0x7F; bytes[77] = 0xFF
        let failure = error(bytes)
        #expect(failure?.code == .invalidLength)
        #expect(failure?.abort.reason == .invalidPDUParameterValue)
    }

    @Test func misplacedItemIsUnrecognizedParameter() throws {
        var bytes = Array(buffer: try ULFixtures.bytes("pynetdicom_associate_rq_minimal"))
        bytes[74] = 0x21 // an AC presentation context item inside an RQ
        #expect(error(bytes)?.abortReason == .unrecognizedPDUParameter)
    }

    @Test func repeatedSubItemIsUnexpectedParameter() throws {
        let rq = AssociateRequest(calledAETitle: "A", callingAETitle: "B", presentationContexts: [],
                                  userInformation: UserInformation(maximumLength: 1000))
        var bytes = Array(buffer: try PDU.associateRequest(rq).encoded())
        // Append a second Maximum Length sub-item to the user information item and fix the lengths.
        bytes += [0x51, 0, 0, 4, 0, 0, 0x10, 0]
        let userInfoStart = bytes.count - 8 - 12
        #expect(bytes[userInfoStart] == 0x50)
        bytes[userInfoStart + 3] += 8
        let pduLength = bytes.count - 6
        bytes[2] = UInt8(pduLength >> 24); bytes[3] = UInt8(pduLength >> 16 & 0xFF)
        bytes[4] = UInt8(pduLength >> 8 & 0xFF); bytes[5] = UInt8(pduLength & 0xFF)
        #expect(error(bytes)?.abortReason == .unexpectedPDUParameter)
    }

    @Test func unknownItemsArePreserved() throws {
        var rq = AssociateRequest(calledAETitle: "SCP", callingAETitle: "SCU",
                                  presentationContexts: [PresentationContextProposal(id: 1, abstractSyntax: "1.2.840.10008.1.1",
                                                                                     transferSyntaxes: ["1.2.840.10008.1.2"])],
                                  userInformation: UserInformation(maximumLength: 0, unknownSubItems: [UnknownItem(type: 0x6F, value: [1, 2, 3])]))
        rq.unknownItems = [UnknownItem(type: 0x7E, reserved: 9, value: [4, 5])]
        let bytes = try PDU.associateRequest(rq).encoded()
        #expect(try decodeOne(bytes) == .associateRequest(rq))
    }

    @Test func aeTitlesArePaddedAndTrimmed() throws {
        let rq = AssociateRequest(calledAETitle: "SCP", callingAETitle: "SCU", presentationContexts: [])
        var bytes = Array(buffer: try PDU.associateRequest(rq).encoded())
        #expect(Array(bytes[10..<26]) == Array("SCP             ".utf8))
        bytes[10] = 0x20; bytes[11] = 0x20; bytes[12] = UInt8(ascii: "X") // leading spaces are not significant
        guard case .associateRequest(let decoded) = try decodeOne(ByteBuffer(bytes: bytes)) else { Issue.record("not RQ"); return }
        #expect(decoded.calledAETitle == "X")
    }

    @Test func oversizedValuesFailToEncodeInsteadOfTrapping() {
        let uid = String(repeating: "1", count: 70_000)
        let rq = AssociateRequest(calledAETitle: "A", callingAETitle: "B", applicationContextName: uid, presentationContexts: [])
        #expect(throws: PDUError.self) { try PDU.associateRequest(rq).encoded() }
    }
}

@Suite("PDU decoder: bad input never traps")
struct PDUFuzzTests {
    /// Every fixture mutated (bit flips, byte overwrites, truncation, length-field edits, random noise): 6,000
    /// deterministic cases. The decoder must return a PDU, need more bytes, or throw a `PDUError`; nothing else.
    @Test func mutatedPDUsYieldOnlyTypedErrors() throws {
        // The 128-context storescu captures (10 KB) would dominate the run time; the 64-context one stays.
        let seeds = try ULFixtures.names(prefix: "").filter {
            !$0.contains("command") && (!$0.hasPrefix("dcmtk_storescu") || $0.contains("_xi_"))
        }.map { Array(buffer: try ULFixtures.bytes($0)) }
        #expect(!seeds.isEmpty)
        var rng = ULSeededGenerator(seed: 0xD1C0_4)
        var outcomes = (decoded: 0, incomplete: 0, errors: 0)
        let limits = PDULimits(maximumDataTransferLength: 16 * 1024)
        for caseNumber in 0..<6_000 {
            var bytes = seeds[caseNumber % seeds.count]
            switch Int.random(in: 0..<6, using: &rng) {
            case 0:
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let index = Int.random(in: 0..<bytes.count, using: &rng)
                    bytes[index] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                }
            case 1:
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
            case 2:
                bytes = Array(bytes.prefix(Int.random(in: 0..<bytes.count, using: &rng)))
            case 3:
                // Corrupt an item length field somewhere after the fixed part, keeping the PDU length consistent.
                if bytes.count > 80 {
                    let index = Int.random(in: 74..<(bytes.count - 1), using: &rng)
                    bytes[index] = 0xFF; bytes[index + 1] = UInt8.random(in: 0...255, using: &rng)
                }
            case 4:
                bytes = (0..<Int.random(in: 0..<200, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
                if !bytes.isEmpty { bytes[0] = UInt8.random(in: 1...7, using: &rng) }
                if bytes.count >= 6 {
                    let length = UInt32(bytes.count - 6)
                    bytes[2] = UInt8(length >> 24); bytes[3] = UInt8(length >> 16 & 0xFF)
                    bytes[4] = UInt8(length >> 8 & 0xFF); bytes[5] = UInt8(length & 0xFF)
                }
            default:
                // Insert or remove bytes in the middle and fix the PDU length so the body is parsed.
                let index = Int.random(in: 6...max(6, bytes.count), using: &rng)
                if Bool.random(using: &rng) || index >= bytes.count {
                    bytes.insert(contentsOf: (0..<Int.random(in: 1...6, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: min(index, bytes.count))
                } else {
                    bytes.removeSubrange(index..<min(bytes.count, index + Int.random(in: 1...6, using: &rng)))
                }
                if bytes.count >= 6 {
                    let length = UInt32(bytes.count - 6)
                    bytes[2] = UInt8(length >> 24); bytes[3] = UInt8(length >> 16 & 0xFF)
                    bytes[4] = UInt8(length >> 8 & 0xFF); bytes[5] = UInt8(length & 0xFF)
                }
            }
            var buffer = ByteBuffer(bytes: bytes)
            do {
                if let pdu = try PDU.decode(from: &buffer, limits: limits) {
                    outcomes.decoded += 1
                    // Whatever decodes must re-encode and decode to the same value.
                    var again = try pdu.encoded()
                    #expect(try PDU.decode(from: &again, limits: PDULimits(maximumDataTransferLength: .max, maximumAssociationPDULength: .max)) == pdu)
                } else {
                    outcomes.incomplete += 1
                }
            } catch {
                outcomes.errors += 1
            }
        }
        #expect(outcomes.decoded + outcomes.incomplete + outcomes.errors == 6_000)
        #expect(outcomes.errors > 1_000, "mutations should mostly be caught: \(outcomes)")
        #expect(outcomes.decoded > 100, "some mutations stay valid: \(outcomes)")
    }
}
