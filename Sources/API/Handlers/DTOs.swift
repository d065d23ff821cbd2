import Domain
import Foundation

// Response bodies, mirroring the schemas of openapi.yaml member for member. Optional members are
// encoded as explicit nulls (the spec marks them nullable and required). UUIDs are lowercase.

struct ItemsDTO<Item> {
    var items: [Item]
}

extension ItemsDTO: Encodable where Item: Encodable {}

struct PageDTO<Item> {
    var items: [Item]
    var nextCursor: String?
}

extension PageDTO: Encodable where Item: Encodable {
    enum CodingKeys: String, CodingKey { case items, nextCursor }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(items, forKey: .items)
        try c.encode(nextCursor, forKey: .nextCursor)
    }
}

struct StudyDTO {
    var study: StudySummary
    /// `GET /v1/studies/{uid}` only: the HealthImaging import jobs of the study (absent elsewhere).
    var imports: [HealthImagingImport]? = nil
}

struct SeriesDTO {
    var series: SeriesSummary
}

struct InstanceDTO {
    var instance: InstanceRecord
}

struct AssociationDTO {
    var association: AssociationRecord
}

struct StatsDTO: Encodable {
    struct ByListener: Encodable {
        enum CodingKeys: String, CodingKey { case listenerID = "listenerId", instances, bytes }

        var listenerID: String
        var instances: Int
        var bytes: Int64
    }
    var instances: Int
    var studies: Int
    var series: Int
    var bytes: Int64
    var byListener: [ByListener]
    var byDay: [CatalogStats.ByDay]
    var spool: Spool

    /// Spooled acknowledgement: what is durable in a spool and not yet in its target.
    struct Spool: Encodable {
        var instances: Int
        var bytes: Int64
        /// Seconds since the oldest spooled instance was received; 0 when none is spooled.
        var oldestAgeSeconds: Double
        var lost: Int
    }

    init(_ stats: CatalogStats, now: Date = Date()) {
        instances = stats.instances
        studies = stats.studies
        series = stats.series
        bytes = stats.bytes
        byListener = stats.byListener.map { ByListener(listenerID: $0.listenerID.uuidString.lowercased(), instances: $0.instances, bytes: $0.bytes) }
        byDay = stats.byDay
        spool = Spool(instances: stats.spool.instances, bytes: stats.spool.bytes,
                      oldestAgeSeconds: stats.spool.oldestReceivedAt.map { max(0, now.timeIntervalSince($0)) } ?? 0,
                      lost: stats.spool.lost)
    }
}

// MARK: - Catalog bodies, written by JSONBuffer only (the list responses; see JSONBuffer)

extension PageDTO: JSONBufferWritable where Item: JSONBufferWritable {
    func write(to json: inout JSONBuffer) {
        json.beginObject()
        json.key("items")
        json.beginArray()
        for item in items { item.write(to: &json) }
        json.endArray()
        json.key("nextCursor")
        json.string(nextCursor)
        json.endObject()
    }
}

extension ItemsDTO: JSONBufferWritable where Item: JSONBufferWritable {
    func write(to json: inout JSONBuffer) {
        json.beginObject()
        json.key("items")
        json.beginArray()
        for item in items { item.write(to: &json) }
        json.endArray()
        json.endObject()
    }
}

extension StudyDTO: JSONBufferWritable {
    /// The members of the study in one reservation: a page holds up to 1,000 of them.
    static let membersBound = 2 + 14 * 4
        + "studyInstanceUIDpatientIdpatientNamepatientBirthDatestudyDatestudyTimestudyDescription".utf8.count
        + "accessionNumbermodalitiesseriesCountinstanceCounttotalBytesfirstReceivedAtlastReceivedAt".utf8.count
        + 3 * JSONOutput.intBound + 2 * JSONOutput.dateBound

    func write(to json: inout JSONBuffer) {
        Self.write(study, imports: imports, to: &json)
    }

    static func write(_ s: StudySummary, imports: [HealthImagingImport]?, to json: inout JSONBuffer) {
        let maximum = Self.membersBound + JSONOutput.stringBound(s.studyInstanceUID)
            + JSONOutput.stringBound(s.patientID) + JSONOutput.stringBound(s.patientName)
            + JSONOutput.stringBound(s.patientBirthDate) + JSONOutput.stringBound(s.studyDate)
            + JSONOutput.stringBound(s.studyTime) + JSONOutput.stringBound(s.studyDescription)
            + JSONOutput.stringBound(s.accessionNumber) + JSONOutput.stringsBound(s.modalities)
        json.write(maximum: maximum) { json in
            json.beginObject()
            json.key("studyInstanceUID"); json.string(s.studyInstanceUID)
            json.key("patientId"); json.string(s.patientID)
            json.key("patientName"); json.string(s.patientName)
            json.key("patientBirthDate"); json.string(s.patientBirthDate)
            json.key("studyDate"); json.string(s.studyDate)
            json.key("studyTime"); json.string(s.studyTime)
            json.key("studyDescription"); json.string(s.studyDescription)
            json.key("accessionNumber"); json.string(s.accessionNumber)
            json.key("modalities"); json.strings(s.modalities)
            json.key("seriesCount"); json.int(s.seriesCount)
            json.key("instanceCount"); json.int(s.instanceCount)
            json.key("totalBytes"); json.int(s.totalBytes)
            json.key("firstReceivedAt"); json.date(s.firstReceivedAt)
            json.key("lastReceivedAt"); json.date(s.lastReceivedAt)
        }
        if let imports {
            json.key("imports")
            json.beginArray()
            for job in imports { ImportDTO(job: job).write(to: &json) }
            json.endArray()
        }
        json.endObject()
    }
}

