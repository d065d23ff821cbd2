import DICOM
import Domain
@testable import Listener
import Testing

/// `AssociateRequestRules` without a socket: each rule's A-ASSOCIATE-RJ (PS3.8 Table 9-21), the order
/// they are checked in, and that a `maxAssociations` slot is asked for only when every other rule passes.
@Suite("A-ASSOCIATE-RQ rules")
struct AssociateRequestRulesTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var calling = "MODALITY"
        var called = "STORESCP"
        var applicationContext = dicomApplicationContextName
        var requireCalled = false
        var allowedCalling: [String] = []
        var draining = false
        var slotFree = true
        var expected: AssociateRequestRules.Decision
        /// Whether a `maxAssociations` slot is asked for.
        var asksForSlot: Bool
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "everything allowed", expected: .accept, asksForSlot: true),
        Case(name: "padded AE titles are compared trimmed", calling: "MODALITY  ", called: "STORESCP    ", requireCalled: true,
             allowedCalling: ["MODALITY"], expected: .accept, asksForSlot: true),
        Case(name: "another application context", applicationContext: "1.2.3", expected: .reject(.applicationContextNameNotSupported),
             asksForSlot: false),
        Case(name: "called AE title with a control character", called: "STORE\u{1}SCP", expected: .reject(.calledAETitleNotRecognized),
             asksForSlot: false),
        Case(name: "called AE title all spaces", called: "                ", expected: .reject(.calledAETitleNotRecognized),
             asksForSlot: false),
        Case(name: "calling AE title with a backslash", calling: "MOD\\ALITY", expected: .reject(.callingAETitleNotRecognized),
             asksForSlot: false),
        Case(name: "called AE title required and different", called: "OTHER", requireCalled: true,
             expected: .reject(.calledAETitleNotRecognized), asksForSlot: false),
        Case(name: "called AE title different but not required", called: "OTHER", expected: .accept, asksForSlot: true),
        Case(name: "calling AE title not in the allowed list", calling: "STRANGER", allowedCalling: ["MODALITY", "CT1"],
             expected: .reject(.callingAETitleNotRecognized), asksForSlot: false),
        Case(name: "called checked before calling", calling: "STRANGER", called: "OTHER", requireCalled: true,
             allowedCalling: ["MODALITY"], expected: .reject(.calledAETitleNotRecognized), asksForSlot: false),
        Case(name: "listener draining: transient refusal, no slot taken", draining: true, expected: .reject(.localLimitExceeded),
             asksForSlot: false),
        Case(name: "no slot free: transient refusal", slotFree: false, expected: .reject(.localLimitExceeded), asksForSlot: true),
    ]

    @Test("decision", arguments: cases)
    func decision(_ c: Case) {
        var config = ListenerConfig(name: "rules", port: 11112)
        config.aeTitle = "STORESCP"
        config.requireCalledAETitle = c.requireCalled
        config.allowedCallingAETitles = c.allowedCalling
        let request = AssociateRequest(calledAETitle: c.called, callingAETitle: c.calling,
                                       applicationContextName: c.applicationContext, presentationContexts: [])
        var asked = false
        let decision = AssociateRequestRules(config: config).decide(request, draining: c.draining) {
            asked = true
            return c.slotFree
        }
        #expect(decision == c.expected)
        #expect(asked == c.asksForSlot)
    }
}
