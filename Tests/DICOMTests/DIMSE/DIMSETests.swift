import DICOM
import NIOCore
import Testing

/// The data set pynetdicom sent in `pynetdicom_c_store_rq_pdus_max32` (see ul_make_fixtures.py, STORE_DATA_SET).
private let storeDataSet: [UInt8] = [0x10, 0x00, 0x20, 0x00, 0x02, 0x00, 0x00, 0x00, UInt8(ascii: "X"), 0x20] + [UInt8](repeating: 0, count: 100)

private func decodeAll(_ stream: ByteBuffer, maximum: UInt32) throws -> [PDU] {
    var stream = stream
    var pdus: [PDU] = []
    while stream.readableBytes > 0 {
        pdus.append(try #require(try PDU.decode(from: &stream, limits: PDULimits(maximumDataTransferLength: maximum))))
    }
    return pdus
}

@Suite("DIMSE command sets (PS3.7 §E, golden bytes from pynetdicom)")
struct DIMSECommandSetTests {
    @Test func cEchoRequest() throws {
        let bytes = try ULFixtures.bytes("pynetdicom_c_echo_rq_command")
        let command = try CommandSet(decoding: bytes)
        #expect(command.commandField == CommandField.cEchoRequest.rawValue)
        #expect(!command.hasDataSet)
        let request = try CEchoRequest(command)
        #expect(request == CEchoRequest(messageID: 7))
        #expect(request.commandSet.encoded() == bytes)
        #expect(command.encoded() == bytes)
        #expect(try DIMSERequest(command) == .echo(request))
    }

    @Test func cEchoResponse() throws {
        let bytes = try ULFixtures.bytes("pynetdicom_c_echo_rsp_command")
        let response = CEchoResponse(respondingTo: CEchoRequest(messageID: 7))
        #expect(response.commandSet.encoded() == bytes)
        #expect(try CEchoResponse(try CommandSet(decoding: bytes)) == response)
    }

    @Test func cStoreRequest() throws {
        let bytes = try ULFixtures.bytes("pynetdicom_c_store_rq_command")
        let command = try CommandSet(decoding: bytes)
        #expect(command.hasDataSet)
        let request = try CStoreRequest(command)
        #expect(request == CStoreRequest(messageID: 12, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2",
                                         affectedSOPInstanceUID: "1.2.3.4.5.6.7", priority: 2,
                                         moveOriginatorAETitle: "MOVER", moveOriginatorMessageID: 99))
        #expect(request.commandSet.encoded() == bytes)
        #expect(try DIMSERequest(command) == .store(request))
    }

    @Test func cStoreResponseWithErrorComment() throws {
        let bytes = try ULFixtures.bytes("pynetdicom_c_store_rsp_command")
        let request = CStoreRequest(messageID: 12, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2", affectedSOPInstanceUID: "1.2.3.4.5.6.7")
        let response = CStoreResponse(respondingTo: request, status: DIMSEStatus.outOfResources, errorComment: "out of resources")
        #expect(response.commandSet.encoded() == bytes)
        #expect(try CStoreResponse(try CommandSet(decoding: bytes)) == response)
    }

    @Test func successResponseCarriesNoErrorComment() throws {
        let response = CStoreResponse(messageIDBeingRespondedTo: 1, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3",
                                      status: DIMSEStatus.success, errorComment: "ignored")
        #expect(response.commandSet[raw: CommandSet.Element.errorComment] == nil)
        let long = CStoreResponse(messageIDBeingRespondedTo: 1, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3",
                                  status: DIMSEStatus.cannotUnderstand, errorComment: String(repeating: "e", count: 100))
        #expect(long.commandSet.text(CommandSet.Element.errorComment)?.count == 64)
    }

    @Test func unknownCommandGetsUnrecognizedOperation() throws {
        var find = CommandSet()
        find.setUID(CommandSet.Element.affectedSOPClassUID, "1.2.840.10008.5.1.4.1.2.1.1")
        find.setUInt16(CommandSet.Element.commandField, CommandField.cFindRequest.rawValue)
        find.setUInt16(CommandSet.Element.messageID, 5)
        find.setUInt16(CommandSet.Element.priority, 0)
        find.setUInt16(CommandSet.Element.commandDataSetType, 0x0001)
        let decoded = try CommandSet(decoding: find.encoded())
        guard case .other(let field, let command) = try DIMSERequest(decoded) else { Issue.record("expected .other"); return }
        #expect(field == .cFindRequest && CommandField.knownRequests.contains(field))
        let response = StatusOnlyResponse(respondingTo: command, status: DIMSEStatus.unrecognizedOperation).commandSet
        #expect(response.commandField == 0x8020)
        #expect(response.status == 0x0211)
        #expect(response.messageIDBeingRespondedTo == 5)
        #expect(response.uid(CommandSet.Element.affectedSOPClassUID) == "1.2.840.10008.5.1.4.1.2.1.1")
        #expect(!response.hasDataSet)
    }

    @Test func malformedCommandSets() {
        func failure(_ bytes: [UInt8]) -> DIMSEError? {
            do { _ = try CommandSet(decoding: ByteBuffer(bytes: bytes)); return nil } catch { return error }
        }
        // Element outside group 0000.
        #expect(failure([0x08, 0, 0x16, 0, 2, 0, 0, 0, 0x31, 0])?.code == .malformedCommand)
        // Value longer than the command.
        #expect(failure([0, 0, 0x00, 0x01, 2, 0, 0, 0, 0x30])?.code == .malformedCommand)
        // Group length disagreeing with the content.
        #expect(failure([0, 0, 0, 0, 4, 0, 0, 0, 99, 0, 0, 0, 0, 0, 0x00, 0x01, 2, 0, 0, 0, 0x30, 0])?.code == .malformedCommand)
        // No command field.
        #expect(failure([0, 0, 0x10, 0x01, 2, 0, 0, 0, 1, 0])?.code == .malformedCommand)
        // Too large.
        #expect(failure([UInt8](repeating: 0, count: 70_000))?.code == .commandTooLarge)
        // A C-STORE-RQ without its instance UID is well-formed but unusable.
        var store = CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3").commandSet
        store.remove(CommandSet.Element.affectedSOPInstanceUID)
        #expect(throws: DIMSEError.self) { try CStoreRequest(store) }
    }

    @Test func mutatedCommandsYieldOnlyTypedErrors() throws {
        let seeds = try ["pynetdicom_c_echo_rq_command", "pynetdicom_c_echo_rsp_command", "pynetdicom_c_store_rq_command",
                         "pynetdicom_c_store_rsp_command"].map { Array(buffer: try ULFixtures.bytes($0)) }
        var rng = ULSeededGenerator(seed: 0xC0_FFEE)
        var errors = 0
        for index in 0..<5_000 {
            var bytes = seeds[index % seeds.count]
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if Bool.random(using: &rng) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng))) }
            do {
                let command = try CommandSet(decoding: ByteBuffer(bytes: bytes))
                _ = try? DIMSERequest(command)
                #expect(try CommandSet(decoding: command.encoded()) == command)
            } catch {
                errors += 1
            }
        }
        #expect(errors > 500)
    }
}

