import Domain
import Foundation
import Storage
import Testing

/// The `Catalog` contract, run against PostgreSQL (TEST_POSTGRES_URL) and SQLite alike.
@Suite("Catalog contract")
struct CatalogContractTests {

    // MARK: Listeners

    @Test(arguments: CatalogKind.allCases)
    func listenerCRUDAndConflicts(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let a = ListenerConfig(
                name: "ct-room", port: 11112, bindAddress: "127.0.0.1", aeTitle: "CTSCP", requireCalledAETitle: true,
                allowedCallingAETitles: ["CT1", "CT2"], allowedPeers: ["10.0.0.0/8", "::1/128"],
                tls: TLSSettings(certificateFile: "/c.pem", privateKeyFile: "/k.pem", clientCAFile: "/ca.pem", requireClientCertificate: true),
                storage: StorageTarget(backend: .s3, bucket: "b", region: "eu-west-1", dicomPrefix: "D", gzip: false,
                                       serverSideEncryption: .kms, kmsKeyID: "key"),
                limits: ListenerLimits(maxAssociations: 3, maxPDUSize: 65536, dimseTimeoutSeconds: 5, networkTimeoutSeconds: 6, cstoreDelayMs: 7),
                state: .stopped, createdAt: at(0), updatedAt: at(0))
            try await catalog.createListener(a)
            #expect(try await catalog.listener(id: a.id) == a)

            let b = ListenerConfig(name: "mr-room", port: 11113, createdAt: at(1), updatedAt: at(1))
            try await catalog.createListener(b)
            #expect(try await catalog.listListeners().map(\.id) == [a.id, b.id])  // by name

            await expectCatalogError(.conflict, field: "name") {
                try await catalog.createListener(ListenerConfig(name: "ct-room", port: 2000))
            }
            await expectCatalogError(.conflict, field: "port") {
                try await catalog.createListener(ListenerConfig(name: "other", port: 11112))
            }

            var changed = a
            changed.name = "ct-room-2"
            changed.allowedPeers = []
            changed.tls = nil
            changed.enabled = false
            changed.createdAt = at(500)  // ignored: createdAt is kept
            changed.updatedAt = at(10)
            try await catalog.updateListener(changed)
            var expected = changed
            expected.createdAt = a.createdAt
            #expect(try await catalog.listener(id: a.id) == expected)

            var clash = b
            clash.port = 11112
            await expectCatalogError(.conflict, field: "port") { try await catalog.updateListener(clash) }
            await expectCatalogError(.notFound) { try await catalog.updateListener(ListenerConfig(name: "ghost", port: 1)) }

            try await catalog.setListenerState(id: b.id, state: .failed, error: "address in use")
            let failed = try #require(try await catalog.listener(id: b.id))
            #expect(failed.state == .failed)
            #expect(failed.error == "address in use")
            #expect(failed.updatedAt == b.updatedAt)
            try await catalog.setListenerState(id: b.id, state: .running, error: nil)
            #expect(try await catalog.listener(id: b.id)?.error == nil)
            await expectCatalogError(.notFound) { try await catalog.setListenerState(id: UUID(), state: .running, error: nil) }

            try await catalog.deleteListener(id: a.id)
            #expect(try await catalog.listener(id: a.id) == nil)
            #expect(try await catalog.listListeners().map(\.id) == [b.id])
            await expectCatalogError(.notFound) { try await catalog.deleteListener(id: a.id) }
            // The name and port are free again.
            try await catalog.createListener(ListenerConfig(name: "ct-room", port: 11112))
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func listenerAllowedSOPClassesRoundTrip(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let ctAndMR = ["1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"]
            let a = ListenerConfig(name: "allow-list", port: 11114, allowedSOPClasses: ctAndMR, createdAt: at(0), updatedAt: at(0))
            try await catalog.createListener(a)
            #expect(try await catalog.listener(id: a.id)?.allowedSOPClasses == ctAndMR)
            #expect(try await catalog.listListeners().first { $0.id == a.id }?.allowedSOPClasses == ctAndMR)

            // Absent from the config: the default, an empty list (every storage class).
            let b = ListenerConfig(name: "no-list", port: 11115, createdAt: at(1), updatedAt: at(1))
            try await catalog.createListener(b)
            #expect(try await catalog.listener(id: b.id)?.allowedSOPClasses == [])

            var changed = a
            changed.allowedSOPClasses = [ctAndMR[1]]
            try await catalog.updateListener(changed)
            #expect(try await catalog.listener(id: a.id)?.allowedSOPClasses == [ctAndMR[1]])
            changed.allowedSOPClasses = []
            try await catalog.updateListener(changed)
            #expect(try await catalog.listener(id: a.id) == changed)
        }
    }

