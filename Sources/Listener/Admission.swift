import DICOM
import Domain
import Foundation

/// Counts associations against `maxAssociations`.
protocol AssociationAdmission: Sendable {
    /// Takes a slot if one is free.
    func admit() -> Bool
    /// Gives back a slot taken by `admit`.
    func release()
}

/// The admission of one connection: `maxAssociations` of the listener, and the unassociated ticket that
/// is given back as soon as the association is accepted.
struct ConnectionAdmission: AssociationAdmission {
    let listener: any AssociationAdmission
    let ticket: UnassociatedTicket

    func admit() -> Bool {
        guard listener.admit() else { return false }
        ticket.release()
        return true
    }

    func release() { listener.release() }
}

/// The listener's rules for an A-ASSOCIATE-RQ (PS3.8 §9.3.2, §7.1.1), in the order they are checked;
/// the protocol version is checked earlier, by `AssociationStateMachine`. A pure decision: the caller
/// sends the A-ASSOCIATE-RJ or goes on to negotiate the presentation contexts.
struct AssociateRequestRules: Sendable {
    var config: ListenerConfig

    enum Decision: Sendable, Hashable {
        /// Every rule passes and a `maxAssociations` slot was taken.
        case accept
        case reject(AssociateReject)
    }

    /// AE titles as the rules compare them: without the padding spaces of the fixed 16-byte fields.
    static func trimmed(_ aeTitle: String) -> String { aeTitle.trimmingCharacters(in: .whitespaces) }

    /// The decision on `request`. `admit` takes a `maxAssociations` slot; it is asked only when every
    /// other rule passes, so a rejected request never holds one. `draining`: the listener is stopping.
    func decide(_ request: AssociateRequest, draining: Bool, admit: () -> Bool) -> Decision {
        let called = Self.trimmed(request.calledAETitle)
        let calling = Self.trimmed(request.callingAETitle)
        let allowedCalling = Set(config.allowedCallingAETitles.map(Self.trimmed))
        if request.applicationContextName != dicomApplicationContextName {
            return .reject(.applicationContextNameNotSupported)
        }
        // PS3.8 §9.3.2 and PS3.5 §6.2 (VR AE): the default repertoire without control characters or
        // backslash, not all spaces. Checked before the value reaches a log line, a row or a file.
        if !ListenerValidation.matches(called, ListenerValidation.Pattern.aeTitle) {
            return .reject(.calledAETitleNotRecognized)
        }
        if !ListenerValidation.matches(calling, ListenerValidation.Pattern.aeTitle) {
            return .reject(.callingAETitleNotRecognized)
        }
        if config.requireCalledAETitle && called != Self.trimmed(config.aeTitle) {
            return .reject(.calledAETitleNotRecognized)
        }
        if !allowedCalling.isEmpty && !allowedCalling.contains(calling) {
            return .reject(.callingAETitleNotRecognized)
        }
        // A request that arrives while the listener stops is refused as transient (PS3.8 Table 9-21:
        // local limit exceeded): the sender retries it on another node or after the restart.
        if draining || !admit() {
            return .reject(.localLimitExceeded)
        }
        return .accept
    }
}
