import Domain
import Events
import Foundation
import Testing

@Suite struct WebhookSignatureTests {
    /// The expected value is Python's `hmac.new(secret, b"1767225600." + body, hashlib.sha256).hexdigest()`.
    @Test func signatureIsHMACSHA256OfTimestampDotBody() {
        let signature = WebhookTransport.signature(secret: "0123456789abcdef-secret", timestamp: 1_767_225_600, body: #"{"id":"x"}"#)
        #expect(signature == "sha256=7fc7dc26bf79a27797ba662e66363b088cf51bc581ba5f6a61a69c14d8bae6bb")
    }

    @Test func anotherTimestampOrBodyChangesTheSignature() {
        let base = WebhookTransport.signature(secret: "0123456789abcdef-secret", timestamp: 1_767_225_600, body: #"{"id":"x"}"#)
        #expect(WebhookTransport.signature(secret: "0123456789abcdef-secret", timestamp: 1_767_225_601, body: #"{"id":"x"}"#) != base)
        #expect(WebhookTransport.signature(secret: "0123456789abcdef-secret", timestamp: 1_767_225_600, body: #"{"id":"y"}"#) != base)
        #expect(WebhookTransport.signature(secret: "another-secret-0123", timestamp: 1_767_225_600, body: #"{"id":"x"}"#) != base)
    }
}

@Suite struct StudyEventDataTests {
    let study = StudySummary(studyInstanceUID: "1.2.3", instanceCount: 2, totalBytes: 10,
                             firstReceivedAt: Date(timeIntervalSince1970: 0), lastReceivedAt: Date(timeIntervalSince1970: 1))

    @Test func objectsUnderOneStudyFolderAreAnnouncedAsItsPrefix() {
        let data = StudyEventData(study: study, series: [], revision: 1, listenerID: UUID(), listenerName: "a",
                                  callingAETitles: ["B", "A", "B"], peerAddresses: ["10.0.0.7:4242", "[::1]:104", "10.0.0.7:5000"],
                                  objectURIs: ["s3://bucket/dicom/1.2.3/4/5.dcm", "s3://bucket/dicom/1.2.3/4/6.dcm"])
        #expect(data.location.studyPrefix == "s3://bucket/dicom/1.2.3/")
        #expect(data.location.bucket == "bucket")
        #expect(data.location.objectURIs == nil)
        #expect(data.callingAETitles == ["A", "B"])
        #expect(data.peerAddresses == ["10.0.0.7", "::1"])
    }

    @Test func objectsWithoutAStudyFolderAreListed() {
        let uris = ["s3://bucket/flat/5.dcm", "s3://bucket/dicom/1.2.3/6.dcm"]
        let data = StudyEventData(study: study, series: [], revision: 1, listenerID: UUID(), listenerName: nil,
                                  callingAETitles: [], peerAddresses: [], objectURIs: uris)
        #expect(data.location.studyPrefix == nil)
        #expect(data.location.objectURIs == uris.sorted())
    }

    @Test func cloudEventEnvelopeHasTheRequiredAttributes() throws {
        let id = UUID()
        let text = try CloudEvent.encode(id: id, source: "urn:dicom-ingest", type: .studyStable, subject: "1.2.3",
                                         time: Date(timeIntervalSince1970: 0), data: ["k": "v"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["specversion"] as? String == "1.0")
        #expect(object["id"] as? String == id.uuidString.lowercased())
        #expect(object["type"] as? String == "dicom-ingest.study.stable")
        #expect(object["subject"] as? String == "1.2.3")
        #expect(object["time"] as? String == "1970-01-01T00:00:00.000Z")
        #expect(object["datacontenttype"] as? String == "application/json")
    }
}