@Suite("DIMSE message assembly and fragmentation (PS3.8 Annex E.2)")
struct DIMSEAssemblyTests {
    private func pdv(_ context: UInt8, command: Bool, last: Bool, _ bytes: [UInt8]) -> PresentationDataValue {
        PresentationDataValue(contextID: context, isCommand: command, isLast: last, data: ByteBuffer(bytes: bytes))
    }

    @Test func reassemblesPynetdicomMessageSplitForA32BytePeer() throws {
        let pdus = try decodeAll(try ULFixtures.bytes("pynetdicom_c_store_rq_pdus_max32"), maximum: 32)
        var assembler = DIMSEMessageAssembler()
        var commands: [CommandSet] = []
        var data: [UInt8] = []
        var sawLast = false
        for pdu in pdus {
            guard case .dataTransfer(let transfer) = pdu else { Issue.record("not P-DATA"); return }
            for value in transfer.values {
                switch try assembler.append(value) {
                case .command(let command, let contextID)?:
                    #expect(contextID == 1)
                    commands.append(command)
                case .dataSetFragment(let fragment, let contextID, let isLast)?:
                    #expect(contextID == 1 && !sawLast)
                    data += Array(buffer: fragment)
                    sawLast = isLast
                case nil:
                    #expect(commands.isEmpty, "only a partial command yields nothing")
                }
            }
        }
        #expect(commands.count == 1)
        #expect(try CStoreRequest(try #require(commands.first)).affectedSOPInstanceUID == "1.2.3.4.5.6.7")
        #expect(data == storeDataSet)
        #expect(sawLast && assembler.isIdle)
    }

