@testable import API
import Domain
import Foundation
import NIOHTTP1
import Storage
import Testing

/// Two studies (one with two series) received by one listener over one association.
struct SeededCatalog {
    let listenerID = UUID()
    let associationID = UUID()
    let studyA = "1.2.840.1.1"
    let studyB = "1.2.840.1.2"
    let seriesA1 = "1.2.840.1.1.1"
    let seriesA2 = "1.2.840.1.1.2"
    let seriesB1 = "1.2.840.1.2.1"
    let base = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z

    func seed(_ catalog: SQLiteCatalog) async throws {
        try await catalog.createListener(ListenerConfig(id: listenerID, name: "seed", port: 11112))
        try await catalog.startAssociation(AssociationRecord(
            id: associationID, listenerID: listenerID, callingAETitle: "MODALITY", calledAETitle: "STORESCP",
            peerAddress: "127.0.0.1:50000", startedAt: base))
        var n = 0
        for (study, series, count, patient, date, modality) in [
            (studyA, seriesA1, 3, "PAT-A", "20240105", "CT"), (studyA, seriesA2, 1, "PAT-A", "20240105", "SR"),
            (studyB, seriesB1, 2, "PAT-B", "20231231", "MR"),
        ] {
            for i in 1...count {
                n += 1
                try await catalog.recordInstance(InstanceRecord(
                    sopInstanceUID: "\(series).\(i)", sopClassUID: "1.2.840.10008.5.1.4.1.1.2", seriesInstanceUID: series,
                    studyInstanceUID: study, instanceNumber: i, transferSyntaxUID: "1.2.840.10008.1.2.1", sizeBytes: 1000,
                    storedBytes: 600, objectURI: "file:///data/DICOM/\(series).\(i).dcm", metadataURI: nil,
                    sha256: String(repeating: "a", count: 64), listenerID: listenerID, associationID: associationID,
                    callingAETitle: "MODALITY", calledAETitle: "STORESCP", peerAddress: "127.0.0.1:50000",
                    receivedAt: base.addingTimeInterval(Double(n) + (study == studyB ? 86_400 : 0)),
                    patientID: patient, patientName: "DOE^\(patient)", studyDate: date, accessionNumber: "ACC-\(patient)",
                    seriesNumber: series == seriesA2 ? 2 : 1, modality: modality))
            }
        }
        try await catalog.endAssociation(id: associationID, outcome: .released, endedAt: base.addingTimeInterval(100))
    }
}

@Suite("Router: dashboard queries")
struct QueryRoutesTests {
    func harness() async throws -> (RouterHarness, SeededCatalog) {
        let h = try await RouterHarness()
        let seed = SeededCatalog()
        try await seed.seed(h.catalog)
        return (h, seed)
    }

    func uids(_ r: APIResponse, _ key: String = "studyInstanceUID") -> [String] {
        (r.jsonObject["items"] as? [[String: Any]] ?? []).compactMap { $0[key] as? String }
    }

