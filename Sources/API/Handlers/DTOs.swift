import Domain
import Foundation

// Response bodies, mirroring the schemas of openapi.yaml member for member. Optional members are
// encoded as explicit nulls (the spec marks them nullable and required). UUIDs are lowercase.

struct ItemsDTO<Item: Encodable>: Encodable {
    var items: [Item]
}

struct PageDTO<Item: Encodable>: Encodable {
    var items: [Item]
    var nextCursor: String?

    enum CodingKeys: String, CodingKey { case items, nextCursor }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(items, forKey: .items)
        try c.encode(nextCursor, forKey: .nextCursor)
    }
}


struct ListenerDTO: Encodable {
    var listener: ListenerConfig

    enum CodingKeys: String, CodingKey {
        case id, name, enabled, port, bindAddress, aeTitle, requireCalledAETitle, allowedCallingAETitles
        case allowedPeers, allowedSOPClasses, tls, storage, limits, studyStableSeconds, state, error, createdAt, updatedAt
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let l = listener
        try c.encode(l.id.uuidString.lowercased(), forKey: .id)
        try c.encode(l.name, forKey: .name)
        try c.encode(l.enabled, forKey: .enabled)
        try c.encode(l.port, forKey: .port)
        try c.encode(l.bindAddress, forKey: .bindAddress)
        try c.encode(l.aeTitle, forKey: .aeTitle)
        try c.encode(l.requireCalledAETitle, forKey: .requireCalledAETitle)
        try c.encode(l.allowedCallingAETitles, forKey: .allowedCallingAETitles)
        try c.encode(l.allowedPeers, forKey: .allowedPeers)
        try c.encode(l.allowedSOPClasses, forKey: .allowedSOPClasses)
        try c.encode(l.tls, forKey: .tls)
        try c.encode(l.storage, forKey: .storage)
        try c.encode(LimitsDTO(limits: l.limits), forKey: .limits)
        try c.encode(l.studyStableSeconds, forKey: .studyStableSeconds)
        try c.encode(l.state, forKey: .state)
        try c.encode(l.error, forKey: .error)
        try c.encode(l.createdAt, forKey: .createdAt)
        try c.encode(l.updatedAt, forKey: .updatedAt)
    }
}

struct LimitsDTO: Encodable {
    var limits: ListenerLimits
    enum CodingKeys: String, CodingKey {
        case maxAssociations, maxPDUSize, dimseTimeoutSeconds, networkTimeoutSeconds, cstoreDelayMs, maxInflatedBytes, maxInflationRatio
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(limits.maxAssociations, forKey: .maxAssociations)
        try c.encode(limits.maxPDUSize, forKey: .maxPDUSize)
        try c.encode(limits.dimseTimeoutSeconds, forKey: .dimseTimeoutSeconds)
        try c.encode(limits.networkTimeoutSeconds, forKey: .networkTimeoutSeconds)
        try c.encode(limits.cstoreDelayMs, forKey: .cstoreDelayMs)
        try c.encode(limits.maxInflatedBytes, forKey: .maxInflatedBytes)
        try c.encode(limits.maxInflationRatio, forKey: .maxInflationRatio)
    }
}

struct StudyDTO: Encodable {
    var study: StudySummary
    enum CodingKeys: String, CodingKey {
        case studyInstanceUID, patientId, patientName, patientBirthDate, studyDate, studyTime, studyDescription
        case accessionNumber, modalities, seriesCount, instanceCount, totalBytes, firstReceivedAt, lastReceivedAt
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let s = study
        try c.encode(s.studyInstanceUID, forKey: .studyInstanceUID)
        try c.encode(s.patientId, forKey: .patientId)
        try c.encode(s.patientName, forKey: .patientName)
        try c.encode(s.patientBirthDate, forKey: .patientBirthDate)
        try c.encode(s.studyDate, forKey: .studyDate)
        try c.encode(s.studyTime, forKey: .studyTime)
        try c.encode(s.studyDescription, forKey: .studyDescription)
        try c.encode(s.accessionNumber, forKey: .accessionNumber)
        try c.encode(s.modalities, forKey: .modalities)
        try c.encode(s.seriesCount, forKey: .seriesCount)
        try c.encode(s.instanceCount, forKey: .instanceCount)
        try c.encode(s.totalBytes, forKey: .totalBytes)
        try c.encode(s.firstReceivedAt, forKey: .firstReceivedAt)
        try c.encode(s.lastReceivedAt, forKey: .lastReceivedAt)
    }
}

struct SeriesDTO: Encodable {
    var series: SeriesSummary
    enum CodingKeys: String, CodingKey {
        case seriesInstanceUID, studyInstanceUID, modality, seriesNumber, seriesDescription, instanceCount, totalBytes
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let s = series
        try c.encode(s.seriesInstanceUID, forKey: .seriesInstanceUID)
        try c.encode(s.studyInstanceUID, forKey: .studyInstanceUID)
        try c.encode(s.modality, forKey: .modality)
        try c.encode(s.seriesNumber, forKey: .seriesNumber)
        try c.encode(s.seriesDescription, forKey: .seriesDescription)
        try c.encode(s.instanceCount, forKey: .instanceCount)
        try c.encode(s.totalBytes, forKey: .totalBytes)
    }
}

