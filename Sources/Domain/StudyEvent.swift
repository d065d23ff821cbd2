public import Foundation

/// The `data` of a `study.stable` / `study.updated` event: the study as the catalog holds it when it
/// settled, where its objects are, and who sent them.
public struct StudyEventData: Sendable, Hashable, Codable {
    enum CodingKeys: String, CodingKey { case studyInstanceUID, revision, patientID = "patientId", patientName, patientBirthDate, studyDate, studyTime, studyDescription, accessionNumber, modalities, listener, callingAETitles, peerAddresses, series, seriesCount, instanceCount, totalBytes, location, firstReceivedAt, lastReceivedAt }

    public struct Listener: Sendable, Hashable, Codable {
        public var id: String
        public var name: String?
    }

    public struct Series: Sendable, Hashable, Codable {
        public var seriesInstanceUID: String
        public var modality: String?
        public var seriesNumber: Int?
        public var instanceCount: Int
        public var totalBytes: Int64
    }

    /// Either the prefix under which every object of the study lies (`s3://bucket/dicom/<study>/`, or a
    /// `file://` directory), or, for key templates without a per-study prefix, every object URI.
    public struct Location: Sendable, Hashable, Codable {
        enum CodingKeys: String, CodingKey { case bucket, studyPrefix, objectURIs = "objectUris" }

        public var bucket: String?
        public var studyPrefix: String?
        public var objectURIs: [String]?
    }

    public var studyInstanceUID: String
    public var revision: Int
    public var patientID: String?
    public var patientName: String?
    public var patientBirthDate: String?
    public var studyDate: String?
    public var studyTime: String?
    public var studyDescription: String?
    public var accessionNumber: String?
    public var modalities: [String]
    public var listener: Listener
    public var callingAETitles: [String]
    public var peerAddresses: [String]
    public var series: [Series]
    public var seriesCount: Int
    public var instanceCount: Int
    public var totalBytes: Int64
    public var location: Location
    public var firstReceivedAt: String
    public var lastReceivedAt: String

    /// The data of `study` as stored, with its `series`, the senders seen and the object URIs of its
    /// instances (from which the location is derived).
    public init(study: StudySummary, series: [SeriesSummary], revision: Int, listenerID: UUID, listenerName: String?,
                callingAETitles: [String], peerAddresses: [String], objectURIs: [String]) {
        self.studyInstanceUID = study.studyInstanceUID
        self.revision = revision
        self.patientID = study.patientID
        self.patientName = study.patientName
        self.patientBirthDate = study.patientBirthDate
        self.studyDate = study.studyDate
        self.studyTime = study.studyTime
        self.studyDescription = study.studyDescription
        self.accessionNumber = study.accessionNumber
        self.modalities = study.modalities
        self.listener = Listener(id: listenerID.uuidString.lowercased(), name: listenerName)
        self.callingAETitles = Array(Set(callingAETitles)).sorted()
        self.peerAddresses = Array(Set(peerAddresses.map(Self.host(of:)))).sorted()
        self.series = series.map {
            Series(seriesInstanceUID: $0.seriesInstanceUID, modality: $0.modality, seriesNumber: $0.seriesNumber,
                   instanceCount: $0.instanceCount, totalBytes: $0.totalBytes)
        }
        self.seriesCount = study.seriesCount
        self.instanceCount = study.instanceCount
        self.totalBytes = study.totalBytes
        self.location = Self.location(of: objectURIs.sorted(), studyInstanceUID: study.studyInstanceUID)
        self.firstReceivedAt = CloudEvent.timestamp(study.firstReceivedAt)
        self.lastReceivedAt = CloudEvent.timestamp(study.lastReceivedAt)
    }

    /// The address of a peer without its (ephemeral) port: `10.0.0.7:4242` → `10.0.0.7`, `[::1]:4242` → `::1`.
    static func host(of peer: String) -> String {
        if peer.hasPrefix("["), let close = peer.firstIndex(of: "]") {
            return String(peer[peer.index(after: peer.startIndex)..<close])
        }
        if peer.filter({ $0 == ":" }).count == 1, let colon = peer.firstIndex(of: ":") {
            return String(peer[..<colon])
        }
        return peer
    }

    /// The study prefix when every URI lies under one `…/<Study Instance UID>/`; otherwise the URIs.
    static func location(of uris: [String], studyInstanceUID: String) -> Location {
        let marker = "/" + studyInstanceUID + "/"
        var prefix: String?
        for uri in uris {
            guard let range = uri.range(of: marker) else { prefix = nil; break }
            let candidate = String(uri[..<range.upperBound])
            if prefix == nil { prefix = candidate } else if prefix != candidate { prefix = nil; break }
        }
        guard let prefix, !uris.isEmpty else { return Location(bucket: nil, studyPrefix: nil, objectURIs: uris) }
        var bucket: String?
        if prefix.hasPrefix("s3://") {
            bucket = prefix.dropFirst(5).split(separator: "/", maxSplits: 1).first.map(String.init)
        }
        return Location(bucket: bucket, studyPrefix: prefix, objectURIs: nil)
    }
}

/// CloudEvents 1.0 in structured content mode (JSON event format, CloudEvents spec §3 / JSON format §3).
public enum CloudEvent {
    /// The event as one JSON object: `specversion`, `id` (the idempotency key, the same on every
    /// attempt), `source`, `type`, `subject`, `time`, `datacontenttype`, `data`.
    public static func encode<Payload: Encodable>(id: UUID, source: String, type: EventType, subject: String, time: Date,
                                               data: Payload) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let envelope = CloudEventEnvelope(id: id.uuidString.lowercased(), source: source, type: type.rawValue, subject: subject,
                                time: timestamp(time), data: data)
        return String(decoding: try encoder.encode(envelope), as: UTF8.self)
    }

    /// RFC 3339 in UTC with milliseconds.
    public static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }
}

/// The CloudEvents attributes around `data`, in the JSON event format.
struct CloudEventEnvelope<Payload: Encodable>: Encodable {
    var specversion = "1.0"
    var id: String
    var source: String
    var type: String
    var subject: String
    var time: String
    var datacontenttype = "application/json"
    var data: Payload
}
