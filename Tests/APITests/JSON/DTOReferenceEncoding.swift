@testable import API
import Domain
import Foundation

// The reference encoding of the catalog bodies through JSONEncoder, member for member as openapi.yaml
// names them; JSONBufferTests checks that JSONBuffer, their only writer in the server, writes the same.

extension StudyDTO: Encodable {
    enum CodingKeys: String, CodingKey {
        case studyInstanceUID, patientID = "patientId", patientName, patientBirthDate, studyDate, studyTime, studyDescription
        case accessionNumber, modalities, seriesCount, instanceCount, totalBytes, firstReceivedAt, lastReceivedAt
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let s = study
        try c.encode(s.studyInstanceUID, forKey: .studyInstanceUID)
        try c.encode(s.patientID, forKey: .patientID)
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

extension SeriesDTO: Encodable {
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

extension InstanceDTO: Encodable {
    enum CodingKeys: String, CodingKey {
        case sopInstanceUID, sopClassUID, seriesInstanceUID, studyInstanceUID, instanceNumber, transferSyntaxUID
        case sizeBytes, storedBytes, objectURI = "objectUri", metadataURI = "metadataUri", sha256, listenerID = "listenerId", associationID = "associationId", callingAETitle
        case calledAETitle, peerAddress, receivedAt, receiveCount, storageState, storedAt
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
        try c.encode(i.objectURI, forKey: .objectURI)
        try c.encode(i.metadataURI, forKey: .metadataURI)
        try c.encode(i.sha256, forKey: .sha256)
        try c.encode(i.listenerID.uuidString.lowercased(), forKey: .listenerID)
        try c.encode(i.associationID.uuidString.lowercased(), forKey: .associationID)
        try c.encode(i.callingAETitle, forKey: .callingAETitle)
        try c.encode(i.calledAETitle, forKey: .calledAETitle)
        try c.encode(i.peerAddress, forKey: .peerAddress)
        try c.encode(i.receivedAt, forKey: .receivedAt)
        try c.encode(i.receiveCount, forKey: .receiveCount)
        try c.encode(i.storageState.rawValue, forKey: .storageState)
        try c.encode(i.storedAt, forKey: .storedAt)
    }
}

extension AssociationDTO: Encodable {
    enum CodingKeys: String, CodingKey {
        case id, listenerID = "listenerId", callingAETitle, calledAETitle, peerAddress, startedAt, endedAt, outcome, rejectReason
        case instancesReceived, instancesFailed, bytesReceived, attempts
    }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let a = association
        try c.encode(a.id.uuidString.lowercased(), forKey: .id)
        try c.encode(a.listenerID.uuidString.lowercased(), forKey: .listenerID)
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
