import Domain
import Foundation
import Storage
import Testing

/// The event outbox of the catalog, against PostgreSQL (TEST_POSTGRES_URL) and SQLite alike: the instance
/// transaction marks the study dirty, an announcement creates exactly one event per revision, deliveries
/// are leased to one owner at a time and settled by the attempt's outcome.
@Suite("Event outbox")
struct EventOutboxTests {
    struct Setup {
        var catalog: any Catalog & EventStore
        var listener: ListenerConfig
        var sink: EventSink
    }

    func withOutbox(_ kind: CatalogKind, stableSeconds: Int? = 60, _ body: (Setup) async throws -> Void) async throws {
        try await withCatalog(kind) { catalog in
            let events = try #require(catalog as? any Catalog & EventStore)
            let listener = ListenerConfig(id: catalogTestListener, name: "events", port: 11112, studyStableSeconds: stableSeconds,
                                          createdAt: at(0), updatedAt: at(0))
            try await events.createListener(listener)
            let sink = EventSink(name: "hook", kind: .webhook, settings: EventSinkSettings(url: "http://127.0.0.1:9/"),
                                 secret: "0123456789abcdef", createdAt: at(0), updatedAt: at(0))
            try await events.createEventSink(sink)
            try await body(Setup(catalog: events, listener: listener, sink: sink))
        }
    }

