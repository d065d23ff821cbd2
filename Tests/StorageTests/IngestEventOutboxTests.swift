import Domain
import Foundation
import PostgresNIO
import Storage
import Testing

/// Events of the ingest path in the catalog, against PostgreSQL (TEST_POSTGRES_URL) and SQLite alike:
/// `instance.stored` is one `events` row written by the instance transaction and `association.ended` one
/// row written with the association's end, each only when some enabled sink wants it; the dispatcher's
/// fan-out then gives it one delivery per such sink.
@Suite("Ingest events in the outbox")
struct IngestEventOutboxTests {
    typealias EventCatalog = any Catalog & EventStore & EventFanOut

    func withListener(_ kind: CatalogKind, _ body: (EventCatalog, ListenerConfig) async throws -> Void) async throws {
        try await withCatalog(kind) { catalog in
            let events = try #require(catalog as? EventCatalog)
            let listener = ListenerConfig(id: catalogTestListener, name: "ingest-events", port: 11112, createdAt: at(0), updatedAt: at(0))
            try await events.createListener(listener)
            try await body(events, listener)
        }
    }

    func sink(_ name: String, types: [EventType] = [], listeners: [UUID] = [], enabled: Bool = true) -> EventSink {
        EventSink(name: name, kind: .webhook, enabled: enabled, settings: EventSinkSettings(url: "http://127.0.0.1:9/"),
                  secret: "0123456789abcdef", eventTypes: types, listenerIDs: listeners, createdAt: at(0), updatedAt: at(0))
    }

    func allEvents(_ catalog: EventCatalog) async throws -> [StoredEvent] {
        try await catalog.events(status: nil, sinkID: nil, page: PageRequest(limit: 1000)).items
    }

