import Domain
import Foundation
import Storage
import Testing

/// What the catalog does with values it cannot hold and with repeats from another listener, on
/// PostgreSQL and SQLite alike (`CatalogValueRules`, `IngestRecorder.recordInstance`).
@Suite("Catalog instance rules")
struct CatalogInstanceRulesTests {

    /// PostgreSQL refuses NUL in `text` and B-tree entries over ~2.7 kB; both would fail on every retry.
    /// The row keeps a normalised value instead.
    @Test(arguments: CatalogKind.allCases)
    func controlCharactersAndOverlongValuesAreNormalised(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let listener = UUID()
            let association = AssociationRecord(listenerID: listener, callingAETitle: "CT", calledAETitle: "SCP", peerAddress: "x")
            try await catalog.startAssociation(association)
            let randomText = String((0..<20_000).map { _ in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".randomElement()! })
            var record = makeInstance(sop: "9.1", listener: listener, association: association.id, calling: "CT\u{0}\u{1B}[2J",
                                      patientID: "PID\u{0}1", patientName: randomText, accession: " ACC\u{7F}1 ")
            record.studyDescription = randomText
            record.seriesDescription = "\u{0}\u{1}"
            let stored = try await catalog.recordInstance(record)
            #expect(stored.patientID == "PID1")
            #expect(stored.callingAETitle == "CT[2J")
            #expect(stored.accessionNumber == "ACC1")
            #expect(stored.patientName == String(randomText.prefix(CatalogValueRules.personNameCharacters)))
            #expect(stored.studyDescription == String(randomText.prefix(CatalogValueRules.longStringCharacters)))
            #expect(stored.seriesDescription == nil)
            #expect(try await catalog.instance(sopInstanceUID: "9.1") == stored)
            let study = try #require(try await catalog.study(uid: record.studyInstanceUID))
            #expect(study.patientID == "PID1")
        }
    }

    /// An identifier is never altered; one no database can key on is a permanent error, not "unavailable".
    @Test(arguments: CatalogKind.allCases)
    func identifiersThatCannotBeStoredArePermanentErrors(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            await expectCatalogError(.invalidValue, field: "studyInstanceUID") {
                try await catalog.recordInstance(makeInstance(sop: "9.2", study: String(repeating: "1", count: 65)))
            }
            await expectCatalogError(.invalidValue, field: "seriesInstanceUID") {
                try await catalog.recordInstance(makeInstance(sop: "9.3", series: "1.2\u{0}3"))
            }
            await expectCatalogError(.invalidValue, field: "sopInstanceUID") {
                try await catalog.recordInstance(makeInstance(sop: String(repeating: "9", count: 3000)))
            }
            let stats = try await catalog.stats()
            #expect(stats.instances == 0)
        }
    }

    /// The duplicate policy is per listener: a repeat on the same listener replaces the row, a repeat on
    /// another listener is refused and leaves the row as it was.
    @Test(arguments: CatalogKind.allCases)
    func aRepeatFromAnotherListenerIsRefused(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let owner = UUID()
            let first = try await catalog.recordInstance(makeInstance(sop: "8.1", listener: owner))
            var again = makeInstance(sop: "8.1", at: at(5), listener: owner)
            again.objectURI = "file:///data/DICOM/8.1~1.dcm"
            let replaced = try await catalog.recordInstance(again)
            #expect(replaced.receiveCount == 2)
            #expect(replaced.objectURI == again.objectURI)

            var intruder = makeInstance(sop: "8.1", at: at(9), listener: UUID(), patientID: "OTHER")
            intruder.objectURI = "s3://elsewhere/8.1.dcm"
            await expectCatalogError(.conflict, field: "listenerId") {
                try await catalog.recordInstance(intruder)
            }
            #expect(try await catalog.instance(sopInstanceUID: "8.1") == replaced)
            #expect(first.listenerID == owner)
        }
    }

    /// Coalesced refusals: one row, its `attempts` grown by the refusals it stands for.
    @Test(arguments: CatalogKind.allCases)
    func rejectedAttemptsAreAddedToTheRow(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let listener = UUID()
            let row = AssociationRecord(listenerID: listener, callingAETitle: "", calledAETitle: "", peerAddress: "10.0.0.9:4000",
                                        startedAt: at(0), endedAt: at(0), outcome: .rejected, rejectReason: "peer-not-allowed")
            try await catalog.startAssociation(row)
            try await catalog.addRejectedAttempts(associationID: row.id, count: 40)
            let page = try await catalog.associations(listenerID: listener, page: PageRequest())
            #expect(page.items.map(\.attempts) == [41])
            await expectCatalogError(.notFound) { try await catalog.addRejectedAttempts(associationID: UUID(), count: 1) }
        }
    }
}