    @Test func studiesNewestFirstWithFilters() async throws {
        let (h, s) = try await harness()
        let all = await h.send(.GET, "/v1/studies", token: Tokens.read)
        #expect(all.status == .ok)
        #expect(uids(all) == [s.studyB, s.studyA])
        #expect(all.jsonObject["nextCursor"] is NSNull)
        let study = (all.jsonObject["items"] as? [[String: Any]])?.last ?? [:]
        #expect(study["instanceCount"] as? Int == 4)
        #expect(study["seriesCount"] as? Int == 2)
        #expect(Set(study["modalities"] as? [String] ?? []) == ["CT", "SR"])
        #expect(study["studyTime"] is NSNull)

        #expect(uids(await h.send(.GET, "/v1/studies?patientId=PAT-A")) == [s.studyA])
        #expect(uids(await h.send(.GET, "/v1/studies?patientName=doe%5E*B")) == [s.studyB])
        #expect(uids(await h.send(.GET, "/v1/studies?accessionNumber=ACC-PAT-B")) == [s.studyB])
        #expect(uids(await h.send(.GET, "/v1/studies?studyDate=20240105")) == [s.studyA])
        #expect(uids(await h.send(.GET, "/v1/studies?studyDate=20230101-20231231")) == [s.studyB])
        #expect(uids(await h.send(.GET, "/v1/studies?modality=MR")) == [s.studyB])
        #expect(uids(await h.send(.GET, "/v1/studies?listenerId=\(s.listenerID)")) == [s.studyB, s.studyA])
        #expect(uids(await h.send(.GET, "/v1/studies?listenerId=\(UUID())")).isEmpty)
        #expect(uids(await h.send(.GET, "/v1/studies?callingAETitle=MODALITY")).count == 2)
        #expect(uids(await h.send(.GET, "/v1/studies?receivedFrom=2026-01-01T12:00:00Z")) == [s.studyB])
        #expect(uids(await h.send(.GET, "/v1/studies?receivedTo=2026-01-01T13:00:00%2B02:00")) == [s.studyA])
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func studiesPaginationFollowsNextCursor() async throws {
        let (h, s) = try await harness()
        let first = await h.send(.GET, "/v1/studies?limit=1")
        #expect(uids(first) == [s.studyB])
        let cursor = try #require(first.jsonObject["nextCursor"] as? String)
        let encoded = cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? cursor
        let second = await h.send(.GET, "/v1/studies?limit=1&cursor=\(encoded)")
        #expect(uids(second) == [s.studyA])
        if let next = second.jsonObject["nextCursor"] as? String {
            let third = await h.send(.GET, "/v1/studies?limit=1&cursor=\(next.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? next)")
            #expect(uids(third).isEmpty)
        }
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test(arguments: [
        ("limit=0", "limit"), ("limit=1001", "limit"), ("limit=abc", "limit"), ("limit=1.5", "limit"),
        ("studyDate=2024", "studyDate"), ("studyDate=20240101-", "studyDate"), ("studyDate=2024010a", "studyDate"),
        ("receivedFrom=yesterday", "receivedFrom"), ("receivedTo=2024-02-30T00:00:00Z", "receivedTo"),
        ("receivedFrom=2024-01-01T00:00:00", "receivedFrom"), ("listenerId=nope", "listenerId"),
        ("cursor=definitely-not-a-cursor", "cursor"), ("patientId=", "patientId"), ("patientId=a&patientId=b", "patientId"),
        ("modality=%00", "modality"),
    ])
    func badStudyParametersAre400NamingThem(query: String, field: String) async throws {
        let (h, _) = try await harness()
        let r = await h.send(.GET, "/v1/studies?\(query)", token: Tokens.read)
        #expect(r.status == .badRequest, "\(query): \(r.bodyString)")
        #expect(r.errorFields == [field], "\(query): \(r.bodyString)")
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func studySeriesInstances() async throws {
        let (h, s) = try await harness()
        let study = await h.send(.GET, "/v1/studies/\(s.studyA)")
        #expect(study.status == .ok)
        #expect(study.jsonObject["patientId"] as? String == "PAT-A")
        #expect(await h.send(.GET, "/v1/studies/1.2.3.4.5").status == .notFound)
        #expect(await h.send(.GET, "/v1/studies/not-a-uid").status == .badRequest)

        let series = await h.send(.GET, "/v1/studies/\(s.studyA)/series")
        #expect(uids(series, "seriesInstanceUID") == [s.seriesA1, s.seriesA2])
        #expect(await h.send(.GET, "/v1/studies/1.2.3.4.5/series").status == .notFound)
        #expect(await h.send(.GET, "/v1/studies/x/series").status == .badRequest)

        let page1 = await h.send(.GET, "/v1/series/\(s.seriesA1)/instances?limit=2")
        #expect(uids(page1, "sopInstanceUID") == ["\(s.seriesA1).1", "\(s.seriesA1).2"])
        let cursor = try #require(page1.jsonObject["nextCursor"] as? String)
        let page2 = await h.send(.GET, "/v1/series/\(s.seriesA1)/instances?limit=2&cursor=\(cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? cursor)")
        #expect(uids(page2, "sopInstanceUID") == ["\(s.seriesA1).3"])
        #expect(page2.jsonObject["nextCursor"] is NSNull)
        #expect(uids(await h.send(.GET, "/v1/series/9.9.9/instances"), "sopInstanceUID").isEmpty)
        #expect(await h.send(.GET, "/v1/series/9.9.9/instances?limit=0").status == .badRequest)
        #expect(await h.send(.GET, "/v1/series/9..9/instances").status == .badRequest)

        let instance = await h.send(.GET, "/v1/instances/\(s.seriesB1).2")
        #expect(instance.status == .ok)
        let body = instance.jsonObject
        #expect(body["sizeBytes"] as? Int == 1000)
        #expect(body["storedBytes"] as? Int == 600)
        #expect(body["metadataUri"] is NSNull)
        #expect(body["listenerId"] as? String == s.listenerID.uuidString.lowercased())
        #expect(body["receiveCount"] as? Int == 1)
        #expect(body["patientId"] == nil, "Instance carries only the documented members")
        #expect(await h.send(.GET, "/v1/instances/1.2.3").status == .notFound)
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func associationsAndStats() async throws {
        let (h, s) = try await harness()
        let list = await h.send(.GET, "/v1/associations?listenerId=\(s.listenerID)&limit=10")
        #expect(list.status == .ok)
        let items = list.jsonObject["items"] as? [[String: Any]] ?? []
        #expect(items.count == 1)
        #expect(items.first?["outcome"] as? String == "released")
        #expect(items.first?["instancesReceived"] as? Int == 6)
        #expect(items.first?["rejectReason"] is NSNull)
        #expect(items.first?["endedAt"] as? String == "2026-01-01T00:01:40.000Z")
        #expect(((await h.send(.GET, "/v1/associations?listenerId=\(UUID())")).jsonObject["items"] as? [Any])?.isEmpty == true)
        #expect(await h.send(.GET, "/v1/associations?listenerId=x").status == .badRequest)
        #expect(await h.send(.GET, "/v1/associations?cursor=zzz").errorFields == ["cursor"])

        let stats = await h.send(.GET, "/v1/stats", token: Tokens.read)
        #expect(stats.status == .ok)
        let body = stats.jsonObject
        #expect(body["instances"] as? Int == 6)
        #expect(body["studies"] as? Int == 2)
        #expect(body["series"] as? Int == 3)
        #expect(body["bytes"] as? Int == 6000)
        let byListener = body["byListener"] as? [[String: Any]] ?? []
        #expect(byListener.first?["listenerId"] as? String == s.listenerID.uuidString.lowercased())
        let byDay = body["byDay"] as? [[String: Any]] ?? []
        #expect(Set(byDay.compactMap { $0["date"] as? String }) == ["2026-01-01", "2026-01-02"])
        try await expectConformsToSpec(h.recorder.all)
    }

    @Test func followingNextCursorWhileInsertingReturnsEveryPreExistingStudyOnce() async throws {
        let h = try await RouterHarness()
        let listenerID = UUID()
        let associationID = UUID()
        let base = Date(timeIntervalSince1970: 1_767_225_600)
        try await h.catalog.startAssociation(AssociationRecord(
            id: associationID, listenerID: listenerID, callingAETitle: "A", calledAETitle: "B", peerAddress: "127.0.0.1:1", startedAt: base))
        func insert(_ n: Int, at offset: Double) async throws {
            try await h.catalog.recordInstance(InstanceRecord(
                sopInstanceUID: "2.25.\(n).1", sopClassUID: "1.2.840.10008.5.1.4.1.1.7", seriesInstanceUID: "2.25.\(n).2",
                studyInstanceUID: "2.25.\(n)", transferSyntaxUID: "1.2.840.10008.1.2.1", sizeBytes: 10, storedBytes: 10,
                objectURI: "file:///x/\(n)", sha256: String(repeating: "0", count: 64), listenerID: listenerID,
                associationID: associationID, callingAETitle: "A", calledAETitle: "B", peerAddress: "127.0.0.1:1",
                receivedAt: base.addingTimeInterval(offset)))
        }
        for n in 1...25 { try await insert(n, at: Double(n)) }
        var seen: [String] = []
        var cursor: String?
        var inserted = 100
        for _ in 0..<20 {  // bounded: 25 items at 7 per page need 4 pages
            var uri = "/v1/studies?limit=7"
            if let cursor { uri += "&cursor=\(cursor.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? cursor)" }
            let page = await h.send(.GET, uri, token: Tokens.read)
            #expect(page.status == .ok)
            seen += uids(page)
            // New studies arrive between pages, newer than everything (they sort first).
            inserted += 1
            try await insert(inserted, at: 10_000 + Double(inserted))
            guard let next = page.jsonObject["nextCursor"] as? String else { break }
            cursor = next
        }
        let preExisting = (1...25).map { "2.25.\($0)" }
        #expect(seen.filter { preExisting.contains($0) }.sorted() == preExisting.sorted())
        #expect(Set(seen).count == seen.count, "no study twice")
        try await expectConformsToSpec(h.recorder.all)
    }
}
