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
        var scheduled: (task: Scheduled<Void>, deadline: NIODeadline)?
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
        let deadline = now + timeout
        let (needsSchedule, replaced) = state.withLockedValue { state -> (Bool, Scheduled<Void>?) in
            state.waiting = (kind, now, timeout)
            guard state.expired == nil else { return (false, nil) }
            guard let scheduled = state.scheduled else { return (true, nil) }
            // A later check is fine (it reschedules); an earlier deadline needs an earlier check.
            guard deadline < scheduled.deadline else { return (false, nil) }
            state.scheduled = nil
            return (true, scheduled.task)
        }
        replaced?.cancel()
        if needsSchedule { schedule(at: deadline) }
    }

    func disarm() {
        state.withLockedValue { $0.waiting = nil }
    }

    /// Stops the timer for good (the association is over).
    func cancel() {
        let scheduled = state.withLockedValue { state -> Scheduled<Void>? in
            state.waiting = nil
            defer { state.scheduled = nil }
            return state.scheduled?.task
        }
        scheduled?.cancel()
    }

    private func schedule(at deadline: NIODeadline) {
        let task = channel.eventLoop.scheduleTask(deadline: deadline) { [self] in fire(deadline) }
        let superseded = state.withLockedValue { state -> Scheduled<Void>? in
            // Two arms racing: keep the earlier check.
            if let existing = state.scheduled, existing.deadline <= deadline { return task }
            defer { state.scheduled = (task, deadline) }
            return state.scheduled?.task
        }
        superseded?.cancel()
    }

    private func fire(_ scheduledFor: NIODeadline) {
        let now = NIODeadline.now()
        enum Next { case nothing, reschedule(NIODeadline), expire(Kind) }
        let next = state.withLockedValue { state -> Next in
            guard state.scheduled?.deadline == scheduledFor else { return .nothing }  // superseded
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
            // The writer handler passes writes it did not originate straight to the PDU encoder. On the event
            // loop the flush reaches the socket before the close; a peer that no longer reads loses the A-ABORT
            // rather than holding the connection open.
            channel.writeAndFlush(PDU.abort(.serviceUser), promise: nil)
            channel.close(promise: nil)
        }
    }
}
