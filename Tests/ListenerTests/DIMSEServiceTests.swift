import DICOM
import Domain
import Foundation
@testable import Listener
import Testing

/// The answers of `VerificationService` (PS3.7 §9.1.5) and the checks of `StorageService` on a
/// C-STORE-RQ (PS3.7 §9.1.1, PS3.4 B.2.3) without a socket, over the recording sink.
@Suite("DIMSE services")
struct DIMSEServiceTests {
    static let ct = "1.2.840.10008.5.1.4.1.1.2"
    static let explicitLE = "1.2.840.10008.1.2.1"
    static let ctContext = AcceptedPresentationContext(id: 3, abstractSyntax: ct, transferSyntax: explicitLE)
    static let verificationContext = AcceptedPresentationContext(id: 1, abstractSyntax: UIDRegistry.verificationSOPClass,
                                                                 transferSyntax: "1.2.840.10008.1.2")
    static let association = AssociationContext(listener: ListenerConfig(name: "svc", port: 1), callingAETitle: "MODALITY",
                                                calledAETitle: "STORESCP", peerAddress: "127.0.0.1:40000")

    // MARK: C-ECHO

    @Test func echoOnTheVerificationContextSucceeds() {
        let response = VerificationService.response(to: CEchoRequest(messageID: 5).commandSet, on: Self.verificationContext)
        #expect(response.commandField == CommandField.cEchoResponse.rawValue)
        #expect(response.status == DIMSEStatus.success)
        #expect(response.uint16(CommandSet.Element.messageIDBeingRespondedTo) == 5)
    }

    @Test func echoOnAStorageContextIsSOPClassNotSupported() {
        let response = VerificationService.response(to: CEchoRequest(messageID: 5).commandSet, on: Self.ctContext)
        #expect(response.status == DIMSEStatus.sopClassNotSupported)
        #expect(response.text(CommandSet.Element.errorComment) == "C-ECHO needs the Verification context")
    }

    @Test func echoNamingAnotherSOPClassIsSOPClassNotSupported() {
        let response = VerificationService.response(to: CEchoRequest(messageID: 5, affectedSOPClassUID: Self.ct).commandSet,
                                                    on: Self.verificationContext)
        #expect(response.status == DIMSEStatus.sopClassNotSupported)
    }

    @Test func echoWithoutMessageIDIsMissingAttribute() {
        var command = CEchoRequest(messageID: 5).commandSet
        command.remove(CommandSet.Element.messageID)
        let response = VerificationService.response(to: command, on: Self.verificationContext)
        #expect(response.status == DIMSEStatus.missingAttribute)
    }

    // MARK: C-STORE

    static func storeRequest(uid: String = "1.2.3.4", sopClass: String = ct) -> CommandSet {
        CStoreRequest(messageID: 9, affectedSOPClassUID: sopClass, affectedSOPInstanceUID: uid).commandSet
    }

    /// The refusal `start` answers, as (status, Error Comment, echoed Affected SOP Instance UID).
    static func refusal(_ start: StorageService.Start) -> (UInt16?, String?, String?)? {
        guard case .refuse(let response) = start else { return nil }
        return (response.status, response.text(CommandSet.Element.errorComment), response.uid(CommandSet.Element.affectedSOPInstanceUID))
    }

    @Test func validRequestOpensTheSinksReceiver() async throws {
        let sink = RecordingSink()
        let start = await StorageService(sink: sink).start(Self.storeRequest(), on: Self.ctContext, association: Self.association,
                                                           logger: testLogger)
        guard case .store(_, let request) = start else {
            Issue.record("not stored: \(start)")
            return
        }
        #expect(request.messageID == 9)
        let begun = try #require(sink.begun.first)
        #expect(begun.affectedSOPInstanceUID == "1.2.3.4")
        #expect(begun.transferSyntaxUID == Self.explicitLE, "the data set's transfer syntax is the context's")
    }

    @Test func missingFieldIsMissingAttribute() async {
        var command = Self.storeRequest()
        command.remove(CommandSet.Element.affectedSOPInstanceUID)
        let sink = RecordingSink()
        let start = await StorageService(sink: sink).start(command, on: Self.ctContext, association: Self.association, logger: testLogger)
        #expect(Self.refusal(start)?.0 == DIMSEStatus.missingAttribute)
        #expect(sink.begun.isEmpty)
    }

    @Test("an Affected SOP Instance UID that is not a UID is 0117 and not echoed", arguments: ["1.2.a", "1..2", "../../etc", String(repeating: "1", count: 65)])
    func invalidInstanceUID(uid: String) async {
        let sink = RecordingSink()
        let start = await StorageService(sink: sink).start(Self.storeRequest(uid: uid), on: Self.ctContext, association: Self.association,
                                                           logger: testLogger)
        let refusal = Self.refusal(start)
        #expect(refusal?.0 == DIMSEStatus.invalidObjectInstance)
        #expect(refusal?.1 == "Affected SOP Instance UID is not a valid UID")
        #expect((refusal?.2 ?? "").isEmpty, "the invalid value is not echoed")
        #expect(sink.begun.isEmpty)
    }

    @Test func requestWithoutDataSetCannotBeUnderstood() async {
        var command = Self.storeRequest()
        command.setUInt16(CommandSet.Element.commandDataSetType, CommandSet.noDataSet)
        let start = await StorageService(sink: RecordingSink()).start(command, on: Self.ctContext, association: Self.association,
                                                                      logger: testLogger)
        #expect(Self.refusal(start)?.0 == DIMSEStatus.cannotUnderstand)
        #expect(Self.refusal(start)?.1 == "C-STORE-RQ without a data set")
    }

    @Test("off the instance's own Storage context: 0122", arguments: [
        ("1.2.840.10008.5.1.4.1.1.4", ctContext),
        (UIDRegistry.verificationSOPClass, verificationContext),
        (ct, verificationContext),
    ])
    func wrongContext(sopClass: String, context: AcceptedPresentationContext) async {
        let sink = RecordingSink()
        let start = await StorageService(sink: sink).start(Self.storeRequest(sopClass: sopClass), on: context,
                                                           association: Self.association, logger: testLogger)
        #expect(Self.refusal(start)?.0 == DIMSEStatus.sopClassNotSupported)
        #expect(sink.begun.isEmpty)
    }

    @Test func sinkRefusalIsAnsweredWithItsStatus() async {
        let sink = RecordingSink(refuse: { _ in StoreFailure(.duplicateSOPInstance("held elsewhere")) })
        let start = await StorageService(sink: sink).start(Self.storeRequest(), on: Self.ctContext, association: Self.association,
                                                           logger: testLogger)
        #expect(Self.refusal(start)?.0 == 0x0111)
        #expect(Self.refusal(start)?.1 == "held elsewhere")
    }

    @Test func otherSinkErrorsAreRetryable() {
        struct Broken: Error {}
        #expect(StorageService.status(for: Broken()) == .outOfResources("storage unavailable"))
        #expect(StorageService.status(for: StoreFailure(.cannotUnderstand("x"))) == .cannotUnderstand("x"))
    }
}
