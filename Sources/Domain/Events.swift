public import Foundation

/// The CloudEvents `type` values this service emits (CloudEvents 1.0 §3.1.1, reverse-DNS style).
public enum EventType: String, Sendable, Hashable, Codable, CaseIterable {
    /// A study was quiet for its listener's `studyStableSeconds`: revision 1.
    case studyStable = "dicom-ingest.study.stable"
    /// A stable study received more instances and settled again: revision 2 and later.
    case studyUpdated = "dicom-ingest.study.updated"
    case instanceStored = "dicom-ingest.instance.stored"
    case associationEnded = "dicom-ingest.association.ended"

    /// What a sink receives when it names no types: the study events (instance events are opt-in).
    public static let defaultSubscription: [EventType] = [.studyStable, .studyUpdated]
}

public enum EventSinkKind: String, Sendable, Hashable, Codable, CaseIterable {
    case webhook
    case eventbridge
    case sns
    case healthimaging
}

/// The kind-specific settings of a sink; which members a kind needs is checked by the API.
public struct EventSinkSettings: Sendable, Hashable, Codable {
    /// webhook: the absolute http(s) URL events are POSTed to.
    public var url: String?
    /// eventbridge: the event bus name or ARN; sns: unused.
    public var eventBusName: String?
    /// eventbridge: the `Source` of each entry.
    public var source: String?
    /// sns: the topic ARN.
    public var topicArn: String?
    /// AWS sinks: region and an optional endpoint (a VPC endpoint, or a local emulator in tests).
    public var region: String?
    public var endpoint: String?
    /// healthimaging: the data store imports go to (32 lowercase letters or digits).
    public var datastoreId: String?
    /// healthimaging: the IAM role HealthImaging assumes to read the input and write the output.
    public var dataAccessRoleArn: String?
    /// healthimaging: `s3://bucket/prefix/` where each job writes its manifests (`<jobId>/…`).
    public var outputS3Uri: String?
    /// healthimaging: the account owning the input bucket, when it is not the data store's account.
    public var inputOwnerAccountId: String?

    public init(url: String? = nil, eventBusName: String? = nil, source: String? = nil, topicArn: String? = nil,
                region: String? = nil, endpoint: String? = nil) {
        self.url = url
        self.eventBusName = eventBusName
        self.source = source
        self.topicArn = topicArn
        self.region = region
        self.endpoint = endpoint
    }
}

/// A destination of events, managed over REST (`/v1/event-sinks`).
public struct EventSink: Sendable, Hashable {
    public var id: UUID
    public var name: String
    public var kind: EventSinkKind
    public var enabled: Bool
    public var settings: EventSinkSettings
    /// webhook: the HMAC-SHA256 key of the signature header. Write-only in the API.
    public var secret: String?
    /// Empty: `EventType.defaultSubscription`.
    public var eventTypes: [EventType]
    /// Empty: every listener.
    public var listenerIDs: [UUID]
    public var createdAt: Date
    public var updatedAt: Date

    public init(id: UUID = UUID(), name: String, kind: EventSinkKind, enabled: Bool = true,
                settings: EventSinkSettings = EventSinkSettings(), secret: String? = nil, eventTypes: [EventType] = [],
                listenerIDs: [UUID] = [], createdAt: Date = Date(), updatedAt: Date = Date()) {
        self.id = id
        self.name = name
        self.kind = kind
        self.enabled = enabled
        self.settings = settings
        self.secret = secret
        self.eventTypes = eventTypes
        self.listenerIDs = listenerIDs
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// Whether this sink wants an event of `type` about something `listenerID` received.
    public func accepts(_ type: EventType, listenerID: UUID?) -> Bool {
        guard enabled else { return false }
        let types = eventTypes.isEmpty ? EventType.defaultSubscription : eventTypes
        guard types.contains(type) else { return false }
        guard !listenerIDs.isEmpty else { return true }
        return listenerID.map(listenerIDs.contains) ?? false
    }
}

public enum DeliveryStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case pending
    case delivered
    case failed
}

/// The state of one event at one sink.
public struct EventDelivery: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey { case sinkID = "sinkId", status, attempts, nextAttemptAt, lastAttemptAt, deliveredAt, lastError }

    public var sinkID: UUID
    public var status: DeliveryStatus
    public var attempts: Int
    public var nextAttemptAt: Date?
    public var lastAttemptAt: Date?
    public var deliveredAt: Date?
    /// Safe to show: a status code or a transport error kind, never the body.
    public var lastError: String?

    public init(sinkID: UUID, status: DeliveryStatus, attempts: Int, nextAttemptAt: Date?, lastAttemptAt: Date?,
                deliveredAt: Date?, lastError: String?) {
        self.sinkID = sinkID
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastAttemptAt = lastAttemptAt
        self.deliveredAt = deliveredAt
        self.lastError = lastError
    }
}

