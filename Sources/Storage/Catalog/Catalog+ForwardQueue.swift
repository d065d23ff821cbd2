public import Domain
public import Foundation

extension PostgresCatalog: ForwardQueue {
    public func claimSpooled(spoolId: String, owner: String, limit: Int, now: Date, leaseUntil: Date) async throws -> [ForwardClaim] {
        try await core.claimSpooled(spoolId: spoolId, owner: owner, limit: limit, now: now, leaseUntil: leaseUntil)
    }
    public func markStored(sopInstanceUID: String, sha256: String, objectUri: String, storedBytes: Int64, storedAt: Date) async throws -> Bool {
        try await core.markStored(sopInstanceUID: sopInstanceUID, sha256: sha256, objectUri: objectUri, storedBytes: storedBytes, storedAt: storedAt)
    }
    public func markLost(sopInstanceUID: String, sha256: String, objectUri: String) async throws -> Bool {
        try await core.markLost(sopInstanceUID: sopInstanceUID, sha256: sha256, objectUri: objectUri)
    }
    public func releaseClaim(sopInstanceUID: String, owner: String, retryAt: Date, failed: Bool) async throws {
        try await core.releaseClaim(sopInstanceUID: sopInstanceUID, owner: owner, retryAt: retryAt, failed: failed)
    }
    public func renewClaim(sopInstanceUID: String, owner: String, leaseUntil: Date) async throws -> Bool {
        try await core.renewClaim(sopInstanceUID: sopInstanceUID, owner: owner, leaseUntil: leaseUntil)
    }
    public func releaseClaims(owner: String) async throws { try await core.releaseClaims(owner: owner) }
    public func spooledLocations(spoolId: String) async throws -> [SpooledLocation] { try await core.spooledLocations(spoolId: spoolId) }
    public func spoolFigures() async throws -> SpoolFigures { try await core.spoolFigures() }
}

extension SQLiteCatalog: ForwardQueue {
    public func claimSpooled(spoolId: String, owner: String, limit: Int, now: Date, leaseUntil: Date) async throws -> [ForwardClaim] {
        try await core.claimSpooled(spoolId: spoolId, owner: owner, limit: limit, now: now, leaseUntil: leaseUntil)
    }
    public func markStored(sopInstanceUID: String, sha256: String, objectUri: String, storedBytes: Int64, storedAt: Date) async throws -> Bool {
        try await core.markStored(sopInstanceUID: sopInstanceUID, sha256: sha256, objectUri: objectUri, storedBytes: storedBytes, storedAt: storedAt)
    }
    public func markLost(sopInstanceUID: String, sha256: String, objectUri: String) async throws -> Bool {
        try await core.markLost(sopInstanceUID: sopInstanceUID, sha256: sha256, objectUri: objectUri)
    }
    public func releaseClaim(sopInstanceUID: String, owner: String, retryAt: Date, failed: Bool) async throws {
        try await core.releaseClaim(sopInstanceUID: sopInstanceUID, owner: owner, retryAt: retryAt, failed: failed)
    }
    public func renewClaim(sopInstanceUID: String, owner: String, leaseUntil: Date) async throws -> Bool {
        try await core.renewClaim(sopInstanceUID: sopInstanceUID, owner: owner, leaseUntil: leaseUntil)
    }
    public func releaseClaims(owner: String) async throws { try await core.releaseClaims(owner: owner) }
    public func spooledLocations(spoolId: String) async throws -> [SpooledLocation] { try await core.spooledLocations(spoolId: spoolId) }
    public func spoolFigures() async throws -> SpoolFigures { try await core.spoolFigures() }
}
