public import Domain
import Logging
import PostgresNIO

/// Listener changes of every node, from PostgreSQL's `LISTEN`/`NOTIFY`: migration 0004's trigger sends a
/// notification on channel `dicom_ingest_listeners` when a transaction that changed a listener commits.
extension PostgresCatalog: ListenerChanges {
    /// The channel migration 0004's trigger notifies.
    static let listenerChannel = "dicom_ingest_listeners"

    /// Holds one pooled connection in `LISTEN` for as long as the task runs. When the connection drops
    /// (the notification sequence ends or fails), subscribes again after `retryDelay`; a database that
    /// stays unreachable is retried at that pace while polling keeps the node in step.
    public func watchListenerChanges(_ changed: @escaping @Sendable () -> Void) async {
        await watchListenerChanges(retryDelay: .seconds(1), changed)
    }

    func watchListenerChanges(retryDelay: Duration, _ changed: @escaping @Sendable () -> Void) async {
        let logger = self.logger
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    try await connection.listen(on: Self.listenerChannel) { notifications in
                        logger.debug("listening for listener changes")
                        changed()
                        for try await _ in notifications {
                            changed()
                        }
                    }
                }
                if !Task.isCancelled {
                    logger.warning("listener change notifications ended; subscribing again")
                }
            } catch {
                if Task.isCancelled { return }
                logger.warning("cannot listen for listener changes; polling meanwhile",
                               metadata: ["error": "\(safeSummary(error))"])
            }
            do {
                try await Task.sleep(for: retryDelay)
            } catch {
                return
            }
        }
    }
}