/// An event as stored in the outbox, with its deliveries.
public struct StoredEvent: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey { case id, type, subject, listenerID = "listenerId", revision, createdAt, body, deliveries }

    public var id: UUID
    public var type: String
    public var subject: String
    public var listenerID: UUID?
    public var revision: Int
    public var createdAt: Date
    /// The CloudEvents JSON exactly as every attempt sends it.
    public var body: String
    public var deliveries: [EventDelivery]

    public init(id: UUID, type: String, subject: String, listenerID: UUID?, revision: Int, createdAt: Date, body: String,
                deliveries: [EventDelivery]) {
        self.id = id
        self.type = type
        self.subject = subject
        self.listenerID = listenerID
        self.revision = revision
        self.createdAt = createdAt
        self.body = body
        self.deliveries = deliveries
    }
}

/// A delivery a node has leased: it alone attempts it until `leaseUntil`.
public struct ClaimedDelivery: Sendable, Hashable {
    public var eventID: UUID
    public var eventType: String
    public var subject: String
    public var body: String
    public var sink: EventSink
    /// Attempts made before this one.
    public var attempts: Int
    public var createdAt: Date
    /// The lease this claim holds (owner and claim); only its holder settles the delivery.
    public var lease: String

    public init(eventID: UUID, eventType: String, subject: String, body: String, sink: EventSink, attempts: Int, createdAt: Date,
                lease: String) {
        self.lease = lease
        self.eventID = eventID
        self.eventType = eventType
        self.subject = subject
        self.body = body
        self.sink = sink
        self.attempts = attempts
        self.createdAt = createdAt
    }
}

/// What one attempt achieved.
public enum DeliveryOutcome: Sendable, Hashable {
    case delivered
    /// Try again at the given time.
    case retry(at: Date, error: String)
    /// Give up: `POST /v1/events/{id}/redeliver` starts over.
    case failed(error: String)
}

/// A study whose outbox marker is set: it received an instance since it was last announced.
public struct DirtyStudy: Sendable, Hashable {
    public var studyInstanceUID: String
    public var listenerID: UUID
    public var lastInstanceAt: Date
    /// The revisions announced so far.
    public var revision: Int
    /// The listener's quiet period; nil when events are off for it (or the listener is gone).
    public var stableSeconds: Int?

    public init(studyInstanceUID: String, listenerID: UUID, lastInstanceAt: Date, revision: Int, stableSeconds: Int?) {
        self.studyInstanceUID = studyInstanceUID
        self.listenerID = listenerID
        self.lastInstanceAt = lastInstanceAt
        self.revision = revision
        self.stableSeconds = stableSeconds
    }
}

/// The event outbox and sinks of the catalog.
public protocol EventStore: Sendable {
    func listEventSinks() async throws -> [EventSink]
    func eventSink(id: UUID) async throws -> EventSink?
    /// Throws `CatalogError(.conflict, field: "name")` when the name is taken.
    func createEventSink(_ sink: EventSink) async throws
    /// Replaces every field but `id` and `createdAt`; throws `.notFound`.
    func updateEventSink(_ sink: EventSink) async throws
    /// Removes the sink and its pending deliveries.
    func deleteEventSink(id: UUID) async throws

    /// Newest first; `status` and `sinkID` keep the events with a matching delivery.
    func events(status: DeliveryStatus?, sinkID: UUID?, page: PageRequest) async throws -> Page<StoredEvent>
    func event(id: UUID) async throws -> StoredEvent?
    /// Makes every delivery of the event pending and due now; throws `.notFound`.
    func redeliver(eventID: UUID, now: Date) async throws

    /// Studies marked dirty, oldest last instance first.
    func dirtyStudies(limit: Int) async throws -> [DirtyStudy]
    /// In one transaction: if the study is still dirty with the same last instance time, creates the next
    /// revision's event (`study.stable` or `study.updated`) with a delivery for every sink that wants it, and
    /// clears the marker. Returns the event, or nil when the study changed meanwhile (or another node won).
    func announceStudy(_ study: DirtyStudy, source: String, now: Date) async throws -> StoredEvent?
    /// Clears the marker of a study whose listener has events off (nothing is announced).
    func clearDirtyStudy(_ study: DirtyStudy) async throws

    /// Leases up to `limit` pending deliveries due by `now` and not leased by a live node.
    func claimDeliveries(owner: String, now: Date, leaseSeconds: Int, limit: Int) async throws -> [ClaimedDelivery]
    /// Records an attempt and its outcome, and releases the lease (a claim whose lease was taken over
    /// by another node records the attempt but no longer settles the delivery).
    func recordAttempt(_ delivery: ClaimedDelivery, startedAt: Date, duration: Duration,
                       outcome: DeliveryOutcome) async throws
    /// Deliveries not yet delivered nor failed, per sink.
    func pendingDeliveries() async throws -> [UUID: Int]
}