    func data(_ event: StoredEvent) throws -> [String: Any] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(event.body.utf8)) as? [String: Any])
        return try #require(object["data"] as? [String: Any])
    }

    @Test(arguments: CatalogKind.allCases)
    func instanceMarksTheStudyDirtyAndEachRevisionIsAnnouncedOnce(kind: CatalogKind) async throws {
        try await withOutbox(kind) { setup in
            let catalog = setup.catalog
            #expect(try await catalog.dirtyStudies(limit: 10).isEmpty)
            try await catalog.recordInstance(makeInstance(sop: "1.2.3.1.1", series: "1.2.3.1", study: "1.2.3"))
            try await catalog.recordInstance(makeInstance(sop: "1.2.3.1.2", series: "1.2.3.1", study: "1.2.3", number: 2))
            let dirty = try await catalog.dirtyStudies(limit: 10)
            #expect(dirty.map(\.studyInstanceUID) == ["1.2.3"])
            #expect(dirty.first?.stableSeconds == 60)
            #expect(dirty.first?.revision == 0)

            let study = try #require(dirty.first)
            let event = try #require(try await catalog.announceStudy(study, source: "urn:test", now: at(100)))
            #expect(event.type == EventType.studyStable.rawValue)
            #expect(event.revision == 1)
            let first = try data(event)
            #expect(first["instanceCount"] as? Int == 2)
            #expect(first["studyInstanceUID"] as? String == "1.2.3")
            #expect(first["callingAETitles"] as? [String] == ["MODALITY"])
            #expect(first["peerAddresses"] as? [String] == ["127.0.0.1"])
            #expect((first["location"] as? [String: Any])?["objectUris"] as? [String] ==
                    ["file:///data/DICOM/1.2.3.1.1.dcm", "file:///data/DICOM/1.2.3.1.2.dcm"])
            // Announced: the marker is clear, and a second announcement of the same snapshot does nothing.
            #expect(try await catalog.dirtyStudies(limit: 10).isEmpty)
            #expect(try await catalog.announceStudy(study, source: "urn:test", now: at(101)) == nil)
            let stored = try #require(try await catalog.event(id: event.id))
            #expect(stored.deliveries.map(\.sinkID) == [setup.sink.id])
            #expect(stored.deliveries.map(\.status) == [.pending])

            // A late instance: dirty again, and the next announcement is revision 2.
            try await catalog.recordInstance(makeInstance(sop: "1.2.3.1.3", series: "1.2.3.1", study: "1.2.3", number: 3))
            let again = try #require(try await catalog.dirtyStudies(limit: 10).first)
            #expect(again.revision == 1)
            let updated = try #require(try await catalog.announceStudy(again, source: "urn:test", now: at(200)))
            #expect(updated.type == EventType.studyUpdated.rawValue)
            #expect(updated.revision == 2)
            #expect(try data(updated)["instanceCount"] as? Int == 3)
            let page = try await catalog.events(status: .pending, sinkID: setup.sink.id, page: PageRequest(limit: 1))
            #expect(page.items.map(\.id) == [updated.id])  // newest first
            let next = try await catalog.events(status: .pending, sinkID: setup.sink.id,
                                                page: PageRequest(limit: 1, cursor: page.nextCursor))
            #expect(next.items.map(\.id) == [event.id])
            #expect(next.nextCursor == nil)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func aStudyThatChangedSinceItWasSeenIsNotAnnounced(kind: CatalogKind) async throws {
        try await withOutbox(kind) { setup in
            let catalog = setup.catalog
            try await catalog.recordInstance(makeInstance(sop: "1.2.5.1.1", series: "1.2.5.1", study: "1.2.5"))
            let seen = try #require(try await catalog.dirtyStudies(limit: 10).first)
            try await Task.sleep(for: .milliseconds(5))
            try await catalog.recordInstance(makeInstance(sop: "1.2.5.1.2", series: "1.2.5.1", study: "1.2.5", number: 2))
            #expect(try await catalog.announceStudy(seen, source: "urn:test", now: at(100)) == nil)
            #expect(try await catalog.dirtyStudies(limit: 10).count == 1)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func aListenerWithEventsOffHasItsMarkersCleared(kind: CatalogKind) async throws {
        try await withOutbox(kind, stableSeconds: nil) { setup in
            let catalog = setup.catalog
            try await catalog.recordInstance(makeInstance(sop: "1.2.6.1.1", series: "1.2.6.1", study: "1.2.6"))
            let dirty = try #require(try await catalog.dirtyStudies(limit: 10).first)
            #expect(dirty.stableSeconds == nil)
            try await catalog.clearDirtyStudy(dirty)
            #expect(try await catalog.dirtyStudies(limit: 10).isEmpty)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func deliveriesAreLeasedToOneOwnerAndSettledByTheOutcome(kind: CatalogKind) async throws {
        try await withOutbox(kind) { setup in
            let catalog = setup.catalog
            for index in 1...3 {
                try await catalog.recordInstance(makeInstance(sop: "1.2.7.\(index).1", series: "1.2.7.\(index)", study: "1.2.7.\(index)"))
            }
            for study in try await catalog.dirtyStudies(limit: 10) {
                #expect(try await catalog.announceStudy(study, source: "urn:test", now: at(100)) != nil)
            }
            #expect(try await catalog.pendingDeliveries() == [setup.sink.id: 3])
            let a = try await catalog.claimDeliveries(owner: "node-a", now: at(101), leaseSeconds: 60, limit: 10)
            #expect(a.count == 3)
            #expect(a.allSatisfy { $0.sink == setup.sink && $0.attempts == 0 })
            // Leased: node B gets nothing until the lease runs out.
            #expect(try await catalog.claimDeliveries(owner: "node-b", now: at(102), leaseSeconds: 60, limit: 10).isEmpty)

            try await catalog.recordAttempt(a[0], startedAt: at(102), duration: .milliseconds(5), outcome: .delivered)
            try await catalog.recordAttempt(a[1], startedAt: at(102), duration: .milliseconds(5),
                                            outcome: .retry(at: at(110), error: "HTTP 503"))
            try await catalog.recordAttempt(a[2], startedAt: at(102), duration: .milliseconds(5),
                                            outcome: .failed(error: "HTTP 410"))
            #expect(try await catalog.pendingDeliveries() == [setup.sink.id: 1])
            // The retry is not due before its time, then it is, with its attempt counted.
            #expect(try await catalog.claimDeliveries(owner: "node-b", now: at(109), leaseSeconds: 60, limit: 10).isEmpty)
            let b = try await catalog.claimDeliveries(owner: "node-b", now: at(110), leaseSeconds: 60, limit: 10)
            #expect(b.map(\.eventID) == [a[1].eventID])
            #expect(b.first?.attempts == 1)
            // Node B dies mid-delivery: once its lease has run out, node A takes the delivery over.
            #expect(try await catalog.claimDeliveries(owner: "node-a", now: at(169), leaseSeconds: 60, limit: 10).isEmpty)
            let takenOver = try await catalog.claimDeliveries(owner: "node-a", now: at(171), leaseSeconds: 60, limit: 10)
            #expect(takenOver.map(\.eventID) == [a[1].eventID])
            // The dead node's late outcome no longer settles a delivery it lost.
            try await catalog.recordAttempt(b[0], startedAt: at(172), duration: .milliseconds(5), outcome: .delivered)
            #expect(try await catalog.pendingDeliveries() == [setup.sink.id: 1])
            try await catalog.recordAttempt(takenOver[0], startedAt: at(172), duration: .milliseconds(5),
                                            outcome: .delivered)
            #expect(try await catalog.pendingDeliveries() == [:])

            let delivered = try await catalog.events(status: .delivered, sinkID: nil, page: PageRequest())
            #expect(Set(delivered.items.map(\.id)) == [a[0].eventID, a[1].eventID])
            let failed = try await catalog.events(status: .failed, sinkID: nil, page: PageRequest())
            #expect(failed.items.map(\.id) == [a[2].eventID])
            #expect(failed.items.first?.deliveries.first?.lastError == "HTTP 410")
            #expect(failed.items.first?.deliveries.first?.attempts == 1)

            // Redeliver makes the failed delivery pending and due again.
            try await catalog.redeliver(eventID: a[2].eventID, now: at(200))
            let again = try await catalog.claimDeliveries(owner: "node-a", now: at(200), leaseSeconds: 60, limit: 10)
            #expect(again.map(\.eventID) == [a[2].eventID])
            await expectCatalogError(.notFound) { try await catalog.redeliver(eventID: UUID(), now: at(200)) }
        }
    }

    /// Two nodes claiming at once on PostgreSQL (`FOR UPDATE SKIP LOCKED`): every delivery is claimed, and
    /// by one node only.
    @Test func concurrentClaimsNeverShareADelivery() async throws {
        try await withOutbox(.postgres) { setup in
            let catalog = setup.catalog
            for index in 1...40 {
                try await catalog.recordInstance(makeInstance(sop: "1.2.8.\(index).1", series: "1.2.8.\(index)", study: "1.2.8.\(index)"))
            }
            for study in try await catalog.dirtyStudies(limit: 100) {
                _ = try await catalog.announceStudy(study, source: "urn:test", now: at(100))
            }
            let claims = try await withThrowingTaskGroup(of: [UUID].self) { group in
                for node in 0..<4 {
                    group.addTask {
                        var mine: [UUID] = []
                        while true {
                            let batch = try await catalog.claimDeliveries(owner: "node-\(node)", now: at(101), leaseSeconds: 60, limit: 3)
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.eventID)
                        }
                    }
                }
                var all: [UUID] = []
                for try await mine in group { all += mine }
                return all
            }
            #expect(claims.count == 40)
            #expect(Set(claims).count == 40)
        }
    }
}
