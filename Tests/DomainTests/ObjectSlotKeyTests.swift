import Domain
import Testing

/// The two key slots of an instance: `~1` before the extension of the last path segment, and back.
@Suite("ObjectSlotKey")
struct ObjectSlotKeyTests {
    @Test(arguments: [
        ("DICOM/1.2.3/4.5.6/7.8.9.dcm", "DICOM/1.2.3/4.5.6/7.8.9~1.dcm"),
        ("METADATA/7.8.9.json", "METADATA/7.8.9~1.json"),
        ("DICOM/7.8.9.dcm.gz", "DICOM/7.8.9.dcm~1.gz"),
        ("DICOM/1.2.3/no-extension", "DICOM/1.2.3/no-extension~1"),
        ("plain", "plain~1"),
    ])
    func siblingsSwapTheSlots(primary: String, alternate: String) {
        #expect(ObjectSlotKey.alternate(of: primary) == alternate)
        #expect(ObjectSlotKey.sibling(of: primary) == alternate)
        #expect(ObjectSlotKey.sibling(of: alternate) == primary)
    }
}
