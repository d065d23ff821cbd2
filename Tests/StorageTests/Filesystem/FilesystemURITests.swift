@testable import AWS
import Testing

@testable import Storage

/// `file://` URIs of objects: the root and the key percent-encoded byte by byte, `/` kept.
@Suite("Filesystem object URIs")
struct FilesystemURITests {
    static let keys = [
        "1.2.3/4.5.6/7.8.9.dcm", "1.2.3/4.5.6/7.8.9~1.json", "a b/c%d.dcm", "ünï/cödé.dcm", "x/y_z-0.A~",
        "CT/20260101/STORESCU/1.2.dcm", "q?r#s&t+u=v.dcm",
    ]

    @Test(arguments: ["/data/objects", "/tmp/with space/ä", "/"], keys)
    func uriEncodesRootAndKeyAsOneString(_ root: String, _ key: String) {
        let store = FilesystemObjectStore(root: root)
        let expected = "file://" + SigV4Signer.uriEncode(store.root + "/" + key, keepSlash: true)
        #expect(store.uri(for: key) == expected)
    }
}
