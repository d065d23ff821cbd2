import Domain
import Testing

@Suite("UID syntax (PS3.5 §9.1)")
struct UIDSyntaxTests {
    @Test(arguments: ["1.2.840.10008.5.1.4.1.1.2", "0", "0.0", "1.2.0.3", "2.25.329800735698586629295641978511506172918",
                      String(repeating: "1", count: 64)])
    func validEverywhere(_ uid: String) {
        #expect(UIDSyntax.isValid(uid, .strict))
        #expect(UIDSyntax.isValid(uid, .toleratingLeadingZeros))
    }

    @Test(arguments: ["1.2.840.010", "01.2", "1.00"])
    func leadingZerosOnlyWhenTolerated(_ uid: String) {
        #expect(!UIDSyntax.isValid(uid, .strict))
        #expect(UIDSyntax.isValid(uid, .toleratingLeadingZeros))
    }

    @Test(arguments: ["", ".", "1.", ".1", "1..2", "1.2.a", "1.2 ", " 1.2", "1.2\u{0}", "1,2", "1.2.é",
                      String(repeating: "1", count: 65), String(repeating: "é", count: 40_000)])
    func neverValid(_ uid: String) {
        #expect(!UIDSyntax.isValid(uid, .strict))
        #expect(!UIDSyntax.isValid(uid, .toleratingLeadingZeros))
    }
}
