import DICOM
import Domain
import Logging
import NIOCore

/// The DIMSE side of an association (PS3.7 §9.1–9.3): P-DATA-TF values reassembled into messages, each
/// command handed to its service, each data set fragment through `CStoreStateMachine`, responses written
/// within the peer's maximum PDU length.
extension AssociationSession {
    func deliver(_ transfer: DataTransfer) async throws -> AssociationStateMachine.Action? {
        guard let negotiated else { return machine.abort() }
        for pdv in transfer.values {
            guard negotiated.acceptedContexts[pdv.contextID] != nil else {
                endReason = "PDV on presentation context \(pdv.contextID), which is not accepted"
                logger.notice("PDV on a presentation context that was not accepted", metadata: ["contextID": "\(pdv.contextID)"])
                return machine.abort()
            }
            let event: DIMSEMessageAssembler.Event?
            do {
                event = try assembler.append(pdv)
            } catch {
                endReason = "DIMSE protocol error: \(error.code)"
                logger.notice("DIMSE protocol error", metadata: ["error": "\(error)"])
                return machine.abort()
            }
            switch event {
            case nil:
                continue
            case .command(let command, let contextID)?:
                if let action = try await handleCommand(command, contextID: contextID) {
                    return action
                }
            case .dataSetFragment(let bytes, _, let isLast)?:
                try await handleDataSetFragment(bytes, isLast: isLast)
            }
        }
        return nil
    }

    private func handleCommand(_ command: CommandSet, contextID: UInt8) async throws -> AssociationStateMachine.Action? {
        let presentationContext = negotiated!.acceptedContexts[contextID]!
        let field = CommandField(rawValue: command.commandField ?? 0)
        switch field {
        case .cEchoRequest:
            let response = VerificationService.response(to: command, on: presentationContext)
            logger.debug("C-ECHO")
            try await respond(response, contextID: contextID, afterDataSetOf: command, delayed: false)

        case .cStoreRequest:
            switch await storage.start(command, on: presentationContext, association: context!, logger: logger) {
            case .store(let receiver, let request):
                dataSet.beginStoring(receiver, request: request, contextID: contextID)
            case .refuse(let response):
                try await respond(response, contextID: contextID, afterDataSetOf: command, delayed: true)
            }

        default:
            if field.isResponse || field == .cCancelRequest {
                // We never send requests, so a response has nothing to answer; C-CANCEL has no response.
                logger.notice("ignoring DIMSE message", metadata: ["command": "\(field)"])
                if command.hasDataSet {
                    dataSet.discardDataSet(thenSend: nil)
                }
                return nil
            }
            logger.notice("unsupported DIMSE operation", metadata: ["command": "\(field)"])
            let response = StatusOnlyResponse(respondingTo: command, status: DIMSEStatus.unrecognizedOperation).commandSet
            try await respond(response, contextID: contextID, afterDataSetOf: command, delayed: false)
        }
        return nil
    }

    /// Sends `response` now, or after the data set the command announces has been read and dropped.
    private func respond(_ response: CommandSet, contextID: UInt8, afterDataSetOf command: CommandSet,
                         delayed: Bool) async throws {
        let answer = CStoreStateMachine<any InstanceReceiver>.Response(command: response, contextID: contextID, delayed: delayed)
        if command.hasDataSet {
            dataSet.discardDataSet(thenSend: answer)
        } else {
            try await send(answer)
        }
    }

    /// Performs the actions of `CStoreStateMachine` for one data set fragment until it waits for the next.
    private func handleDataSetFragment(_ bytes: ByteBuffer, isLast: Bool) async throws {
        var action = dataSet.dataSetFragment(bytes, isLast: isLast)
        while true {
            switch action {
            case .none:
                return
            case .receive(let storing, let fragment):
                do {
                    try await storing.receiver.receive(fragment)
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    let status = StorageService.status(for: error)
                    logger.notice("C-STORE failed while receiving", metadata: ["status": "\(status)", "messageID": "\(storing.request.messageID)"])
                    action = dataSet.receiveFailed(status)
                    continue
                }
                action = dataSet.receiveSucceeded()
            case .finish(let storing):
                let status = await storing.receiver.finish()
                logger.info("C-STORE", metadata: [
                    "status": "\(status)", "messageID": "\(storing.request.messageID)",
                    "ms": "\(Self.milliseconds(since: storing.startedAt))",
                ])
                action = dataSet.finished(status)
            case .cancel(let storing, let response):
                await storing.receiver.cancel()
                guard let response else { return }
                action = .send(response)
            case .send(let response):
                try await send(response)
                return
            }
        }
    }

    /// Writes a response command, each P-DATA-TF PDU in one write, within the peer's maximum PDU length.
    func send(_ response: CStoreStateMachine<any InstanceReceiver>.Response) async throws {
        let command = response.command
        if response.delayed && limits.cstoreDelayMs > 0 {
            try await Task.sleep(for: .milliseconds(limits.cstoreDelayMs))
        }
        for transfer in writer.dataTransfers(command: command, contextID: response.contextID) {
            let action = machine.send(transfer)
            guard let pdu = action.pduToSend else {
                logger.notice("response not sent: association no longer open", metadata: ["state": "\(machine.state)"])
                return
            }
            try await write(pdu)
        }
        let answered: String
        switch CommandField(rawValue: command.commandField ?? 0) {
        case .cEchoResponse: answered = "C-ECHO"
        case .cStoreResponse: answered = "C-STORE"
        default: answered = "other"
        }
        metrics.dimseResponseSent(command: answered, status: command.status ?? 0)
    }

    static func milliseconds(since start: ContinuousClock.Instant) -> Int64 {
        let elapsed = ContinuousClock.now - start
        return elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
    }
}