/// `StudyPage` of openapi.yaml written from the catalog's page as it is: the same bytes as a `PageDTO`
/// of `StudyDTO`s, without copying every study into one first.
struct StudyPageDTO: JSONBufferWritable {
    var page: Page<StudySummary>

    /// Room for a page of `count` typical studies (about 360 bytes each; a longer page grows the buffer).
    static func capacity(_ count: Int) -> Int { 1024 + 512 * count }

    func write(to json: inout JSONBuffer) {
        json.beginObject()
        json.key("items")
        json.beginArray()
        // By index: the array's element is lent to the writer, not copied out (a retain and release of
        // each of a study's ten strings and arrays).
        for index in page.items.indices { StudyDTO.write(page.items[index], imports: nil, to: &json) }
        json.endArray()
        json.key("nextCursor")
        json.string(page.nextCursor)
        json.endObject()
    }
}

/// `StudyImport` of openapi.yaml: one HealthImaging import job of a study.
struct ImportDTO: JSONBufferWritable {
    var job: HealthImagingImport

    func write(to json: inout JSONBuffer) {
        json.beginObject()
        json.key("sinkId"); json.uuid(job.sinkID)
        json.key("eventId"); json.uuid(job.eventID)
        json.key("part"); json.int(job.part)
        json.key("jobId"); json.string(job.jobID)
        json.key("clientToken"); json.string(job.clientToken)
        json.key("datastoreId"); json.string(job.datastoreID)
        json.key("inputS3Uri"); json.string(job.inputS3URI)
        json.key("status"); json.string(job.status.rawValue)
        json.key("submittedAt"); json.date(job.submittedAt)
        json.key("endedAt"); json.date(job.endedAt)
        json.key("failureCount"); json.int(job.failureCount)
        json.key("message"); json.string(job.message)
        json.endObject()
    }
}

extension SeriesDTO: JSONBufferWritable {
    func write(to json: inout JSONBuffer) {
        let s = series
        json.beginObject()
        json.key("seriesInstanceUID"); json.string(s.seriesInstanceUID)
        json.key("studyInstanceUID"); json.string(s.studyInstanceUID)
        json.key("modality"); json.string(s.modality)
        json.key("seriesNumber"); json.int(s.seriesNumber)
        json.key("seriesDescription"); json.string(s.seriesDescription)
        json.key("instanceCount"); json.int(s.instanceCount)
        json.key("totalBytes"); json.int(s.totalBytes)
        json.endObject()
    }
}

extension InstanceDTO: JSONBufferWritable {
    func write(to json: inout JSONBuffer) {
        let i = instance
        json.beginObject()
        json.key("sopInstanceUID"); json.string(i.sopInstanceUID)
        json.key("sopClassUID"); json.string(i.sopClassUID)
        json.key("seriesInstanceUID"); json.string(i.seriesInstanceUID)
        json.key("studyInstanceUID"); json.string(i.studyInstanceUID)
        json.key("instanceNumber"); json.int(i.instanceNumber)
        json.key("transferSyntaxUID"); json.string(i.transferSyntaxUID)
        json.key("sizeBytes"); json.int(i.sizeBytes)
        json.key("storedBytes"); json.int(i.storedBytes)
        json.key("objectUri"); json.string(i.objectURI)
        json.key("metadataUri"); json.string(i.metadataURI)
        json.key("sha256"); json.string(i.sha256)
        json.key("listenerId"); json.uuid(i.listenerID)
        json.key("associationId"); json.uuid(i.associationID)
        json.key("callingAETitle"); json.string(i.callingAETitle)
        json.key("calledAETitle"); json.string(i.calledAETitle)
        json.key("peerAddress"); json.string(i.peerAddress)
        json.key("receivedAt"); json.date(i.receivedAt)
        json.key("receiveCount"); json.int(i.receiveCount)
        json.key("storageState"); json.string(i.storageState.rawValue)
        json.key("storedAt"); json.date(i.storedAt)
        json.endObject()
    }
}

extension AssociationDTO: JSONBufferWritable {
    func write(to json: inout JSONBuffer) {
        let a = association
        json.beginObject()
        json.key("id"); json.uuid(a.id)
        json.key("listenerId"); json.uuid(a.listenerID)
        json.key("callingAETitle"); json.string(a.callingAETitle)
        json.key("calledAETitle"); json.string(a.calledAETitle)
        json.key("peerAddress"); json.string(a.peerAddress)
        json.key("startedAt"); json.date(a.startedAt)
        json.key("endedAt"); json.date(a.endedAt)
        json.key("outcome"); json.string(a.outcome.rawValue)
        json.key("rejectReason"); json.string(a.rejectReason)
        json.key("instancesReceived"); json.int(a.instancesReceived)
        json.key("instancesFailed"); json.int(a.instancesFailed)
        json.key("bytesReceived"); json.int(a.bytesReceived)
        json.key("attempts"); json.int(a.attempts)
        json.endObject()
    }
}
