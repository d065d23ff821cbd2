public import Foundation

/// A spooled instance claimed for forwarding: the row as committed, and how many attempts failed so far
/// (the backoff grows with it).
public struct ForwardClaim: Sendable, Hashable {
    public var record: InstanceRecord
    public var failedAttempts: Int

    public init(record: InstanceRecord, failedAttempts: Int) {
        self.record = record
        self.failedAttempts = failedAttempts
    }
}

/// What the spool holds, as the catalog counts it.
public struct SpoolFigures: Sendable, Hashable, Codable {
    public var instances: Int
    /// Part10 bytes of the spooled instances.
    public var bytes: Int64
    /// `lastReceivedAt` of the oldest spooled instance; nil when the spool is empty.
    public var oldestReceivedAt: Date?
    /// Rows whose spool files were found missing.
    public var lost: Int

    public init(instances: Int, bytes: Int64, oldestReceivedAt: Date?, lost: Int) {
        self.instances = instances
        self.bytes = bytes
        self.oldestReceivedAt = oldestReceivedAt
        self.lost = lost
    }

    public static let empty = SpoolFigures(instances: 0, bytes: 0, oldestReceivedAt: nil, lost: 0)
}

/// The catalog as the forwarder sees it: spooled rows are claimed with a lease, so that with a shared
/// database and a shared spool volume each row is worked on by one node at a time, and a dead node's
/// rows are taken over once their lease expires.
///
/// Every state change is conditional on the row still naming the object the forwarder read
/// (`sha256` and `objectURI`): a later receive of the same SOP Instance UID supersedes a spooled one.
public protocol ForwardQueue: Sendable {
    /// Leases up to `limit` spooled rows of spool `spoolID` whose lease is unset or expired at `now`,
    /// oldest first, until `leaseUntil`.
    func claimSpooled(spoolID: String, owner: String, limit: Int, now: Date, leaseUntil: Date) async throws -> [ForwardClaim]
    /// Marks the row `stored` (with `storedAt` and the bytes at rest) and clears its lease; false when
    /// the row no longer names this object (superseded) or is not spooled.
    func markStored(sopInstanceUID: String, sha256: String, objectURI: String, storedBytes: Int64, storedAt: Date) async throws -> Bool
    /// `markStored` in one step, without the instance lock, for the common case: true when the row was
    /// still leased by `owner`, still named this object and had been received once (so no object of an
    /// earlier receive can wait under the sibling key slot), and is now `stored`; false otherwise, and
    /// nothing changed (the caller then settles it under the instance lock).
    func settleForwarded(sopInstanceUID: String, owner: String, sha256: String, objectURI: String,
                         storedBytes: Int64, storedAt: Date) async throws -> Bool
    /// Marks the row `lost` (its spool file is gone); false when the row no longer names this object.
    func markLost(sopInstanceUID: String, sha256: String, objectURI: String) async throws -> Bool
    /// Gives the lease back: the row may be claimed again from `retryAt`; `failed` counts one failed attempt.
    func releaseClaim(sopInstanceUID: String, owner: String, retryAt: Date, failed: Bool) async throws
    /// Extends `owner`'s lease of a row it is still working on (a long upload); false when `owner` no
    /// longer holds it.
    func renewClaim(sopInstanceUID: String, owner: String, leaseUntil: Date) async throws -> Bool
    /// Releases every lease `owner` holds (a restarted node's previous life cannot finish them).
    func releaseClaims(owner: String) async throws
    /// The files every spooled row of spool `spoolID` refers to (the spool sweep keeps exactly these).
    func spooledLocations(spoolID: String) async throws -> [CommittedInstanceObjects]
    func spoolFigures() async throws -> SpoolFigures
}
