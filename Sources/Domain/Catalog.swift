public import Foundation

/// Errors a catalog reports in terms the callers act on (REST maps them to 404/409/400).
public struct CatalogError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// A unique field is taken (`field` names it: "name" or "port").
        case conflict
        case notFound
        /// A cursor that this catalog did not issue, or that no longer parses.
        case invalidCursor
        /// The database could not be reached or failed; retrying may help.
        case unavailable
        /// The database schema is ahead of, or differs from, this binary's migrations.
        case schemaMismatch
        /// The database refused a value for good (data exception, program limit, `field` names it when
        /// known): the same write fails again however often it is retried.
        case invalidValue
    }

    public var code: Code
    public var field: String?
    /// Safe for logs and API responses: never contains row data.
    public var detail: String

    public init(_ code: Code, field: String? = nil, detail: String) {
        self.code = code
        self.field = field
        self.detail = detail
    }

    public var description: String { "CatalogError(\(code)\(field.map { ", field: \($0)" } ?? "")): \(detail)" }
}

/// The listener half of the catalog: the source of truth for listeners that every node reconciles with.
public protocol ListenerStore: Sendable {
    func listListeners() async throws -> [ListenerConfig]
    func listener(id: UUID) async throws -> ListenerConfig?
    /// Inserts; throws `CatalogError(.conflict, field: "name" | "port")` when taken.
    func createListener(_ listener: ListenerConfig) async throws
    /// Replaces every field but `id`/`createdAt`; throws `.notFound` or `.conflict`.
    func updateListener(_ listener: ListenerConfig) async throws
    /// Removes the listener; instance and association rows that name it are kept.
    func deleteListener(id: UUID) async throws
    /// Runtime state as the supervisor last saw it; does not touch `updatedAt`.
    func setListenerState(id: UUID, state: ListenerState, error: String?) async throws
}

/// Durable records of what was received. The instance write is the commit point of a C-STORE.
public protocol IngestRecorder: Sendable {
    /// Inserts the association row (outcome `accepted`, or `rejected` with `rejectReason` and `endedAt`).
    func startAssociation(_ association: AssociationRecord) async throws
    /// Sets `outcome` and `endedAt` of an association.
    func endAssociation(id: UUID, outcome: AssociationOutcome, endedAt: Date) async throws
    /// In one transaction: upsert the instance by SOP Instance UID (a repeat keeps `receivedAt`, sets
    /// `lastReceivedAt`, increments `receiveCount` and replaces the rest), refresh the study/series
    /// aggregates, and add 1 instance and `sizeBytes` to the association's counters.
    /// Text values are first normalised by `InstanceRecord.catalogNormalised()` (the documented rules).
    /// A repeat from another listener than the row's is refused with
    /// `CatalogError(.conflict, field: "listenerId")`: a row is never re-pointed to another listener's target.
    /// Returns the row as stored.
    @discardableResult
    func recordInstance(_ instance: InstanceRecord) async throws -> InstanceRecord
    /// Adds 1 to the association's `instancesFailed`.
    func recordFailure(associationID: UUID) async throws
    /// Adds `count` to `attempts` of a rejected association's row (coalesced refusals of one peer).
    func addRejectedAttempts(associationID: UUID, count: Int) async throws
    /// The committed row of one instance, if any: the sink reads it to choose where a re-send is written.
    func instance(sopInstanceUID: String) async throws -> InstanceRecord?
    /// The listener and object URIs of the committed row of one instance, if any: all the sink reads of it
    /// on every receive (see `CommittedInstanceObjects`).
    func committedObjects(sopInstanceUID: String) async throws -> CommittedInstanceObjects?
    /// Runs `body` holding the catalog's lock on one SOP Instance UID, so that receives of one instance on
    /// different nodes sharing the catalog commit one after the other. Throws (`CatalogError(.unavailable)`)
    /// only when the lock cannot be taken, and then `body` has not run.
    func withInstanceLock<T: Sendable>(sopInstanceUID: String, _ body: @Sendable () async -> T) async throws -> T
    /// `withInstanceLock`, handing `body` the instance's committed objects as read once the lock is held
    /// (what a commit checks again before it writes). Throws (`CatalogError(.unavailable)`) when the lock
    /// cannot be taken or the row cannot be read, and then `body` has not run.
    func withInstanceLockReadingObjects<T: Sendable>(sopInstanceUID: String,
                                                     _ body: @Sendable (CommittedInstanceObjects?) async -> T) async throws -> T
}

/// The dashboard queries of the REST contract. Keyset pagination: a page never repeats or skips a row
/// that existed when the first page was read, whatever is inserted meanwhile.
public protocol CatalogQueries: Sendable {
    /// Newest first by `firstReceivedAt` (descending, then `studyInstanceUID`): a key that never changes
    /// for a study, so keyset pages stay exact while studies keep receiving instances.
    func studies(filter: StudyFilter, page: PageRequest) async throws -> Page<StudySummary>
    func study(uid: String) async throws -> StudySummary?
    /// Every series of one study, by series number then UID.
    func series(studyInstanceUID: String) async throws -> [SeriesSummary]
    /// Instances of one series, by instance number then UID.
    func instances(seriesInstanceUID: String, page: PageRequest) async throws -> Page<InstanceRecord>
    func instance(sopInstanceUID: String) async throws -> InstanceRecord?
    /// Newest first (`startedAt` descending, then `id`).
    func associations(listenerID: UUID?, page: PageRequest) async throws -> Page<AssociationRecord>
    func stats() async throws -> CatalogStats
}

/// The whole catalog port. PostgreSQL in production, SQLite for the embedded default.
public protocol Catalog: ListenerStore, IngestRecorder, CatalogQueries {
    /// Cheap round trip for `/readyz`.
    func ping() async throws
}