    @Test func writerReproducesPynetdicomFragmentation() throws {
        let request = try CStoreRequest(try CommandSet(decoding: try ULFixtures.bytes("pynetdicom_c_store_rq_command")))
        var out = ByteBuffer()
        try PDataWriter(peerMaximumPDULength: 32).write(command: request.commandSet, dataSet: ByteBuffer(bytes: storeDataSet),
                                                        contextID: 1, into: &out)
        #expect(out == (try ULFixtures.bytes("pynetdicom_c_store_rq_pdus_max32")))
    }

    @Test(arguments: [UInt32(0), 7, 16, 100, 4096, 16384])
    func writerRespectsPeerMaximum(maximum: UInt32) throws {
        let writer = PDataWriter(peerMaximumPDULength: maximum)
        let payload = ByteBuffer(bytes: (0..<(maximum != 0 && maximum < 100 ? 3_000 : 50_000)).map { UInt8($0 % 251) })
        let command = CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2.840.10008.5.1.4.1.1.2", affectedSOPInstanceUID: "1.2.3").commandSet
        let transfers = writer.dataTransfers(command: command, contextID: 3) + writer.dataTransfers(dataSet: payload, contextID: 3)
        var assembler = DIMSEMessageAssembler()
        var received: [UInt8] = []
        var events = 0
        for transfer in transfers {
            let encoded = try PDU.dataTransfer(transfer).encoded()
            if maximum != 0 { #expect(encoded.readableBytes - 6 <= Int(maximum)) }
            for value in transfer.values {
                if let event = try assembler.append(value) {
                    events += 1
                    if case .dataSetFragment(let bytes, _, _) = event { received += Array(buffer: bytes) }
                }
            }
        }
        #expect(received == Array(buffer: payload))
        #expect(assembler.isIdle)
        #expect(events >= 2)
        if maximum == 0 { #expect(transfers.count == 2) }
    }

    @Test func dataFragmentsAreSlicesOfTheInput() throws {
        var assembler = DIMSEMessageAssembler()
        let command = CStoreRequest(messageID: 1, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3").commandSet.encoded()
        _ = try assembler.append(PresentationDataValue(contextID: 1, isCommand: true, isLast: true, data: command))
        let data = ByteBuffer(repeating: 7, count: 4096)
        guard case .dataSetFragment(let out, _, _)? = try assembler.append(PresentationDataValue(contextID: 1, isCommand: false, isLast: false, data: data)) else {
            Issue.record("expected fragment"); return
        }
        let inAddress = data.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let outAddress = out.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        #expect(inAddress == outAddress)
    }

    @Test func protocolViolations() throws {
        let echo = Array(buffer: CEchoRequest(messageID: 1).commandSet.encoded())
        let store = Array(buffer: CStoreRequest(messageID: 2, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3").commandSet.encoded())

        var assembler = DIMSEMessageAssembler()
        #expect(throws: DIMSEError(.dataBeforeCommand, "data set fragment without a preceding command")) {
            try assembler.append(pdv(1, command: false, last: true, [1]))
        }

        assembler = DIMSEMessageAssembler()
        _ = try assembler.append(pdv(1, command: true, last: false, Array(store.prefix(10))))
        #expect(assembler.currentContextID == 1)
        do {
            _ = try assembler.append(pdv(3, command: true, last: true, Array(store.dropFirst(10))))
            Issue.record("context change accepted")
        } catch { #expect(error.code == .contextChangedMidMessage) }

        assembler = DIMSEMessageAssembler()
        _ = try assembler.append(pdv(1, command: true, last: true, echo))
        do {
            _ = try assembler.append(pdv(1, command: false, last: true, [0]))
            Issue.record("data after a command without data set accepted")
        } catch { #expect(error.code == .unexpectedDataSet) }

        assembler = DIMSEMessageAssembler()
        _ = try assembler.append(pdv(1, command: true, last: true, store))
        do {
            _ = try assembler.append(pdv(1, command: true, last: true, echo))
            Issue.record("command while awaiting data accepted")
        } catch { #expect(error.code == .commandWhileAwaitingDataSet) }

        assembler = DIMSEMessageAssembler()
        _ = try assembler.append(pdv(1, command: true, last: true, store))
        do {
            _ = try assembler.append(pdv(5, command: false, last: true, [0]))
            Issue.record("data on another context accepted")
        } catch { #expect(error.code == .contextChangedMidMessage) }

        assembler = DIMSEMessageAssembler(maximumCommandLength: 100)
        _ = try assembler.append(pdv(1, command: true, last: false, [UInt8](repeating: 0, count: 60)))
        do {
            _ = try assembler.append(pdv(1, command: true, last: false, [UInt8](repeating: 0, count: 60)))
            Issue.record("oversized command accepted")
        } catch { #expect(error.code == .commandTooLarge) }
    }

    /// Random PDV sequences (valid commands, garbage, wrong flags, context switches): 5,000 deterministic
    /// steps; the assembler yields events or typed errors, and a data fragment is always passed through whole.
    @Test func randomPDVSequencesNeverTrap() throws {
        let commands = [CEchoRequest(messageID: 1).commandSet.encoded(),
                        CStoreRequest(messageID: 2, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3").commandSet.encoded()]
        var rng = ULSeededGenerator(seed: 42)
        var assembler = DIMSEMessageAssembler(maximumCommandLength: 1024)
        var counts = (events: 0, errors: 0)
        for _ in 0..<5_000 {
            var data: ByteBuffer
            switch Int.random(in: 0..<4, using: &rng) {
            case 0, 1:
                var command = commands[Int.random(in: 0..<commands.count, using: &rng)]
                let cut = Int.random(in: 0...command.readableBytes, using: &rng)
                data = Bool.random(using: &rng) ? command : command.readSlice(length: cut)!
            default:
                data = ByteBuffer(bytes: (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
            }
            let value = PresentationDataValue(contextID: UInt8.random(in: 1...3, using: &rng),
                                              messageControlHeader: UInt8.random(in: 0...3, using: &rng), data: data)
            do {
                if let event = try assembler.append(value) {
                    counts.events += 1
                    if case .dataSetFragment(let fragment, _, _) = event { #expect(fragment == data) }
                }
            } catch {
                counts.errors += 1
            }
        }
        #expect(counts.events > 100 && counts.errors > 100, "\(counts)")
    }

    @Test func commandSplitAcrossManyFragments() throws {
        let store = Array(buffer: CStoreRequest(messageID: 9, affectedSOPClassUID: "1.2", affectedSOPInstanceUID: "1.3").commandSet.encoded())
        var assembler = DIMSEMessageAssembler()
        for (index, byte) in store.enumerated() {
            let event = try assembler.append(pdv(1, command: true, last: index == store.count - 1, [byte]))
            if index < store.count - 1 {
                #expect(event == nil)
            } else {
                guard case .command(let command, 1)? = event else { Issue.record("expected command"); return }
                #expect(command.messageID == 9)
            }
        }
        // An empty last data fragment ends the message.
        #expect(try assembler.append(pdv(1, command: false, last: true, [])) == .dataSetFragment(ByteBuffer(), contextID: 1, isLast: true))
        #expect(assembler.isIdle)
    }
}
