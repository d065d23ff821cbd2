import DICOM
import NIOConcurrencyHelpers
import NIOCore

/// The two timers of an association (PS3.8 §9.1.5 ARTIM; the DIMSE timeout between messages), run only
/// while the association loop waits for the peer. When one expires it closes the connection from the
/// event loop, which ends the loop's wait; after a DIMSE timeout it first sends an A-ABORT.
///
/// Re-arming happens at every PDU, so it is a timestamp under a lock; the event loop task is scheduled
/// once per timeout period, not once per PDU.
final class AssociationTimer: Sendable {
    enum Kind: Sendable, Hashable {
        /// ARTIM: waiting for the A-ASSOCIATE-RQ, or for the peer to close after RJ / RP / A-ABORT.
        case artim
        /// Waiting for the next PDU of an established association.
        case dimse
    }

    private struct State {
        var waiting: (kind: Kind, since: NIODeadline, timeout: TimeAmount)?
        var scheduled: Scheduled<Void>?
        var expired: Kind?
    }

    private let channel: any Channel
    private let state = NIOLockedValueBox(State())

    init(channel: any Channel) {
        self.channel = channel
    }

    /// Which timer closed the connection, if one did.
    var expired: Kind? { state.withLockedValue { $0.expired } }

    /// Starts waiting. A timeout of zero or less means "no timeout".
    func arm(_ kind: Kind, seconds: Int) {
        guard seconds > 0 else { return disarm() }
        let timeout = TimeAmount.seconds(Int64(seconds))
        let now = NIODeadline.now()
        let needsSchedule = state.withLockedValue { state -> Bool in
            state.waiting = (kind, now, timeout)
            return state.scheduled == nil && state.expired == nil
        }
        if needsSchedule { schedule(at: now + timeout) }
    }

    func disarm() {
        state.withLockedValue { $0.waiting = nil }
    }

    /// Stops the timer for good (the association is over).
    func cancel() {
        let scheduled = state.withLockedValue { state -> Scheduled<Void>? in
            state.waiting = nil
            defer { state.scheduled = nil }
            return state.scheduled
        }
        scheduled?.cancel()
    }

    private func schedule(at deadline: NIODeadline) {
        let task = channel.eventLoop.scheduleTask(deadline: deadline) { [self] in fire() }
        state.withLockedValue { state in
            state.scheduled = task
        }
    }

    private func fire() {
        let now = NIODeadline.now()
        enum Next { case nothing, reschedule(NIODeadline), expire(Kind) }
        let next = state.withLockedValue { state -> Next in
            state.scheduled = nil
            guard let waiting = state.waiting else { return .nothing }
            let deadline = waiting.since + waiting.timeout
            guard deadline <= now else { return .reschedule(deadline) }
            state.expired = waiting.kind
            state.waiting = nil
            return .expire(waiting.kind)
        }
        switch next {
        case .nothing:
            break
        case .reschedule(let deadline):
            schedule(at: deadline)
        case .expire(.artim):
            channel.close(promise: nil)
        case .expire(.dimse):
            // The writer handler passes writes it did not originate straight to the PDU encoder.
            channel.writeAndFlush(PDU.abort(.serviceUser)).whenComplete { [channel] _ in channel.close(promise: nil) }
        }
    }
}