    func envelope(_ event: StoredEvent) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(event.body.utf8)) as? [String: Any])
    }

    @Test(arguments: CatalogKind.allCases)
    func withoutASubscribedSinkNothingIsWritten(kind: CatalogKind) async throws {
        try await withListener(kind) { catalog, listener in
            // Study events only (the default), a disabled instance sink, and one for another listener.
            try await catalog.createEventSink(sink("studies"))
            try await catalog.createEventSink(sink("off", types: [.instanceStored, .associationEnded], enabled: false))
            try await catalog.createEventSink(sink("elsewhere", types: [.instanceStored, .associationEnded], listeners: [UUID()]))
            let association = AssociationRecord(listenerID: listener.id, callingAETitle: "MODALITY", calledAETitle: "STORESCP",
                                                peerAddress: "127.0.0.1:40000", startedAt: at(1))
            try await catalog.startAssociation(association)
            try await catalog.recordInstance(makeInstance(sop: "1.9.1.1.1", series: "1.9.1.1", study: "1.9.1", association: association.id))
            try await catalog.endAssociation(id: association.id, outcome: .released, endedAt: at(2))
            #expect(try await allEvents(catalog).isEmpty)
            #expect(try await catalog.fanOutEvents(now: at(3), limit: 10).isEmpty)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func instanceStoredIsOneRowOfTheInstanceTransactionThenFannedOutOncePerSink(kind: CatalogKind) async throws {
        try await withListener(kind) { catalog, listener in
            let wants = sink("instances", types: [.instanceStored])
            let mine = sink("mine", types: [.instanceStored, .studyStable], listeners: [listener.id])
            let studiesOnly = sink("studies")
            for s in [wants, mine, studiesOnly] { try await catalog.createEventSink(s) }

            let association = UUID()
            let sent = makeInstance(sop: "1.9.2.1.1", series: "1.9.2.1", study: "1.9.2", size: 4242, association: association)
            let stored = try await catalog.recordInstance(sent)
            let written = try await allEvents(catalog)
            #expect(written.count == 1)
            let event = try #require(written.first)
            #expect(event.type == EventType.instanceStored.rawValue)
            #expect(event.subject == "1.9.2.1.1")
            #expect(event.listenerID == listener.id)
            #expect(event.deliveries.isEmpty, "deliveries are the fan-out's, not the C-STORE's")

            let cloudEvent = try envelope(event)
            #expect(cloudEvent["specversion"] as? String == "1.0")
            #expect(cloudEvent["id"] as? String == event.id.uuidString.lowercased())
            #expect(cloudEvent["type"] as? String == "dicom-ingest.instance.stored")
            #expect(cloudEvent["subject"] as? String == "1.9.2.1.1")
            #expect(cloudEvent["source"] as? String == "urn:dicom-ingest")
            #expect(cloudEvent["time"] as? String != nil)
            let data = try #require(cloudEvent["data"] as? [String: Any])
            #expect(data["sopInstanceUID"] as? String == stored.sopInstanceUID)
            #expect(data["seriesInstanceUID"] as? String == "1.9.2.1")
            #expect(data["studyInstanceUID"] as? String == "1.9.2")
            #expect(data["sizeBytes"] as? Int == 4242)
            #expect(data["storedBytes"] as? Int == Int(stored.storedBytes))
            #expect(data["sha256"] as? String == stored.sha256)
            #expect(data["objectUri"] as? String == "file:///data/DICOM/1.9.2.1.1.dcm")
            #expect(data["metadataUri"] as? String == "file:///data/METADATA/1.9.2.1.1.json")
            #expect(data["listener"] as? [String: String] == ["id": listener.id.uuidString.lowercased(), "name": "ingest-events"])
            #expect(data["associationId"] as? String == association.uuidString.lowercased())
            #expect(data["callingAETitle"] as? String == "MODALITY")
            #expect(data["receiveCount"] as? Int == 1)
            #expect(data["storageState"] as? String == "stored")
            #expect(data["modality"] as? String == "CT")

            // Fan-out: one delivery for each sink that wants it, once.
            let fanned = try await catalog.fanOutEvents(now: at(10), limit: 10)
            #expect(fanned.map(\.id) == [event.id])
            #expect(try await catalog.fanOutEvents(now: at(11), limit: 10).isEmpty)
            let withDeliveries = try #require(try await catalog.event(id: event.id))
            #expect(Set(withDeliveries.deliveries.map(\.sinkID)) == [wants.id, mine.id])
            #expect(withDeliveries.deliveries.allSatisfy { $0.status == .pending && $0.attempts == 0 })
            let claimed = try await catalog.claimDeliveries(owner: "node-a", now: at(12), leaseSeconds: 60, limit: 10)
            #expect(claimed.count == 2)
            #expect(claimed.allSatisfy { $0.body == event.body && $0.eventType == "dicom-ingest.instance.stored" })

            // A repeat is a new event describing the row as it is now.
            try await catalog.recordInstance(sent)
            let repeated = try await allEvents(catalog).filter { $0.id != event.id }
            #expect(repeated.count == 1)
            #expect(try envelope(#require(repeated.first))["data"].flatMap { ($0 as? [String: Any])?["receiveCount"] as? Int } == 2)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func aRefusedInstanceWritesNoEvent(kind: CatalogKind) async throws {
        try await withListener(kind) { catalog, _ in
            try await catalog.createEventSink(sink("instances", types: [.instanceStored]))
            try await catalog.recordInstance(makeInstance(sop: "1.9.3.1.1", series: "1.9.3.1", study: "1.9.3"))
            // The same SOP Instance UID from another listener is refused inside the instance transaction:
            // its event goes with it.
            await expectCatalogError(.conflict, field: "listenerId") {
                try await catalog.recordInstance(makeInstance(sop: "1.9.3.1.1", series: "1.9.3.1", study: "1.9.3", listener: UUID()))
            }
            #expect(try await allEvents(catalog).map(\.subject) == ["1.9.3.1.1"])
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func sinkChangesApplyToTheNextInstance(kind: CatalogKind) async throws {
        try await withListener(kind) { catalog, _ in
            try await catalog.recordInstance(makeInstance(sop: "1.9.4.1.1", series: "1.9.4.1", study: "1.9.4"))
            #expect(try await allEvents(catalog).isEmpty)

            var instances = sink("instances", types: [.instanceStored])
            try await catalog.createEventSink(instances)
            try await catalog.recordInstance(makeInstance(sop: "1.9.4.1.2", series: "1.9.4.1", study: "1.9.4", number: 2))
            #expect(try await allEvents(catalog).map(\.subject) == ["1.9.4.1.2"])

            instances.enabled = false
            try await catalog.updateEventSink(instances)
            try await catalog.recordInstance(makeInstance(sop: "1.9.4.1.3", series: "1.9.4.1", study: "1.9.4", number: 3))
            #expect(try await allEvents(catalog).count == 1)

            instances.enabled = true
            try await catalog.updateEventSink(instances)
            try await catalog.recordInstance(makeInstance(sop: "1.9.4.1.4", series: "1.9.4.1", study: "1.9.4", number: 4))
            #expect(Set(try await allEvents(catalog).map(\.subject)) == ["1.9.4.1.2", "1.9.4.1.4"])

            try await catalog.deleteEventSink(id: instances.id)
            try await catalog.recordInstance(makeInstance(sop: "1.9.4.1.5", series: "1.9.4.1", study: "1.9.4", number: 5))
            #expect(try await allEvents(catalog).count == 2)
        }
    }

    @Test(arguments: CatalogKind.allCases)
    func associationEndedCarriesTheCountsOfTheEndedRow(kind: CatalogKind) async throws {
        try await withListener(kind) { catalog, listener in
            let ends = sink("associations", types: [.associationEnded])
            try await catalog.createEventSink(ends)
            let association = AssociationRecord(listenerID: listener.id, callingAETitle: "MODALITY", calledAETitle: "STORESCP",
                                                peerAddress: "127.0.0.1:40000", startedAt: at(1))
            try await catalog.startAssociation(association)
            try await catalog.recordInstance(makeInstance(sop: "1.9.5.1.1", series: "1.9.5.1", study: "1.9.5", size: 100,
                                                          association: association.id))
            try await catalog.recordInstance(makeInstance(sop: "1.9.5.1.2", series: "1.9.5.1", study: "1.9.5", number: 2, size: 200,
                                                          association: association.id))
            try await catalog.recordFailure(associationID: association.id)
            #expect(try await allEvents(catalog).isEmpty, "instance events are opt-in")
            try await catalog.endAssociation(id: association.id, outcome: .released, endedAt: at(5))

            let event = try #require(try await allEvents(catalog).first)
            #expect(event.type == EventType.associationEnded.rawValue)
            #expect(event.subject == association.id.uuidString.lowercased())
            let cloudEvent = try envelope(event)
            #expect(cloudEvent["subject"] as? String == association.id.uuidString.lowercased())
            let data = try #require(cloudEvent["data"] as? [String: Any])
            #expect(data["associationId"] as? String == association.id.uuidString.lowercased())
            #expect(data["listener"] as? [String: String] == ["id": listener.id.uuidString.lowercased(), "name": "ingest-events"])
            #expect(data["callingAETitle"] as? String == "MODALITY")
            #expect(data["calledAETitle"] as? String == "STORESCP")
            #expect(data["peerAddress"] as? String == "127.0.0.1:40000")
            #expect(data["outcome"] as? String == "released")
            #expect(data["instancesReceived"] as? Int == 2)
            #expect(data["instancesFailed"] as? Int == 1)
            #expect(data["bytesReceived"] as? Int == 300)
            #expect(data["startedAt"] as? String == CloudEvent.timestamp(at(1)))
            #expect(data["endedAt"] as? String == CloudEvent.timestamp(at(5)))

            #expect(try await catalog.fanOutEvents(now: at(6), limit: 10).map(\.id) == [event.id])
            #expect(try await catalog.event(id: event.id)?.deliveries.map(\.sinkID) == [ends.id])
            // An unknown association records nothing, event included.
            await expectCatalogError(.notFound) { try await catalog.endAssociation(id: UUID(), outcome: .aborted, endedAt: at(7)) }
            #expect(try await allEvents(catalog).count == 1)
        }
    }

    /// Two nodes on one PostgreSQL: a sink created through node A reaches node B's ingest path when B
    /// reloads its subscriptions (the dispatcher does so every round), and concurrent fan-outs give each
    /// event one delivery per sink.
    @Test func anotherNodesSinkArrivesWithTheRefreshAndFanOutIsShared() async throws {
        try await withTwoPostgresNodes { _, _, a, b in
            try await a.createListener(ListenerConfig(id: catalogTestListener, name: "ingest-events", port: 11112))
            try await b.refreshEventSubscriptions()
            let instances = sink("instances", types: [.instanceStored])
            try await a.createEventSink(instances)
            try await b.recordInstance(makeInstance(sop: "1.9.6.1.1", series: "1.9.6.1", study: "1.9.6"))
            #expect(try await allEvents(b).isEmpty, "node B has not reloaded yet")
            try await b.refreshEventSubscriptions()
            for index in 2...41 {
                try await b.recordInstance(makeInstance(sop: "1.9.6.1.\(index)", series: "1.9.6.1", study: "1.9.6", number: index))
            }
            #expect(try await allEvents(a).count == 40)

            let fanned = try await withThrowingTaskGroup(of: [UUID].self) { group in
                for node in [a, b, a, b] {
                    group.addTask {
                        var mine: [UUID] = []
                        while true {
                            let batch = try await node.fanOutEvents(now: at(10), limit: 3)
                            if batch.isEmpty { return mine }
                            mine += batch.map(\.id)
                        }
                    }
                }
                var all: [UUID] = []
                for try await mine in group { all += mine }
                return all
            }
            #expect(fanned.count == 40)
            #expect(Set(fanned).count == 40)
            #expect(try await a.pendingDeliveries() == [instances.id: 40])
        }
    }
}

/// The subscription check of the C-STORE path is in memory: once loaded, an instance is recorded (with its
/// event) without reading `event_sinks` or `listeners`, shown here by hiding both tables from the catalog.
@Suite("Ingest events: no sink query per instance")
struct IngestEventSubscriptionReadTests {
    @Test func theInstancePathReadsNoSinkOrListenerTable() async throws {
        try await withMigratedPostgresCatalog { server, name, catalog in
            try await catalog.createListener(ListenerConfig(id: catalogTestListener, name: "ingest-events", port: 11112))
            try await catalog.createEventSink(EventSink(name: "instances", kind: .webhook,
                                                        settings: EventSinkSettings(url: "http://127.0.0.1:9/"),
                                                        secret: "0123456789abcdef", eventTypes: [.instanceStored]))
            try await catalog.recordInstance(makeInstance(sop: "1.9.7.1.1", series: "1.9.7.1", study: "1.9.7"))
            _ = try await server.query(database: name, "ALTER TABLE event_sinks RENAME TO event_sinks_hidden")
            _ = try await server.query(database: name, "ALTER TABLE listeners RENAME TO listeners_hidden")
            for index in 2...5 {
                try await catalog.recordInstance(makeInstance(sop: "1.9.7.1.\(index)", series: "1.9.7.1", study: "1.9.7",
                                                              number: index))
            }
            let rows = try await server.query(database: name, "SELECT count(*)::bigint FROM events WHERE type = 'dicom-ingest.instance.stored'")
            #expect(try rows.first?.decode(Int64.self) == 5)
            // The dispatcher's reload does read them: it fails while they are hidden.
            await #expect(throws: CatalogError.self) { try await catalog.refreshEventSubscriptions() }
        }
    }
}
