public import Foundation

/// One stored instance, as the catalog keeps it (one row per SOP Instance UID). A repeat receive of the
/// same UID updates the row: `receiveCount` grows, `lastReceivedAt` moves, `receivedAt` stays the first.
public struct InstanceRecord: Sendable, Hashable, Codable {
    public var sopInstanceUID: String
    public var sopClassUID: String
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var instanceNumber: Int?
    public var transferSyntaxUID: String
    /// Size of the Part10 object before any Content-Encoding.
    public var sizeBytes: Int64
    /// Bytes at rest (after gzip when it is on).
    public var storedBytes: Int64
    /// `s3://bucket/key` or `file:///absolute/path`.
    public var objectUri: String
    public var metadataUri: String?
    /// Lowercase hex SHA-256 of the Part10 bytes.
    public var sha256: String
    public var listenerId: UUID
    public var associationId: UUID
    public var callingAETitle: String
    public var calledAETitle: String
    public var peerAddress: String
    public var receivedAt: Date
    public var lastReceivedAt: Date
    public var receiveCount: Int

    // Patient / study / series attributes, from the same single pass over the data set.
    public var patientId: String?
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

    public init(
        sopInstanceUID: String, sopClassUID: String, seriesInstanceUID: String, studyInstanceUID: String,
        instanceNumber: Int? = nil, transferSyntaxUID: String, sizeBytes: Int64, storedBytes: Int64,
        objectUri: String, metadataUri: String? = nil, sha256: String, listenerId: UUID, associationId: UUID,
        callingAETitle: String, calledAETitle: String, peerAddress: String, receivedAt: Date,
        lastReceivedAt: Date? = nil, receiveCount: Int = 1,
        patientId: String? = nil, patientName: String? = nil, patientBirthDate: String? = nil, patientSex: String? = nil,
        studyDate: String? = nil, studyTime: String? = nil, studyDescription: String? = nil, accessionNumber: String? = nil,
        seriesNumber: Int? = nil, seriesDescription: String? = nil, modality: String? = nil, numberOfFrames: Int? = nil
    ) {
        self.sopInstanceUID = sopInstanceUID
        self.sopClassUID = sopClassUID
        self.seriesInstanceUID = seriesInstanceUID
        self.studyInstanceUID = studyInstanceUID
        self.instanceNumber = instanceNumber
        self.transferSyntaxUID = transferSyntaxUID
        self.sizeBytes = sizeBytes
        self.storedBytes = storedBytes
        self.objectUri = objectUri
        self.metadataUri = metadataUri
        self.sha256 = sha256
        self.listenerId = listenerId
        self.associationId = associationId
        self.callingAETitle = callingAETitle
        self.calledAETitle = calledAETitle
        self.peerAddress = peerAddress
        self.receivedAt = receivedAt
        self.lastReceivedAt = lastReceivedAt ?? receivedAt
        self.receiveCount = receiveCount
        self.patientId = patientId
        self.patientName = patientName
        self.patientBirthDate = patientBirthDate
        self.patientSex = patientSex
        self.studyDate = studyDate
        self.studyTime = studyTime
        self.studyDescription = studyDescription
        self.accessionNumber = accessionNumber
        self.seriesNumber = seriesNumber
        self.seriesDescription = seriesDescription
        self.modality = modality
        self.numberOfFrames = numberOfFrames
    }
}

public enum AssociationOutcome: String, Sendable, Hashable, Codable {
    /// Accepted and still open.
    case accepted
    case rejected
    case aborted
    case released
}

/// One association attempt, accepted or not.
public struct AssociationRecord: Sendable, Hashable, Codable {
    public var id: UUID
    public var listenerId: UUID
    public var callingAETitle: String
    public var calledAETitle: String
    public var peerAddress: String
    public var startedAt: Date
    public var endedAt: Date?
    public var outcome: AssociationOutcome
    public var rejectReason: String?
    public var instancesReceived: Int
    public var instancesFailed: Int
    public var bytesReceived: Int64

    public init(
        id: UUID = UUID(), listenerId: UUID, callingAETitle: String, calledAETitle: String, peerAddress: String,
        startedAt: Date = Date(), endedAt: Date? = nil, outcome: AssociationOutcome = .accepted, rejectReason: String? = nil,
        instancesReceived: Int = 0, instancesFailed: Int = 0, bytesReceived: Int64 = 0
    ) {
        self.id = id
        self.listenerId = listenerId
        self.callingAETitle = callingAETitle
        self.calledAETitle = calledAETitle
        self.peerAddress = peerAddress
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.outcome = outcome
        self.rejectReason = rejectReason
        self.instancesReceived = instancesReceived
        self.instancesFailed = instancesFailed
        self.bytesReceived = bytesReceived
    }
}

/// A study as dashboards see it: the study attributes plus aggregates over its instances.
public struct StudySummary: Sendable, Hashable, Codable {
    public var studyInstanceUID: String
    public var patientId: String?
    public var patientName: String?
    public var patientBirthDate: String?
    public var studyDate: String?
    public var studyTime: String?
    public var studyDescription: String?
    public var accessionNumber: String?
    public var modalities: [String]
    public var seriesCount: Int
    public var instanceCount: Int
    public var totalBytes: Int64
    public var firstReceivedAt: Date
    public var lastReceivedAt: Date