    // MARK: Instances and aggregates

    @Test(arguments: CatalogKind.allCases)
    func repeatKeepsFirstReceiveAndUpdatesAggregates(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let listener = UUID()
            let association = AssociationRecord(listenerID: listener, callingAETitle: "CT1", calledAETitle: "STORESCP",
                                                peerAddress: "127.0.0.1:1", startedAt: at(0))
            try await catalog.startAssociation(association)

            let first = makeInstance(sop: "1.1", size: 1000, at: at(10), listener: listener, association: association.id)
            let stored = try await catalog.recordInstance(first)
            #expect(stored == first)
            #expect(stored.receiveCount == 1)
            try await catalog.recordInstance(makeInstance(sop: "1.2", number: 2, size: 500, at: at(11), listener: listener,
                                                          association: association.id))

            var again = makeInstance(sop: "1.1", number: 7, size: 3000, at: at(20), listener: listener, association: association.id)
            again.objectURI = "file:///elsewhere.dcm"
            again.studyDescription = "Chest v2"
            let repeated = try await catalog.recordInstance(again)
            #expect(repeated.receiveCount == 2)
            #expect(repeated.receivedAt == at(10))
            #expect(repeated.lastReceivedAt == at(20))
            #expect(repeated.sizeBytes == 3000)
            #expect(repeated.instanceNumber == 7)
            #expect(repeated.objectURI == "file:///elsewhere.dcm")
            #expect(try await catalog.instance(sopInstanceUID: "1.1") == repeated)
            #expect(try await catalog.study(uid: "1.2.3")?.studyDescription == "Chest v2")  // latest wins

            // An older repeat does not move lastReceivedAt back.
            let third = try await catalog.recordInstance(makeInstance(sop: "1.1", number: 7, size: 3000, at: at(15),
                                                                      listener: listener, association: association.id))
            #expect(third.receiveCount == 3)
            #expect(third.lastReceivedAt == at(20))

            let study = try #require(try await catalog.study(uid: "1.2.3"))
            #expect(study.instanceCount == 2)
            #expect(study.totalBytes == 3500)
            #expect(study.seriesCount == 1)
            #expect(study.modalities == ["CT"])
            #expect(study.firstReceivedAt == at(10))
            #expect(study.lastReceivedAt == at(20))
            #expect(study.studyDescription == "Chest")  // from the third receive
            #expect(study.patientName == "Doe^John")
            #expect(try await catalog.series(studyInstanceUID: "1.2.3")
                    == [SeriesSummary(seriesInstanceUID: "1.2.3.4", studyInstanceUID: "1.2.3", modality: "CT", seriesNumber: 1,
                                      seriesDescription: "Axial", instanceCount: 2, totalBytes: 3500)])

