import Domain
import Foundation
import Storage
import Testing

/// A `spooled` row of `spool` (no `storedAt`), its sha256 `sha` repeated, named `uri` when given.
func spooledInstance(_ sop: String, spool: String = "spool-1", sha: Character = "a", uri: String? = nil,
                     at time: Date = catalogT0) -> InstanceRecord {
    var record = makeInstance(sop: sop, at: time)
    record.storageState = .spooled
    record.storedAt = nil
    record.spoolID = spool
    record.sha256 = String(repeating: sha, count: 64)
    if let uri { record.objectURI = uri }
    return record
}

/// Runs `body` against a fresh catalog of `kind` as the forwarder's queue.
func withForwardQueue(_ kind: CatalogKind, _ body: (any Catalog & ForwardQueue) async throws -> Void) async throws {
    try await withCatalog(kind) { catalog in
        guard let queue = catalog as? any Catalog & ForwardQueue else {
            Issue.record("\(kind) catalog is not a ForwardQueue")
            return
        }
        try await body(queue)
    }
}
