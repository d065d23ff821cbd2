import DICOM
import Foundation
import NIOCore
import Testing

@Suite("Association state machine (PS3.8 Table 9-10)")
struct AssociationStateMachineTests {
    private static let request = AssociateRequest(calledAETitle: "SCP", callingAETitle: "SCU", presentationContexts: [])
    private static let accept = AssociateAccept(calledAETitle: "SCP", callingAETitle: "SCU", presentationContexts: [])
    private static let data = DataTransfer(values: [PresentationDataValue(contextID: 1, isCommand: true, isLast: true, data: ByteBuffer())])
    private static let invalid = PDUError(.invalidLength, pduType: 4, "test")

    /// One representative event per PS3.8 event number an acceptor can see.
    private static let events: [Int: AssociationStateMachine.Event] = [
        3: .received(.associateAccept(accept)),
        4: .received(.associateReject(.noReasonGiven)),
        5: .transportConnected,
        6: .received(.associateRequest(request)),
        7: .accept(accept),
        8: .reject(.calledAETitleNotRecognized),
        9: .sendData(data),
        10: .received(.dataTransfer(data)),
        11: .requestRelease,
        12: .received(.releaseRequest),
        13: .received(.releaseResponse),
        14: .releaseResponse,
        15: .abort,
        16: .received(.abort(.serviceUser)),
        17: .transportClosed,
        18: .artimExpired,
        19: .invalidPDU(invalid),
    ]

    /// Next state of each action in PS3.8 Table 9-9 (acceptor side; AR-8 → Sta10).
    private static let nextState: [String: Int] = [
        "AE-5": 2, "AE-7": 6, "AE-8": 13, "DT-1": 6, "DT-2": 6, "AR-1": 7, "AR-2": 8, "AR-3": 1, "AR-4": 13, "AR-5": 1,
        "AR-6": 7, "AR-7": 8, "AR-8": 10, "AR-9": 11, "AR-10": 12, "AA-1": 13, "AA-2": 1, "AA-3": 1, "AA-4": 1,
        "AA-5": 1, "AA-6": 13, "AA-7": 13, "AA-8": 13,
    ]

    /// pynetdicom's transition table, written by Scripts/ul_make_fixtures.py.
    private static func pynetdicomTable() throws -> [String: String] {
        let url = ULFixtures.directory.appendingPathComponent("ul_fsm/transition_table.json")
        let data = try Data(contentsOf: url)
        return try JSONDecoder().decode([String: String].self, from: data)
    }

    @Test func everyTransitionMatchesPynetdicomTable() throws {
        let table = try Self.pynetdicomTable()
        #expect(table.count > 100)
        var checked = 0
        for state in AssociationStateMachine.State.allCases {
            for (number, event) in Self.events.sorted(by: { $0.key < $1.key }) {
                let expected = table["Evt\(number) \(state)"]
                var machine = AssociationStateMachine(state: state)
                let action = machine.handle(event)
                // Requestor-only transitions (AE-3/AE-4 in Sta5) are outside the acceptor's machine.
                if state == .sta5 && (number == 3 || number == 4) {
                    #expect(action == .invalidEvent)
                    continue
                }
                if let expected {
                    #expect(action.name == expected, "Evt\(number) in \(state)")
                    let next = Self.nextState[expected]
                    if expected == "AE-6" {
                        #expect(machine.state == .sta3)
                    } else {
                        #expect(machine.state.rawValue == next, "Evt\(number) in \(state) → \(expected)")
                    }
                } else {
                    #expect(action == .invalidEvent, "Evt\(number) in \(state) is not in the table")
                    #expect(machine.state == state)
                }
                checked += 1
            }
        }
        #expect(checked > 200)
    }

