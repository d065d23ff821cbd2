/// Tells one node that the listeners of a shared catalog changed, on this node or any other, as soon as
/// the change commits. The listener supervisor reconciles on each call instead of waiting for its next
/// poll; polling stays, so a missed notification only delays a change to the next poll.
///
/// PostgreSQL delivers the changes with `LISTEN`/`NOTIFY`. An embedded catalog serves a single node,
/// whose own changes are reconciled at once, and has nothing to tell.
public protocol ListenerChanges: Sendable {
    /// Runs until the task is cancelled, calling `changed` after every committed listener change, and
    /// after every (re)subscription, since changes made while not subscribed were missed. Subscribes again
    /// on its own after losing the connection. Never throws: an unreachable database is retried.
    func watchListenerChanges(_ changed: @escaping @Sendable () -> Void) async
}
