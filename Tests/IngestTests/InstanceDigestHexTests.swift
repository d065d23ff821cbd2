import Crypto
import Domain
import Foundation
import Testing

@testable import Ingest

/// The `sha256` column holds the digest as lowercase hex, two digits per byte.
@Suite("Instance digest hex")
struct InstanceDigestHexTests {
    @Test func everyByteIsTwoLowercaseDigitsAsFormatWritesThem() {
        let all = (0...255).map(UInt8.init)
        #expect(LowercaseHex.string(all) == all.map { String(format: "%02x", $0) }.joined())
        #expect(LowercaseHex.string([UInt8]()) == "")
    }

    @Test func aSHA256DigestIsSixtyFourDigits() {
        let digest = SHA256.hash(data: Array("abc".utf8))
        #expect(LowercaseHex.string(digest) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
