import Domain
import Foundation
import Ingest
import Testing

@Suite("Ingest object keys")
struct IngestObjectKeysTests {
    let values = ObjectKeyLayout.Values(
        studyInstanceUID: "1.2.840.113619.2.55.3", seriesInstanceUID: "1.2.3.4", sopInstanceUID: "1.2.3.4.5",
        modality: "CT", callingAETitle: "MODALITY 1", calledAETitle: "STORESCP", listenerName: "default",
        receivedAt: Date(timeIntervalSince1970: 1_700_000_000))

    @Test("seed layout: prefixes, optional study folder")
    func seedLayout() throws {
        var target = StorageTarget()
        var keys = try ObjectKeyLayout(target: target).keys(for: values)
        #expect(keys.dicom == "DICOM/1.2.3.4.5.dcm")
        #expect(keys.metadata == "METADATA/1.2.3.4.5.json")

        target.addStudyUIDPrefix = true
        keys = try ObjectKeyLayout(target: target).keys(for: values)
        #expect(keys.dicom == "DICOM/1.2.840.113619.2.55.3/1.2.3.4.5.dcm")
        #expect(keys.metadata == "METADATA/1.2.840.113619.2.55.3/1.2.3.4.5.json")

        target.dicomPrefix = ""
        target.metadataPrefix = ""
        keys = try ObjectKeyLayout(target: target).keys(for: values)
        #expect(keys.dicom == "1.2.840.113619.2.55.3/1.2.3.4.5.dcm")
        #expect(keys.metadata == "1.2.840.113619.2.55.3/1.2.3.4.5.json")
    }

    @Test("key template placeholders, sanitised values")
    func template() throws {
        var target = StorageTarget()
        target.keyTemplate = "{ListenerName}/{CallingAETitle}/{ReceivedDate}/{Modality}/{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}"
        let layout = try ObjectKeyLayout(target: target)
        #expect(layout.requiredDataSetPlaceholders == [.studyInstanceUID, .seriesInstanceUID, .modality])
        let keys = try layout.keys(for: values)
        #expect(keys.dicom == "DICOM/default/MODALITY_1/20231114/CT/1.2.840.113619.2.55.3/1.2.3.4/1.2.3.4.5.dcm")
    }

    @Test("values from the wire never escape their segment")
    func hostileValues() throws {
        var target = StorageTarget()
        target.keyTemplate = "{Modality}/{CallingAETitle}/{SOPInstanceUID}"
        var hostile = values
        hostile.modality = "../.."
        hostile.callingAETitle = "a/b\u{0}c\n"
        let keys = try ObjectKeyLayout(target: target).keys(for: hostile)
        #expect(keys.dicom == "DICOM/.._../a_b_c_/1.2.3.4.5.dcm")
        #expect(!keys.dicom.split(separator: "/").contains(".."))
        #expect(!keys.dicom.contains("\u{0}"))

        hostile.modality = ".."
        let dotted = try ObjectKeyLayout(target: target).keys(for: hostile)
        #expect(!dotted.dicom.split(separator: "/").contains(".."))
    }

    @Test("UIDs must have UID syntax")
    func invalidUIDs() throws {
        var target = StorageTarget()
        target.addStudyUIDPrefix = true
        let layout = try ObjectKeyLayout(target: target)
        var bad = values
        bad.studyInstanceUID = "../1.2"
        #expect(throws: ObjectKeyLayout.KeyError.invalidUID(.studyInstanceUID)) { try layout.keys(for: bad) }
        bad.studyInstanceUID = nil
        #expect(throws: ObjectKeyLayout.KeyError.missingValue(.studyInstanceUID)) { try layout.keys(for: bad) }
        bad = values
        bad.sopInstanceUID = "1..2"
        #expect(throws: ObjectKeyLayout.KeyError.invalidUID(.sopInstanceUID)) { try layout.keys(for: bad) }
        #expect(UIDSyntax.isValid("1.2.840.10008.1.2.1", .toleratingLeadingZeros))
        #expect(!UIDSyntax.isValid("1.2.", .toleratingLeadingZeros))
        #expect(!UIDSyntax.isValid(String(repeating: "1", count: 65), .toleratingLeadingZeros))
    }

    @Test("malformed templates are refused")
    func malformedTemplates() {
        var target = StorageTarget()
        target.keyTemplate = "{Nope}/{SOPInstanceUID}"
        #expect(throws: ObjectKeyLayout.KeyError.unknownPlaceholder("Nope")) { try ObjectKeyLayout(target: target) }
        target.keyTemplate = "{SOPInstanceUID"
        #expect(throws: ObjectKeyLayout.KeyError.unterminatedPlaceholder) { try ObjectKeyLayout(target: target) }
    }
}