    @Test func normalAssociationWithReleaseByPeer() {
        var machine = AssociationStateMachine()
        let connect = machine.transportConnected()
        #expect(connect == .acceptTransport && connect.startsARTIM)
        let indication = machine.received(.associateRequest(Self.request))
        #expect(indication == .indicateAssociateRequest(Self.request) && indication.stopsARTIM)
        let ac = machine.accept(Self.accept)
        #expect(ac.pduToSend == .associateAccept(Self.accept))
        #expect(machine.state == .sta6 && machine.canSendData)
        #expect(machine.received(.dataTransfer(Self.data)) == .deliverData(Self.data))
        #expect(machine.send(Self.data).pduToSend == .dataTransfer(Self.data))
        #expect(machine.received(.releaseRequest) == .indicateRelease)
        #expect(machine.state == .sta8 && machine.canSendData, "pending responses may still go out (AR-7)")
        #expect(machine.send(Self.data) == .sendDataAwaitingRelease(Self.data))
        let rp = machine.releaseResponse()
        #expect(rp.pduToSend == .releaseResponse && rp.startsARTIM)
        #expect(machine.state == .sta13)
        // Peer closes: AR-5; or it lingers and ARTIM fires: AA-2.
        var lingering = machine
        #expect(machine.transportClosed() == .stopARTIM && machine.state == .sta1)
        let expired = lingering.artimExpired()
        #expect(expired.closesTransport && expired.stopsARTIM)
    }

    @Test func protocolVersionWithoutBitZeroIsRejectedByTheUpperLayer() {
        var machine = AssociationStateMachine(state: .sta2)
        var request = Self.request
        request.protocolVersion = 2
        let action = machine.received(.associateRequest(request))
        #expect(action == .rejectAssociateRequest(.protocolVersionNotSupported))
        #expect(action.name == "AE-6" && action.startsARTIM)
        #expect(action.pduToSend == .associateReject(AssociateReject(result: .permanent, source: .serviceProviderACSE, reason: 2)))
        #expect(machine.state == .sta13)
    }

    @Test func localRejectSendsRJAndWaitsForClose() {
        var machine = AssociationStateMachine(state: .sta3)
        let action = machine.reject(.callingAETitleNotRecognized)
        #expect(action.pduToSend == .associateReject(.callingAETitleNotRecognized) && action.startsARTIM)
        #expect(machine.state == .sta13)
        #expect(machine.received(.dataTransfer(Self.data)) == .ignore)
    }

    @Test func invalidPDUAbortsWithItsReason() {
        var machine = AssociationStateMachine(state: .sta6)
        let error = PDUError(.unrecognizedItem, pduType: 1, "test")
        let action = machine.receivedInvalidPDU(error)
        #expect(action == .sendProviderAbort(Abort(source: .serviceProvider, reason: .unrecognizedPDUParameter)))
        #expect(action.startsARTIM)
        var early = AssociationStateMachine(state: .sta2)
        #expect(early.receivedInvalidPDU(PDUError(.unrecognizedPDUType, "x")).pduToSend
            == .abort(Abort(source: .serviceProvider, reason: .unrecognizedPDU)))
    }

    @Test func unexpectedPDUAbortsAsUnexpected() {
        var machine = AssociationStateMachine(state: .sta6)
        #expect(machine.received(.associateRequest(Self.request)).pduToSend == .abort(Abort(source: .serviceProvider, reason: .unexpectedPDU)))
    }

    @Test func localAbortIsServiceUser() {
        var machine = AssociationStateMachine(state: .sta6)
        let action = machine.abort()
        #expect(action == .sendAbort(.serviceUser) && action.startsARTIM)
        #expect(machine.state == .sta13)
    }

    @Test func peerAbortClosesAndIndicates() {
        var machine = AssociationStateMachine(state: .sta6)
        let abort = Abort(source: .serviceProvider, reason: .unexpectedPDU)
        let action = machine.received(.abort(abort))
        #expect(action == .indicateAbortAndClose(abort) && action.closesTransport)
        #expect(machine.state == .sta1)
    }

    @Test func releaseCollisionAcceptorSide() {
        var machine = AssociationStateMachine(state: .sta6)
        #expect(machine.requestRelease().pduToSend == .releaseRequest)
        #expect(machine.received(.releaseRequest) == .indicateReleaseCollision)
        #expect(machine.state == .sta10)
        #expect(machine.received(.releaseResponse) == .confirmReleaseInCollision)
        #expect(machine.releaseResponse().pduToSend == .releaseResponse)
        #expect(machine.state == .sta13)
    }

    @Test func transportLossMidAssociation() {
        var machine = AssociationStateMachine(state: .sta6)
        #expect(machine.transportClosed() == .indicateProviderAbort)
        #expect(machine.state == .sta1)
    }

    @Test func localPrimitiveOutOfTurnIsRefused() {
        var machine = AssociationStateMachine(state: .sta2)
        #expect(machine.send(Self.data) == .invalidEvent)
        #expect(machine.state == .sta2)
    }
}
