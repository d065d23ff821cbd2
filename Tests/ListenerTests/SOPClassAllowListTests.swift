import DICOM
import Domain
import Foundation
@testable import Listener
import Testing
import TestSupport

/// `allowedSOPClasses`: a per-listener allow-list of Storage SOP classes. Empty accepts every
/// Storage SOP class of the registry; Verification is always accepted; anything else gets result 3
/// (abstract-syntax-not-supported, PS3.8 §9.3.3.2), exactly like an unknown SOP class.
@Suite("SOP class allow-list", .serialized)
struct SOPClassAllowListTests {
    static let verification = "1.2.840.10008.1.1"
    static let ct = "1.2.840.10008.5.1.4.1.1.2"
    static let mr = "1.2.840.10008.5.1.4.1.1.4"
    static let privateClass = "1.2.3.4.5"
    static let explicit = "1.2.840.10008.1.2.1"

    func results(allowing allowed: [String]) -> [UInt8: PresentationContextResult.Result] {
        let proposals = [Self.verification, Self.ct, Self.mr, Self.privateClass].enumerated().map { index, uid in
            PresentationContextProposal(id: UInt8(2 * index + 1), abstractSyntax: uid, transferSyntaxes: [Self.explicit])
        }
        let request = AssociateRequest(calledAETitle: "STORESCP", callingAETitle: "SCU", presentationContexts: proposals,
                                       userInformation: UserInformation(maximumLength: 16384, implementationClassUID: "1.2.3"))
        let policy = NegotiationPolicy(
            acceptableAbstractSyntaxes: NegotiationPolicy.storageSCPAbstractSyntaxes(allowedStorageSOPClasses: allowed),
            acceptableTransferSyntaxes: Set(TransferSyntax.all.map(\.uid)))
        let result = negotiate(request, policy: policy)
        #expect(Set(result.acceptedContexts.values.map(\.abstractSyntax))
                == Set(result.accept.presentationContexts.filter { $0.result == .acceptance }.map { proposals[Int($0.id / 2)].abstractSyntax }))
        return Dictionary(uniqueKeysWithValues: result.accept.presentationContexts.map { ($0.id, $0.result) })
    }

    @Test func emptyListAcceptsEveryRegistryStorageClass() {
        #expect(results(allowing: []) == [1: .acceptance, 3: .acceptance, 5: .acceptance, 7: .abstractSyntaxNotSupported])
        #expect(NegotiationPolicy.storageSCPAbstractSyntaxes(allowedStorageSOPClasses: [])
                == UIDRegistry.storageSOPClasses.union([Self.verification]))
    }

    @Test func nonEmptyListNarrowsStorageClassesAndKeepsVerification() {
        #expect(results(allowing: [Self.ct]) == [1: .acceptance, 3: .acceptance, 5: .abstractSyntaxNotSupported, 7: .abstractSyntaxNotSupported])
        #expect(results(allowing: [Self.mr]) == [1: .acceptance, 3: .abstractSyntaxNotSupported, 5: .acceptance, 7: .abstractSyntaxNotSupported])
    }

    /// The list narrows, never widens: a UID that is no Storage SOP class of the registry stays unsupported.
    @Test func listCannotAddClassesOutsideTheRegistry() {
        #expect(results(allowing: [Self.privateClass, Self.ct]) == [1: .acceptance, 3: .acceptance, 5: .abstractSyntaxNotSupported, 7: .abstractSyntaxNotSupported])
        #expect(NegotiationPolicy.storageSCPAbstractSyntaxes(allowedStorageSOPClasses: [Self.privateClass]) == [Self.verification])
    }

    @Test func validationNamesEachBadEntry() {
        var config = ListenerConfig(name: "a", port: 104)
        config.allowedSOPClasses = [Self.ct, "1.2.03", "1..2", "1.2.", "", "1." + String(repeating: "2", count: 63), "0.0",
                                    "1." + String(repeating: "2", count: 62), "1.2.x"]
        let issues = ListenerValidation.validate(config)
        #expect(issues.map(\.field) == ["allowedSOPClasses[1]", "allowedSOPClasses[2]", "allowedSOPClasses[3]",
                                         "allowedSOPClasses[4]", "allowedSOPClasses[5]", "allowedSOPClasses[8]"])
        config.allowedSOPClasses = Array(repeating: Self.ct, count: ListenerValidation.maxListItems + 1)
        #expect(ListenerValidation.validate(config).map(\.field) == ["allowedSOPClasses"])
    }

    @Test func decodingWithoutTheFieldDefaultsToEmpty() throws {
        let config = try JSONDecoder().decode(ListenerConfig.self, from: Data(#"{"name":"a","port":104}"#.utf8))
        #expect(config.allowedSOPClasses == [])
        var listed = config
        listed.allowedSOPClasses = [Self.mr]
        let decoded = try JSONDecoder().decode(ListenerConfig.self, from: JSONEncoder().encode(listed))
        #expect(decoded.allowedSOPClasses == [Self.mr])
    }

    /// pynetdicom proposes CT (its instance), MR and Verification to a listener that allows only CT.
    @Test func pynetdicomGetsResult3ForAStorageClassOutsideTheList() async throws {
        let directory = try TemporaryDirectory()
        let (instances, manifest) = try await makeInstances(in: directory.path("in"), count: 1)
        #expect(instances[0].sopClassUID == Self.ct)
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.allowedSOPClasses = [Self.ct] }, sink: sink) { port, _ in
            let result = try await python("scu.py", ["store", "--port", "\(port)", "--files", manifest,
                                                     "--extra-sop-class", Self.mr, "--extra-sop-class", Self.verification])
            let out = try #require(result.jsonObject, "scu.py store failed (needs python3 with pynetdicom): \(result.stderr)")
            #expect(out["established"] as? Bool == true)
            #expect(out["contextResults"] as? [String: Int] == [Self.ct: 0, Self.mr: 3, Self.verification: 0], "\(out)")
            #expect(out["statuses"] as? [Int] == [0], "\(out)")
            #expect(out["released"] as? Bool == true)
            #expect(await eventually { sink.ended.count == 1 })
        }
        #expect(sink.stored.map(\.request.affectedSOPInstanceUID) == [instances[0].sopInstanceUID])
        #expect(sink.stored.map(\.request.affectedSOPClassUID) == [Self.ct])
    }

    /// The list follows rule updates: new associations see the new list, without rebinding.
    @Test func ruleUpdateChangesTheList() async throws {
        let directory = try TemporaryDirectory()
        let (_, manifest) = try await makeInstances(in: directory.path("in"), count: 1)
        let sink = RecordingSink()
        try await withListener(listenerConfig { $0.allowedSOPClasses = [Self.mr] }, sink: sink) { port, listener in
            // CT is not allowed: only the MR context is accepted, so no C-STORE is attempted.
            let before = try await python("scu.py", ["store", "--port", "\(port)",
                                                     "--extra-sop-class", Self.ct, "--extra-sop-class", Self.mr])
            #expect(before.jsonObject?["contextResults"] as? [String: Int] == [Self.ct: 3, Self.mr: 0], "\(before.stdout)\(before.stderr)")
            var config = listener.config
            config.allowedSOPClasses = []
            try listener.update(config: config, sink: sink)
            let after = try await python("scu.py", ["store", "--port", "\(port)", "--files", manifest])
            #expect(after.jsonObject?["contextResults"] as? [String: Int] == [Self.ct: 0], "\(after.stdout)\(after.stderr)")
            #expect(after.jsonObject?["statuses"] as? [Int] == [0], "\(after.stdout)\(after.stderr)")
        }
        #expect(sink.stored.count == 1)
    }
}
