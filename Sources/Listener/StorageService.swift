import DICOM
import Domain
import Logging

/// The Storage SOP Classes as SCP (PS3.4 Annex B): checks a C-STORE-RQ (PS3.7 §9.1.1) and opens the
/// sink's receiver for its data set. The data set itself then flows through `CStoreStateMachine`.
struct StorageService: Sendable {
    let sink: any InstanceSink

    /// What becomes of one C-STORE-RQ.
    enum Start: Sendable {
        /// The sink takes the data set.
        case store(any InstanceReceiver, CStoreRequest)
        /// Answered with this response (after the announced data set has been read and dropped).
        case refuse(CommandSet)
    }

    /// Checks `command` in the order the answers are defined and, when it passes, asks the sink for a
    /// receiver: Missing Attribute (0120, PS3.7 C.5.3) for a missing required field, Invalid Object
    /// Instance (0117) for an Affected SOP Instance UID that is not a UID, Cannot Understand (C000) without
    /// a data set, SOP Class Not Supported (0122) off the instance's own context, then the sink's refusal.
    func start(_ command: CommandSet, on presentationContext: AcceptedPresentationContext,
               association: AssociationContext, logger: Logger) async -> Start {
        let request: CStoreRequest
        do {
            request = try CStoreRequest(command)
        } catch {
            // Well-formed command, missing a required field: PS3.7 C.5.3 Missing Attribute.
            return .refuse(StatusOnlyResponse(respondingTo: command, status: DIMSEStatus.missingAttribute, errorComment: "\(error.code)").commandSet)
        }
        // The UID names the object key, the catalog row and the file meta header: it must be a UID
        // (PS3.5 §9.1) before anything is built from it. PS3.7 §C.5.x: 0117 Invalid Object Instance.
        guard UIDSyntax.isValid(request.affectedSOPInstanceUID, .toleratingLeadingZeros) else {
            var response = CStoreResponse(respondingTo: request, status: DIMSEStatus.invalidObjectInstance,
                                          errorComment: "Affected SOP Instance UID is not a valid UID")
            // Not echoed: it is not a UID, and it may be up to 64 KiB of anything.
            response.affectedSOPInstanceUID = ""
            logger.notice("C-STORE refused: invalid Affected SOP Instance UID", metadata: [
                "messageID": "\(request.messageID)", "uidBytes": "\(request.affectedSOPInstanceUID.unicodeScalars.count)",
            ])
            return .refuse(response.commandSet)
        }
        guard command.hasDataSet else {
            return .refuse(CStoreResponse(respondingTo: request, status: DIMSEStatus.cannotUnderstand,
                                          errorComment: "C-STORE-RQ without a data set").commandSet)
        }
        // The context must be the instance's own Storage SOP Class (PS3.4 B.2): the Verification context
        // is accepted for every peer, so a C-STORE on it, or naming Verification, would bypass `allowedSOPClasses`.
        guard request.affectedSOPClassUID == presentationContext.abstractSyntax,
              presentationContext.abstractSyntax != UIDRegistry.verificationSOPClass else {
            return .refuse(CStoreResponse(respondingTo: request, status: DIMSEStatus.sopClassNotSupported,
                                          errorComment: "SOP Class differs from the presentation context").commandSet)
        }
        let storeRequest = StoreRequest(
            association: association, messageID: request.messageID, affectedSOPClassUID: request.affectedSOPClassUID,
            affectedSOPInstanceUID: request.affectedSOPInstanceUID, transferSyntaxUID: presentationContext.transferSyntax,
            priority: request.priority, moveOriginatorAETitle: request.moveOriginatorAETitle,
            moveOriginatorMessageID: request.moveOriginatorMessageID)
        do {
            return .store(try await sink.beginStore(storeRequest), request)
        } catch {
            let status = Self.status(for: error)
            logger.notice("C-STORE refused by the sink", metadata: ["status": "\(status)", "messageID": "\(request.messageID)"])
            return .refuse(CStoreResponse(respondingTo: request, status: status.code, errorComment: status.errorComment).commandSet)
        }
    }

    /// The status for an error the sink or its receiver threw: a `StoreFailure` carries its own; anything
    /// else is the sink's own trouble, not the data's, so retryable (A700, PS3.4 B.2.3).
    static func status(for error: any Error) -> StoreStatus {
        if let failure = error as? StoreFailure { return failure.status }
        return .outOfResources("storage unavailable")
    }
}
