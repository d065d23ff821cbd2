/// When a `spooled`-capable listener answers a C-STORE (PS3.4 Annex B.2.3): the success status is the
/// moment the sender may forget the instance, so both modes answer only once it is durable.
public enum AckMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// After the Part10 object (and its JSON) are complete in the listener's target and the catalog row
    /// is committed.
    case stored
    /// After the Part10 object and its JSON are written and fsynced (files and folder) in the local
    /// spool and the catalog row is committed with `storageState` `spooled`; the forwarder then writes
    /// them to the target.
    case spooled
}

/// Where an instance's bytes are, as its catalog row says.
public enum StorageState: String, Sendable, Hashable, Codable, CaseIterable {
    /// Durable in the spool; the forwarder has not yet written it to the target.
    case spooled
    /// In the listener's target (`storedAt` says since when).
    case stored
    /// The row was spooled but its spool file is gone (a volume that did not keep its promise):
    /// reported, never silently dropped.
    case lost
}
