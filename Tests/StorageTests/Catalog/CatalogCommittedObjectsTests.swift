import Domain
import Foundation
import Storage
import Testing

/// `committedObjects(sopInstanceUID:)`, the sink's narrow read, says what `instance(sopInstanceUID:)` says
/// of the listener and the objects, on PostgreSQL (TEST_POSTGRES_URL) and SQLite alike.
@Suite("Catalog committed objects")
struct CatalogCommittedObjectsTests {
    @Test(arguments: CatalogKind.allCases)
    func committedObjectsEqualTheWholeRowsFields(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let listener = UUID()
            let association = AssociationRecord(listenerID: listener, callingAETitle: "CT1", calledAETitle: "STORESCP",
                                                peerAddress: "127.0.0.1:1", startedAt: at(0))
            try await catalog.startAssociation(association)
            #expect(try await catalog.committedObjects(sopInstanceUID: "9.9") == nil)

            var withMetadata = makeInstance(sop: "9.1", at: at(10), listener: listener, association: association.id)
            withMetadata.objectURI = "file:///data/a%20b/9.1~1.dcm"
            try await catalog.recordInstance(withMetadata)
            var withoutMetadata = makeInstance(sop: "9.2", at: at(11), listener: listener, association: association.id)
            withoutMetadata.metadataURI = nil
            try await catalog.recordInstance(withoutMetadata)

            for uid in ["9.1", "9.2"] {
                let row = try #require(try await catalog.instance(sopInstanceUID: uid))
                let objects = try #require(try await catalog.committedObjects(sopInstanceUID: uid))
                #expect(objects == CommittedInstanceObjects(row))
            }
            #expect(try await catalog.committedObjects(sopInstanceUID: "9.1")
                == CommittedInstanceObjects(listenerID: listener, objectURI: "file:///data/a%20b/9.1~1.dcm",
                                            metadataURI: "file:///data/METADATA/9.1.json"))
            #expect(try await catalog.committedObjects(sopInstanceUID: "9.2")?.metadataURI == nil)
        }
    }
}

/// What `recordInstance` returns for a first receive is the row as stored: read back whole, it is equal,
/// whatever the times' sub-microsecond digits, the text and the absent values.
@Suite("Catalog first insert returns the stored row")
struct CatalogFirstInsertTests {
    @Test(arguments: CatalogKind.allCases)
    func theReturnedRowEqualsTheRowReadBack(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let listener = UUID()
            let association = AssociationRecord(listenerID: listener, callingAETitle: "CT1", calledAETitle: "STORESCP",
                                                peerAddress: "127.0.0.1:1", startedAt: at(0))
            try await catalog.startAssociation(association)

            var full = makeInstance(sop: "8.1", at: at(10.123_456_789), listener: listener, association: association.id,
                                    patientName: "Müller^Zoë=山田^太郎", modality: "MR")
            full.lastReceivedAt = at(9)
            full.storageState = .spooled
            full.storedAt = nil
            full.spoolID = "spool-1"
            var sparse = makeInstance(sop: "8.2", number: nil, at: at(20.000_000_4), listener: listener, association: association.id,
                                      patientID: nil, patientName: nil, studyDate: nil, accession: nil, modality: nil, seriesNumber: nil)
            sparse.metadataURI = nil
            sparse.numberOfFrames = nil
            sparse.storedAt = at(21.987_654_321)
            var later = makeInstance(sop: "8.3", at: at(30), listener: listener, association: association.id)
            later.lastReceivedAt = at(31.000_000_6)  // the row keeps the later of the two

            for record in [full, sparse, later] {
                let returned = try await catalog.recordInstance(record)
                let readBack = try #require(try await catalog.instance(sopInstanceUID: record.sopInstanceUID))
                #expect(returned == readBack)
                #expect(returned.receiveCount == 1)
            }
        }
    }
}