struct InstanceDTO: Encodable {
    var instance: InstanceRecord
    enum CodingKeys: String, CodingKey {
        case sopInstanceUID, sopClassUID, seriesInstanceUID, studyInstanceUID, instanceNumber, transferSyntaxUID
        case sizeBytes, storedBytes, objectUri, metadataUri, sha256, listenerId, associationId, callingAETitle
        case calledAETitle, peerAddress, receivedAt, receiveCount
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let i = instance
        try c.encode(i.sopInstanceUID, forKey: .sopInstanceUID)
        try c.encode(i.sopClassUID, forKey: .sopClassUID)
        try c.encode(i.seriesInstanceUID, forKey: .seriesInstanceUID)
        try c.encode(i.studyInstanceUID, forKey: .studyInstanceUID)
        try c.encode(i.instanceNumber, forKey: .instanceNumber)
        try c.encode(i.transferSyntaxUID, forKey: .transferSyntaxUID)
        try c.encode(i.sizeBytes, forKey: .sizeBytes)
        try c.encode(i.storedBytes, forKey: .storedBytes)
        try c.encode(i.objectUri, forKey: .objectUri)
        try c.encode(i.metadataUri, forKey: .metadataUri)
        try c.encode(i.sha256, forKey: .sha256)
        try c.encode(i.listenerId.uuidString.lowercased(), forKey: .listenerId)
        try c.encode(i.associationId.uuidString.lowercased(), forKey: .associationId)
        try c.encode(i.callingAETitle, forKey: .callingAETitle)
        try c.encode(i.calledAETitle, forKey: .calledAETitle)
        try c.encode(i.peerAddress, forKey: .peerAddress)
        try c.encode(i.receivedAt, forKey: .receivedAt)
        try c.encode(i.receiveCount, forKey: .receiveCount)
    }
}

struct AssociationDTO: Encodable {
    var association: AssociationRecord
    enum CodingKeys: String, CodingKey {
        case id, listenerId, callingAETitle, calledAETitle, peerAddress, startedAt, endedAt, outcome, rejectReason
        case instancesReceived, instancesFailed, bytesReceived, attempts
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let a = association
        try c.encode(a.id.uuidString.lowercased(), forKey: .id)
        try c.encode(a.listenerId.uuidString.lowercased(), forKey: .listenerId)
        try c.encode(a.callingAETitle, forKey: .callingAETitle)
        try c.encode(a.calledAETitle, forKey: .calledAETitle)
        try c.encode(a.peerAddress, forKey: .peerAddress)
        try c.encode(a.startedAt, forKey: .startedAt)
        try c.encode(a.endedAt, forKey: .endedAt)
        try c.encode(a.outcome, forKey: .outcome)
        try c.encode(a.rejectReason, forKey: .rejectReason)
        try c.encode(a.instancesReceived, forKey: .instancesReceived)
        try c.encode(a.instancesFailed, forKey: .instancesFailed)
        try c.encode(a.bytesReceived, forKey: .bytesReceived)
        try c.encode(a.attempts, forKey: .attempts)
    }
}

struct StatsDTO: Encodable {
    struct ByListener: Encodable {
        var listenerId: String
        var instances: Int
        var bytes: Int64
    }
    var instances: Int
    var studies: Int
    var series: Int
    var bytes: Int64
    var byListener: [ByListener]
    var byDay: [CatalogStats.ByDay]

    init(_ stats: CatalogStats) {
        instances = stats.instances
        studies = stats.studies
        series = stats.series
        bytes = stats.bytes
        byListener = stats.byListener.map { ByListener(listenerId: $0.listenerId.uuidString.lowercased(), instances: $0.instances, bytes: $0.bytes) }
        byDay = stats.byDay
    }
}

// MARK: - The same bodies through JSONBuffer (the list responses; see JSONBuffer)

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
    func write(to json: inout JSONBuffer) {
        let s = study
        json.beginObject()
        json.key("studyInstanceUID"); json.string(s.studyInstanceUID)
        json.key("patientId"); json.string(s.patientId)
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
        json.key("objectUri"); json.string(i.objectUri)
        json.key("metadataUri"); json.string(i.metadataUri)
        json.key("sha256"); json.string(i.sha256)
        json.key("listenerId"); json.uuid(i.listenerId)
        json.key("associationId"); json.uuid(i.associationId)
        json.key("callingAETitle"); json.string(i.callingAETitle)
        json.key("calledAETitle"); json.string(i.calledAETitle)
        json.key("peerAddress"); json.string(i.peerAddress)
        json.key("receivedAt"); json.date(i.receivedAt)
        json.key("receiveCount"); json.int(i.receiveCount)
        json.endObject()
    }
}

extension AssociationDTO: JSONBufferWritable {
    func write(to json: inout JSONBuffer) {
        let a = association
        json.beginObject()
        json.key("id"); json.uuid(a.id)
        json.key("listenerId"); json.uuid(a.listenerId)
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