            try await catalog.recordFailure(associationID: association.id)
            try await catalog.endAssociation(id: association.id, outcome: .released, endedAt: at(30))
            let page = try await catalog.associations(listenerID: listener, page: PageRequest())
            #expect(page.items.count == 1)
            let counted = try #require(page.items.first)
            #expect(counted.instancesReceived == 4)
            #expect(counted.bytesReceived == 1000 + 500 + 3000 + 3000)
            #expect(counted.instancesFailed == 1)
            #expect(counted.outcome == .released)
            #expect(counted.endedAt == at(30))
            await expectCatalogError(.notFound) { try await catalog.endAssociation(id: UUID(), outcome: .aborted, endedAt: at(1)) }
            await expectCatalogError(.notFound) { try await catalog.recordFailure(associationID: UUID()) }
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func repeatInAnotherSeriesAndStudyMovesTheAggregates(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            try await catalog.recordInstance(makeInstance(sop: "9.1", series: "S1", study: "A", size: 100, at: at(1), modality: "CT"))
            try await catalog.recordInstance(makeInstance(sop: "9.2", series: "S2", study: "A", size: 200, at: at(2), modality: "MR", seriesNumber: 2))
            #expect(try await catalog.study(uid: "A")?.modalities == ["CT", "MR"])
            #expect(try await catalog.study(uid: "A")?.seriesCount == 2)

            // 9.2 now claims series S1 of study A: S2 disappears with its modality.
            try await catalog.recordInstance(makeInstance(sop: "9.2", series: "S1", study: "A", size: 250, at: at(3), modality: "CT"))
            var a = try #require(try await catalog.study(uid: "A"))
            #expect(a.seriesCount == 1)
            #expect(a.modalities == ["CT"])
            #expect(a.instanceCount == 2)
            #expect(a.totalBytes == 350)
            #expect(try await catalog.series(studyInstanceUID: "A").map(\.instanceCount) == [2])

            // 9.2 moves to series S3 of a new study B.
            try await catalog.recordInstance(makeInstance(sop: "9.2", series: "S3", study: "B", size: 300, at: at(4), modality: "US"))
            a = try #require(try await catalog.study(uid: "A"))
            #expect(a.instanceCount == 1)
            #expect(a.totalBytes == 100)
            let b = try #require(try await catalog.study(uid: "B"))
            #expect(b.instanceCount == 1)
            #expect(b.totalBytes == 300)
            #expect(b.modalities == ["US"])
            #expect(b.firstReceivedAt == at(2))  // the instance's first receive

            // And 9.1 follows: study A is empty and goes away.
            try await catalog.recordInstance(makeInstance(sop: "9.1", series: "S3", study: "B", size: 100, at: at(5), modality: "US"))
            #expect(try await catalog.study(uid: "A") == nil)
            #expect(try await catalog.series(studyInstanceUID: "A").isEmpty)
            #expect(try await catalog.study(uid: "B")?.instanceCount == 2)
            let stats = try await catalog.stats()
            #expect(stats.studies == 1)
            #expect(stats.series == 1)
            #expect(stats.instances == 2)
            #expect(stats.bytes == 400)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func concurrentUpsertsOfTheSameUIDEndConsistent(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let association = AssociationRecord(listenerID: UUID(), callingAETitle: "A", calledAETitle: "B", peerAddress: "p")
            try await catalog.startAssociation(association)
            let writers = 16
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<writers {
                    group.addTask {
                        // Same UID, alternating series, sizes vary: the final aggregates must match the final row.
                        try await catalog.recordInstance(makeInstance(
                            sop: "7.7", series: i % 2 == 0 ? "S-even" : "S-odd", size: Int64(100 + i), at: at(Double(i)),
                            association: association.id))
                    }
                    group.addTask {
                        try await catalog.recordInstance(makeInstance(sop: "7.\(100 + i)", series: "S-even", size: 10, at: at(Double(i)),
                                                                      association: association.id))
                    }
                }
                try await group.waitForAll()
            }
            let row = try #require(try await catalog.instance(sopInstanceUID: "7.7"))
            #expect(row.receiveCount == writers)
            #expect(row.lastReceivedAt == at(Double(writers - 1)))
            let study = try #require(try await catalog.study(uid: "1.2.3"))
            #expect(study.instanceCount == writers + 1)
            #expect(study.totalBytes == row.sizeBytes + Int64(writers * 10))
            let series = try await catalog.series(studyInstanceUID: "1.2.3")
            let bySeries = Dictionary(uniqueKeysWithValues: series.map { ($0.seriesInstanceUID, $0) })
            let even = try #require(bySeries["S-even"])
            #expect(even.instanceCount == writers + (row.seriesInstanceUID == "S-even" ? 1 : 0))
            #expect(even.totalBytes == Int64(writers * 10) + (row.seriesInstanceUID == "S-even" ? row.sizeBytes : 0))
            if row.seriesInstanceUID == "S-odd" {
                #expect(bySeries["S-odd"]?.instanceCount == 1)
                #expect(bySeries["S-odd"]?.totalBytes == row.sizeBytes)
            } else {
                #expect(bySeries["S-odd"] == nil)
            }
            #expect(study.seriesCount == series.count)
            let counted = try #require(try await catalog.associations(listenerID: nil, page: PageRequest()).items.first)
            #expect(counted.instancesReceived == 2 * writers)
        }
    }

    /// Many tasks create series and studies at once: every aggregate must equal what the instance rows say.
    @Test(arguments: CatalogKind.allCases)
    func concurrentInsertsKeepEveryAggregateExact(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let modalities = ["CT", "MR", "PT", "US"]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for t in 0..<8 {
                    group.addTask {
                        for i in 0..<24 {
                            let n = t * 24 + i
                            let study = n % 3, series = (n / 3) % 4
                            try await catalog.recordInstance(makeInstance(
                                sop: "g.\(n)", series: "G\(study).\(series)", study: "G\(study)", number: n, size: Int64(n + 1),
                                at: at(Double(n)), modality: modalities[(study + series) % 4], seriesNumber: series))
                        }
                    }
                }
                try await group.waitForAll()
            }
            var totalInstances = 0
            for study in 0..<3 {
                let summary = try #require(try await catalog.study(uid: "G\(study)"))
                let series = try await catalog.series(studyInstanceUID: "G\(study)")
                var rows: [InstanceRecord] = []
                for s in series {
                    let items = try await collectPages(limit: 1000) { try await catalog.instances(seriesInstanceUID: s.seriesInstanceUID, page: $0) }
                    #expect(s.instanceCount == items.count)
                    #expect(s.totalBytes == items.reduce(0) { $0 + $1.sizeBytes })
                    #expect(Set(items.compactMap(\.modality)) == Set([s.modality].compactMap { $0 }))
                    rows += items
                }
                #expect(series.count == 4)
                #expect(summary.seriesCount == 4)
                #expect(summary.instanceCount == rows.count)
                #expect(summary.totalBytes == rows.reduce(0) { $0 + $1.sizeBytes })
                #expect(summary.modalities == Array(Set(rows.compactMap(\.modality))).sorted())
                // Set by whichever instance created the study row, and never moved since.
                #expect(rows.map(\.receivedAt).contains(summary.firstReceivedAt))
                #expect(summary.lastReceivedAt == rows.map(\.lastReceivedAt).max())
                totalInstances += rows.count
            }
            #expect(totalInstances == 8 * 24)
            #expect(try await catalog.stats().instances == 8 * 24)
        }
    }

    // MARK: Queries

    @Test(arguments: CatalogKind.allCases)
    func everyStudyFilter(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let l1 = UUID(), l2 = UUID()
            try await catalog.recordInstance(makeInstance(sop: "1", series: "1.s", study: "S1", at: at(100), listener: l1, calling: "CT_A",
                                                          patientID: "P1", patientName: "Müller^Hans", studyDate: "20240101", accession: "A1", modality: "CT"))
            try await catalog.recordInstance(makeInstance(sop: "2", series: "2.s", study: "S2", at: at(200), listener: l1, calling: "MR_B",
                                                          patientID: "P2", patientName: "DOE^JANE", studyDate: "20240115", accession: "A2", modality: "MR"))
            try await catalog.recordInstance(makeInstance(sop: "3", series: "3.s", study: "S3", at: at(300), listener: l2, calling: "CT_A",
                                                          patientID: "P1", patientName: "doe^john", studyDate: "20240201", accession: "A3", modality: "CT"))
            // S3 also gets an MR series from another sender, later.
            try await catalog.recordInstance(makeInstance(sop: "4", series: "3.t", study: "S3", at: at(400), listener: l2, calling: "MR_B",
                                                          patientID: "P1", patientName: "doe^john", studyDate: "20240201", accession: "A3", modality: "MR"))
            try await catalog.recordInstance(makeInstance(sop: "5", series: "5.s", study: "S5", at: at(500), listener: l2, calling: "US_C",
                                                          patientID: nil, patientName: nil, studyDate: nil, accession: nil, modality: nil))
            // Lowercased by the service's rule on both sides (not by the database's locale), so a search with the
            // stored spelling finds it whatever the case mappings of the database.
            try await catalog.recordInstance(makeInstance(sop: "6", series: "6.s", study: "S6", at: at(50), listener: l2, calling: "US_C",
                                                          patientID: "P6", patientName: "İZMİR^ΣΟΦΊΑ", studyDate: nil, accession: nil,
                                                          modality: nil))

            func uids(_ filter: StudyFilter) async throws -> [String] {
                try await catalog.studies(filter: filter, page: PageRequest()).items.map(\.studyInstanceUID)
            }
            #expect(try await uids(StudyFilter()) == ["S5", "S3", "S2", "S1", "S6"])
            #expect(try await uids(StudyFilter(patientName: "İZMİR^ΣΟΦΊΑ")) == ["S6"])
            #expect(try await uids(StudyFilter(patientName: "İzmİr*")) == ["S6"])
            #expect(try await uids(StudyFilter(patientID: "P1")) == ["S3", "S1"])
            #expect(try await uids(StudyFilter(patientName: "doe*")) == ["S3", "S2"])
            #expect(try await uids(StudyFilter(patientName: "DOE^JOHN")) == ["S3"])
            #expect(try await uids(StudyFilter(patientName: "*^j*")) == ["S3", "S2"])
            #expect(try await uids(StudyFilter(patientName: "müller*")) == ["S1"])
            #expect(try await uids(StudyFilter(patientName: "d?e^jane")) == ["S2"])
            #expect(try await uids(StudyFilter(patientName: "%")) == [])  // LIKE metacharacters are literal
            #expect(try await uids(StudyFilter(patientName: "doe_john")) == [])
            #expect(try await uids(StudyFilter(accessionNumber: "A2")) == ["S2"])
            #expect(try await uids(StudyFilter(studyDateFrom: "20240115")) == ["S3", "S2"])
            #expect(try await uids(StudyFilter(studyDateTo: "20240115")) == ["S2", "S1"])
            #expect(try await uids(StudyFilter(studyDateFrom: "20240115", studyDateTo: "20240115")) == ["S2"])
            #expect(try await uids(StudyFilter(modality: "MR")) == ["S3", "S2"])
            #expect(try await uids(StudyFilter(modality: "CT")) == ["S3", "S1"])
            #expect(try await uids(StudyFilter(listenerID: l1)) == ["S2", "S1"])
            #expect(try await uids(StudyFilter(listenerID: l2)) == ["S5", "S3", "S6"])
            #expect(try await uids(StudyFilter(callingAETitle: "MR_B")) == ["S3", "S2"])
            #expect(try await uids(StudyFilter(receivedFrom: at(350))) == ["S5", "S3"])  // S3 received until 400
            #expect(try await uids(StudyFilter(receivedTo: at(200))) == ["S2", "S1", "S6"])
            #expect(try await uids(StudyFilter(receivedFrom: at(150), receivedTo: at(250))) == ["S2"])
            #expect(try await uids(StudyFilter(patientID: "P1", modality: "MR", callingAETitle: "MR_B")) == ["S3"])
            #expect(try await uids(StudyFilter(patientID: "P1", listenerID: l1, callingAETitle: "MR_B")) == [])

            let s3 = try #require(try await catalog.study(uid: "S3"))
            #expect(s3.modalities == ["CT", "MR"])
            #expect(s3.seriesCount == 2)
            #expect(s3.firstReceivedAt == at(300))
            #expect(s3.lastReceivedAt == at(400))
            let s5 = try #require(try await catalog.study(uid: "S5"))
            #expect(s5.modalities == [])
            #expect(s5.patientName == nil)
            #expect(try await catalog.study(uid: "nope") == nil)
            #expect(try await catalog.instance(sopInstanceUID: "nope") == nil)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func seriesAndInstancesAreOrdered(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            try await catalog.recordInstance(makeInstance(sop: "x.3", series: "B", number: 2, seriesNumber: 2))
            try await catalog.recordInstance(makeInstance(sop: "x.1", series: "C", number: nil, seriesNumber: nil))
            try await catalog.recordInstance(makeInstance(sop: "x.2", series: "A", number: 1, seriesNumber: 10))
            #expect(try await catalog.series(studyInstanceUID: "1.2.3").map(\.seriesInstanceUID) == ["B", "A", "C"])

            for (sop, number) in [("i.5", 3), ("i.1", nil), ("i.2", 1), ("i.3", 1), ("i.4", 2), ("i.0", nil)] as [(String, Int?)] {
                try await catalog.recordInstance(makeInstance(sop: sop, series: "Q", number: number))
            }
            let all = try await collectPages(limit: 2) { try await catalog.instances(seriesInstanceUID: "Q", page: $0) }
            #expect(all.map(\.sopInstanceUID) == ["i.2", "i.3", "i.4", "i.5", "i.0", "i.1"])
            let one = try await catalog.instances(seriesInstanceUID: "Q", page: PageRequest(limit: 6))
            #expect(one.items.count == 6)
            #expect(one.nextCursor == nil)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func invalidCursorsAndLimits(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            for i in 0..<3 {
                try await catalog.recordInstance(makeInstance(sop: "c.\(i)", study: "ST\(i)", at: at(Double(i))))
                try await catalog.startAssociation(AssociationRecord(listenerID: UUID(), callingAETitle: "A", calledAETitle: "B",
                                                                     peerAddress: "p", startedAt: at(Double(i))))
            }
            let studyPage = try await catalog.studies(filter: StudyFilter(), page: PageRequest(limit: 1))
            let studyCursor = try #require(studyPage.nextCursor)
            let assocCursor = try #require(try await catalog.associations(listenerID: nil, page: PageRequest(limit: 1)).nextCursor)
            let wrongKey = Data("s|soon|ST1".utf8).base64EncodedString()
            for bad in ["", "!!!", "bm90IGEgY3Vyc29y", assocCursor, wrongKey] {
                await expectCatalogError(.invalidCursor) {
                    _ = try await catalog.studies(filter: StudyFilter(), page: PageRequest(cursor: bad))
                }
            }
            await expectCatalogError(.invalidCursor) {
                _ = try await catalog.associations(listenerID: nil, page: PageRequest(cursor: studyCursor))
            }
            await expectCatalogError(.invalidCursor) {
                _ = try await catalog.instances(seriesInstanceUID: "1.2.3.4", page: PageRequest(cursor: studyCursor))
            }
            // Limits are clamped to 1...1000.
            #expect(try await catalog.studies(filter: StudyFilter(), page: PageRequest(limit: 0)).items.count == 1)
            #expect(try await catalog.studies(filter: StudyFilter(), page: PageRequest(limit: 5000)).items.count == 3)
        }
    }

    /// A writer keeps adding studies (new ones, and instances into old ones, which moves their
    /// `lastReceivedAt`) while a reader pages: every study that existed before the first page is seen
    /// exactly once.
    @Test(arguments: CatalogKind.allCases)
    func studyPaginationUnderConcurrentInserts(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let existing = 60
            for i in 0..<existing {
                // Pairs share a first-received time: the UID breaks the tie.
                try await catalog.recordInstance(makeInstance(sop: "p.\(i)", series: "ps.\(i)", study: "PS.\(i)", at: at(Double(i / 2))))
            }
            let seen = try await withThrowingTaskGroup(of: [String].self) { group in
                group.addTask {
                    for j in 0..<80 {
                        if j % 2 == 0 {
                            // A brand-new study, some newer and some older than everything else.
                            let when = j % 4 == 0 ? at(10_000 + Double(j)) : at(-Double(j) - 1)
                            try await catalog.recordInstance(makeInstance(sop: "n.\(j)", series: "ns.\(j)", study: "NS.\(j)", at: when))
                        } else {
                            // More instances into an old study: its lastReceivedAt jumps ahead.
                            try await catalog.recordInstance(makeInstance(sop: "m.\(j)", series: "ps.\(j % existing)",
                                                                          study: "PS.\(j % existing)", at: at(20_000 + Double(j))))
                        }
                        await Task.yield()
                    }
                    return []
                }
                group.addTask {
                    try await collectPages(limit: 3) { page in
                        let result = try await catalog.studies(filter: StudyFilter(), page: page)
                        await Task.yield()
                        return result
                    }.map(\.studyInstanceUID)
                }
                var all: [String] = []
                for try await uids in group { all += uids }
                return all
            }
            #expect(Set(seen).count == seen.count, "a study was returned twice")
            let preExisting = seen.filter { $0.hasPrefix("PS.") }
            #expect(preExisting.count == existing)
            #expect(Set(preExisting) == Set((0..<existing).map { "PS.\($0)" }))
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func instanceAndAssociationPaginationUnderConcurrentInserts(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            let listener = UUID()
            var preExisting: Set<UUID> = []
            for i in 0..<40 {
                try await catalog.recordInstance(makeInstance(sop: "q.\(i)", series: "QS", number: i % 7))
                let association = AssociationRecord(listenerID: listener, callingAETitle: "A", calledAETitle: "B",
                                                    peerAddress: "p", startedAt: at(Double(i / 3)))
                try await catalog.startAssociation(association)
                preExisting.insert(association.id)
            }
            // Associations of another listener never show up in the filtered pages.
            try await catalog.startAssociation(AssociationRecord(listenerID: UUID(), callingAETitle: "A", calledAETitle: "B",
                                                                 peerAddress: "p", startedAt: at(5)))
            let (instances, associations) = try await withThrowingTaskGroup(of: ([String], [UUID]).self) { group in
                group.addTask {
                    for j in 0..<40 {
                        try await catalog.recordInstance(makeInstance(sop: "r.\(j)", series: "QS", number: j % 5))
                        try await catalog.startAssociation(AssociationRecord(listenerID: listener, callingAETitle: "A", calledAETitle: "B",
                                                                             peerAddress: "p", startedAt: at(Double(j % 20))))
                        await Task.yield()
                    }
                    return ([], [])
                }
                group.addTask {
                    let i = try await collectPages(limit: 4) { try await catalog.instances(seriesInstanceUID: "QS", page: $0) }
                    let a = try await collectPages(limit: 4) { try await catalog.associations(listenerID: listener, page: $0) }
                    return (i.map(\.sopInstanceUID), a.map(\.id))
                }
                var i: [String] = [], a: [UUID] = []
                for try await (x, y) in group { i += x; a += y }
                return (i, a)
            }
            #expect(Set(instances).count == instances.count)
            #expect(Set(instances.filter { $0.hasPrefix("q.") }) == Set((0..<40).map { "q.\($0)" }))
            #expect(Set(associations).count == associations.count)
            #expect(preExisting.isSubset(of: Set(associations)))

            let allAssociations = try await collectPages(limit: 7) { try await catalog.associations(listenerID: nil, page: $0) }
            #expect(allAssociations.count == 81)
            let keys = allAssociations.map { ($0.startedAt, $0.id.uuidString) }
            #expect(zip(keys, keys.dropFirst()).allSatisfy { $0.0 >= $1.0 }, "associations are newest first")
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func statsCountByListenerAndUTCDay(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            #expect(try await catalog.stats() == CatalogStats(instances: 0, studies: 0, series: 0, bytes: 0, byListener: [], byDay: []))
            let l1 = UUID(uuidString: "00000000-0000-0000-0000-000000000001")!
            let l2 = UUID(uuidString: "00000000-0000-0000-0000-000000000002")!
            let day1 = Date(timeIntervalSince1970: 1_704_153_599)  // 2024-01-01T23:59:59Z
            let day2 = Date(timeIntervalSince1970: 1_704_153_600)  // 2024-01-02T00:00:00Z
            try await catalog.recordInstance(makeInstance(sop: "s.1", series: "a", study: "A", size: 10, at: day1, listener: l1))
            try await catalog.recordInstance(makeInstance(sop: "s.2", series: "b", study: "A", size: 20, at: day2, listener: l1))
            try await catalog.recordInstance(makeInstance(sop: "s.3", series: "c", study: "B", size: 30, at: day2, listener: l2))
            // A repeat counts once, on the day of its first receive.
            try await catalog.recordInstance(makeInstance(sop: "s.1", series: "a", study: "A", size: 15, at: day2.addingTimeInterval(86_400), listener: l1))
            let stats = try await catalog.stats()
            #expect(stats.instances == 3)
            #expect(stats.studies == 2)
            #expect(stats.series == 3)
            #expect(stats.bytes == 65)
            #expect(stats.byListener == [.init(listenerID: l1, instances: 2, bytes: 35), .init(listenerID: l2, instances: 1, bytes: 30)])
            #expect(stats.byDay == [.init(date: "2024-01-01", instances: 1, bytes: 15), .init(date: "2024-01-02", instances: 2, bytes: 50)])
            try await catalog.ping()
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func datesKeepMicrosecondsAndCursorsStayExact(kind: CatalogKind) async throws {
        try await withCatalog(kind) { catalog in
            // Sub-second times whose doubles are not exact: the cursor must not skip or repeat the tie.
            let base = Date(timeIntervalSinceReferenceDate: 771_234_567.123_456_7)
            for i in 0..<9 {
                try await catalog.recordInstance(makeInstance(sop: "d.\(i)", study: "D.\(i)", at: base.addingTimeInterval(Double(i / 3) * 0.000_001)))
            }
            let all = try await collectPages(limit: 2) { try await catalog.studies(filter: StudyFilter(), page: $0) }
            #expect(all.map(\.studyInstanceUID) == ["D.8", "D.7", "D.6", "D.5", "D.4", "D.3", "D.2", "D.1", "D.0"])
            let stored = try #require(try await catalog.instance(sopInstanceUID: "d.0"))
            #expect(abs(stored.receivedAt.timeIntervalSince(base)) < 0.000_001)
        }
    }
}