    public init(
        studyInstanceUID: String, patientId: String? = nil, patientName: String? = nil, patientBirthDate: String? = nil,
        studyDate: String? = nil, studyTime: String? = nil, studyDescription: String? = nil, accessionNumber: String? = nil,
        modalities: [String] = [], seriesCount: Int = 0, instanceCount: Int = 0, totalBytes: Int64 = 0,
        firstReceivedAt: Date, lastReceivedAt: Date
    ) {
        self.studyInstanceUID = studyInstanceUID
        self.patientId = patientId
        self.patientName = patientName
        self.patientBirthDate = patientBirthDate
        self.studyDate = studyDate
        self.studyTime = studyTime
        self.studyDescription = studyDescription
        self.accessionNumber = accessionNumber
        self.modalities = modalities
        self.seriesCount = seriesCount
        self.instanceCount = instanceCount
        self.totalBytes = totalBytes
        self.firstReceivedAt = firstReceivedAt
        self.lastReceivedAt = lastReceivedAt
    }
}

public struct SeriesSummary: Sendable, Hashable, Codable {
    public var seriesInstanceUID: String
    public var studyInstanceUID: String
    public var modality: String?
    public var seriesNumber: Int?
    public var seriesDescription: String?
    public var instanceCount: Int
    public var totalBytes: Int64

    public init(seriesInstanceUID: String, studyInstanceUID: String, modality: String? = nil, seriesNumber: Int? = nil,
                seriesDescription: String? = nil, instanceCount: Int = 0, totalBytes: Int64 = 0) {
        self.seriesInstanceUID = seriesInstanceUID
        self.studyInstanceUID = studyInstanceUID
        self.modality = modality
        self.seriesNumber = seriesNumber
        self.seriesDescription = seriesDescription
        self.instanceCount = instanceCount
        self.totalBytes = totalBytes
    }
}

public struct CatalogStats: Sendable, Hashable, Codable {
    public struct ByListener: Sendable, Hashable, Codable {
        public var listenerId: UUID
        public var instances: Int
        public var bytes: Int64
        public init(listenerId: UUID, instances: Int, bytes: Int64) {
            self.listenerId = listenerId
            self.instances = instances
            self.bytes = bytes
        }
    }
    public struct ByDay: Sendable, Hashable, Codable {
        /// `YYYY-MM-DD` (UTC) of `receivedAt`.
        public var date: String
        public var instances: Int
        public var bytes: Int64
        public init(date: String, instances: Int, bytes: Int64) {
            self.date = date
            self.instances = instances
            self.bytes = bytes
        }
    }
    public var instances: Int
    public var studies: Int
    public var series: Int
    /// Sum of `sizeBytes` (Part10 size).
    public var bytes: Int64
    public var byListener: [ByListener]
    public var byDay: [ByDay]

    public init(instances: Int, studies: Int, series: Int, bytes: Int64, byListener: [ByListener], byDay: [ByDay]) {
        self.instances = instances
        self.studies = studies
        self.series = series
        self.bytes = bytes
        self.byListener = byListener
        self.byDay = byDay
    }
}

/// Filters of `GET /v1/studies`. Every field is optional; set fields are ANDed.
public struct StudyFilter: Sendable, Hashable {
    public var patientId: String?
    /// May contain `*` wildcards (DICOM-style), matched case-insensitively.
    public var patientName: String?
    public var accessionNumber: String?
    /// `YYYYMMDD` ... `YYYYMMDD`, both inclusive; `from == to` for one day.
    public var studyDateFrom: String?
    public var studyDateTo: String?
    public var modality: String?
    public var listenerId: UUID?
    public var callingAETitle: String?
    public var receivedFrom: Date?
    public var receivedTo: Date?

    public init(patientId: String? = nil, patientName: String? = nil, accessionNumber: String? = nil,
                studyDateFrom: String? = nil, studyDateTo: String? = nil, modality: String? = nil, listenerId: UUID? = nil,
                callingAETitle: String? = nil, receivedFrom: Date? = nil, receivedTo: Date? = nil) {
        self.patientId = patientId
        self.patientName = patientName
        self.accessionNumber = accessionNumber
        self.studyDateFrom = studyDateFrom
        self.studyDateTo = studyDateTo
        self.modality = modality
        self.listenerId = listenerId
        self.callingAETitle = callingAETitle
        self.receivedFrom = receivedFrom
        self.receivedTo = receivedTo
    }
}

/// Keyset pagination: `cursor` is the opaque `nextCursor` of the previous page (nil for the first).
public struct PageRequest: Sendable, Hashable {
    public var limit: Int
    public var cursor: String?

    public static let defaultLimit = 100
    public static let maximumLimit = 1000

    public init(limit: Int = PageRequest.defaultLimit, cursor: String? = nil) {
        self.limit = limit
        self.cursor = cursor
    }
}

public struct Page<Item: Sendable & Hashable & Codable>: Sendable, Hashable, Codable {
    public var items: [Item]
    /// nil on the last page.
    public var nextCursor: String?

    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }

    enum CodingKeys: String, CodingKey { case items, nextCursor }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(items, forKey: .items)
        try c.encode(nextCursor, forKey: .nextCursor)  // explicit null on the last page
    }
}
