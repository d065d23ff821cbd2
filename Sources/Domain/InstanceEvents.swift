public import Foundation

/// The `data` of a `dicom-ingest.instance.stored` event: the instance row as the C-STORE committed it
/// (the catalog's fields, named as in `GET /v1/series/{uid}/instances`), with its listener's name.
/// The CloudEvents `subject` is the SOP Instance UID. A spooled listener's row is committed `spooled`
/// (`storageState`), with the URI its object will have at the target.
public struct InstanceStoredEventData: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey {
        case sopInstanceUID, sopClassUID, seriesInstanceUID, studyInstanceUID, instanceNumber, transferSyntaxUID
        case sizeBytes, storedBytes, objectURI = "objectUri", metadataURI = "metadataUri", sha256, listener
        case associationID = "associationId", callingAETitle, calledAETitle, peerAddress, receivedAt, lastReceivedAt
        case receiveCount, storageState, storedAt, patientID = "patientId", patientName, patientBirthDate, patientSex
        case studyDate, studyTime, studyDescription, accessionNumber, seriesNumber, seriesDescription, modality
        case numberOfFrames
    }

    public var sopInstanceUID: String
    public var sopClassUID: String
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var instanceNumber: Int?
    public var transferSyntaxUID: String
    public var sizeBytes: Int64
    public var storedBytes: Int64
    public var objectURI: String
    public var metadataURI: String?
    public var sha256: String
    public var listener: StudyEventData.Listener
    public var associationID: String
    public var callingAETitle: String
    public var calledAETitle: String
    public var peerAddress: String
    public var receivedAt: String
    public var lastReceivedAt: String
    public var receiveCount: Int
    public var storageState: String
    public var storedAt: String?
    public var patientID: String?
    public var patientName: String?
    public var patientBirthDate: String?
    public var patientSex: String?
    public var studyDate: String?
    public var studyTime: String?
    public var studyDescription: String?
    public var accessionNumber: String?
    public var seriesNumber: Int?
    public var seriesDescription: String?
    public var modality: String?
    public var numberOfFrames: Int?

    public init(instance i: InstanceRecord, listenerName: String?) {
        sopInstanceUID = i.sopInstanceUID
        sopClassUID = i.sopClassUID
        seriesInstanceUID = i.seriesInstanceUID
        studyInstanceUID = i.studyInstanceUID
        instanceNumber = i.instanceNumber
        transferSyntaxUID = i.transferSyntaxUID
        sizeBytes = i.sizeBytes
        storedBytes = i.storedBytes
        objectURI = i.objectURI
        metadataURI = i.metadataURI
        sha256 = i.sha256
        listener = StudyEventData.Listener(id: i.listenerID.uuidString.lowercased(), name: listenerName)
        associationID = i.associationID.uuidString.lowercased()
        callingAETitle = i.callingAETitle
        calledAETitle = i.calledAETitle
        peerAddress = i.peerAddress
        receivedAt = CloudEvent.timestamp(i.receivedAt)
        lastReceivedAt = CloudEvent.timestamp(i.lastReceivedAt)
        receiveCount = i.receiveCount
        storageState = i.storageState.rawValue
        storedAt = i.storedAt.map(CloudEvent.timestamp)
        patientID = i.patientID
        patientName = i.patientName
        patientBirthDate = i.patientBirthDate
        patientSex = i.patientSex
        studyDate = i.studyDate
        studyTime = i.studyTime
        studyDescription = i.studyDescription
        accessionNumber = i.accessionNumber
        seriesNumber = i.seriesNumber
        seriesDescription = i.seriesDescription
        modality = i.modality
        numberOfFrames = i.numberOfFrames
    }
}

/// The `data` of a `dicom-ingest.association.ended` event: the association row once its end is recorded
/// (named as in `GET /v1/associations`), with its listener's name. The CloudEvents `subject` is the
/// association id. `instancesReceived` counts the instances stored on it, `instancesFailed` those answered
/// with a failure status.
public struct AssociationEndedEventData: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey {
        case associationID = "associationId", listener, callingAETitle, calledAETitle, peerAddress, startedAt, endedAt
        case outcome, instancesReceived, instancesFailed, bytesReceived
    }

    public var associationID: String
    public var listener: StudyEventData.Listener
    public var callingAETitle: String
    public var calledAETitle: String
    public var peerAddress: String
    public var startedAt: String
    public var endedAt: String?
    public var outcome: String
    public var instancesReceived: Int
    public var instancesFailed: Int
    public var bytesReceived: Int64

    public init(association a: AssociationRecord, listenerName: String?) {
        associationID = a.id.uuidString.lowercased()
        listener = StudyEventData.Listener(id: a.listenerID.uuidString.lowercased(), name: listenerName)
        callingAETitle = a.callingAETitle
        calledAETitle = a.calledAETitle
        peerAddress = a.peerAddress
        startedAt = CloudEvent.timestamp(a.startedAt)
        endedAt = a.endedAt.map(CloudEvent.timestamp)
        outcome = a.outcome.rawValue
        instancesReceived = a.instancesReceived
        instancesFailed = a.instancesFailed
        bytesReceived = a.bytesReceived
    }
}

/// What a subscription set is built from and answers: which event types some enabled sink wants, and
/// from which listeners. The catalog keeps one in memory so that the C-STORE path decides whether to write
/// an `instance.stored` event without a query.
public struct EventSubscriptionSet: Sendable, Hashable {
    /// Types some enabled sink wants from every listener.
    var everyListener: Set<EventType> = []
    /// Types some enabled sink wants from the listed listeners only.
    var someListeners: [EventType: Set<UUID>] = [:]

    public init(sinks: [EventSink]) {
        for sink in sinks where sink.enabled {
            let types = sink.eventTypes.isEmpty ? EventType.defaultSubscription : sink.eventTypes
            for type in types {
                if sink.listenerIDs.isEmpty {
                    everyListener.insert(type)
                } else {
                    someListeners[type, default: []].formUnion(sink.listenerIDs)
                }
            }
        }
    }

    /// Whether some enabled sink accepts an event of `type` from `listenerID` (`EventSink.accepts`).
    public func wants(_ type: EventType, listenerID: UUID) -> Bool {
        everyListener.contains(type) || someListeners[type]?.contains(listenerID) == true
    }

    /// Whether some enabled sink accepts an event of `type` from any listener.
    public func wantsAny(_ type: EventType) -> Bool {
        everyListener.contains(type) || someListeners[type] != nil
    }
}

/// The outbox's second step for events written on the ingest path (`instance.stored`,
/// `association.ended`): those transactions write the event row only (one row, whatever the number of
/// sinks), and the dispatcher fans each out into one delivery per sink that wants it.
public protocol EventFanOut: Sendable {
    /// In one transaction: up to `limit` events not yet fanned out get a pending delivery for every
    /// enabled sink that accepts them (due at `now`) and are marked fanned out. With PostgreSQL, rows
    /// another node is fanning out are skipped. Returns the events fanned out.
    func fanOutEvents(now: Date, limit: Int) async throws -> [StoredEvent]
    /// Reloads the catalog's in-memory subscription set (sinks changed on another node reach this one
    /// by this call; changes through this node's catalog apply at once).
    func refreshEventSubscriptions() async throws
}
