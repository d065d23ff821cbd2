import DICOM

/// The Verification SOP Class as SCP (PS3.4 Annex A): the answer to a C-ECHO-RQ (PS3.7 §9.1.5).
enum VerificationService {
    /// The C-ECHO-RSP to `command`: Success on a presentation context negotiated for Verification;
    /// SOP Class Not Supported (0122) on any other context or when the request names another SOP Class;
    /// Missing Attribute (0120) without a Message ID.
    static func response(to command: CommandSet, on presentationContext: AcceptedPresentationContext) -> CommandSet {
        let request: CEchoRequest
        do {
            request = try CEchoRequest(command)
        } catch {
            return StatusOnlyResponse(respondingTo: command, status: DIMSEStatus.missingAttribute, errorComment: "missing Message ID").commandSet
        }
        // PS3.7 §9.1.5: C-ECHO belongs to the Verification SOP Class, on a context negotiated for it.
        if presentationContext.abstractSyntax != UIDRegistry.verificationSOPClass
            || (!request.affectedSOPClassUID.isEmpty && request.affectedSOPClassUID != UIDRegistry.verificationSOPClass) {
            return StatusOnlyResponse(respondingTo: command, status: DIMSEStatus.sopClassNotSupported,
                                      errorComment: "C-ECHO needs the Verification context").commandSet
        }
        return CEchoResponse(respondingTo: request).commandSet
    }
}
