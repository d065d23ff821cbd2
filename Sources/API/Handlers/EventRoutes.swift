import Domain
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// `/v1/event-sinks` (admin only) and `/v1/events`: where study events go, and what became of them.
struct EventRoutes: Sendable {
    let events: any EventStore
    /// Which regions and endpoints the AWS sink kinds may use.
    var awsPolicy: AWSEventSinkPolicy = .unrestricted
    /// The listeners a sink may name (a healthimaging sink's are checked against its binding rules).
    var catalog: (any Catalog)? = nil

    func register(in router: inout RouterBuilder) {
        router.on(.GET, "/v1/event-sinks", access: .write) { _ in
            let all = try await self.events.listEventSinks()
            return try json(.ok, ItemsDTO(items: all.map(EventSinkDTO.init)))
        }
        router.on(.POST, "/v1/event-sinks", access: .write) { context in
            try requireContentType(context.request, accepted: ["application/json"])
            var sink = try EventSinkDocument.decode(context.request.body, current: nil, awsPolicy: self.awsPolicy,
                                                    listeners: try await self.catalog?.listListeners())
            let now = Date()
            sink.id = UUID()
            sink.createdAt = now
            sink.updatedAt = now
            try await self.events.createEventSink(sink)
            let id = sink.id.uuidString.lowercased()
            context.logger.info("event sink created", metadata: ["sink_id": .string(id)])
            var response = try json(.created, EventSinkDTO(sink: sink))
            response.headers.add(name: "Location", value: "/v1/event-sinks/\(id)")
            return response
        }
        router.on(.GET, "/v1/event-sinks/{id}", access: .write) { context in
            try json(.ok, EventSinkDTO(sink: try await self.existingSink(context)))
        }
        router.on(.PUT, "/v1/event-sinks/{id}", access: .write) { context in
            let current = try await self.existingSink(context)
            try requireContentType(context.request, accepted: ["application/json"])
            var sink = try EventSinkDocument.decode(context.request.body, current: current, awsPolicy: self.awsPolicy,
                                                    listeners: try await self.catalog?.listListeners())
            sink.id = current.id
            sink.createdAt = current.createdAt
            sink.updatedAt = Date()
            try await self.events.updateEventSink(sink)
            context.logger.info("event sink updated", metadata: ["sink_id": .string(sink.id.uuidString.lowercased())])
            return try json(.ok, EventSinkDTO(sink: sink))
        }
        router.on(.DELETE, "/v1/event-sinks/{id}", access: .write) { context in
            let sink = try await self.existingSink(context)
            try await self.events.deleteEventSink(id: sink.id)
            context.logger.info("event sink deleted", metadata: ["sink_id": .string(sink.id.uuidString.lowercased())])
            return APIResponse(status: .noContent)
        }

        router.on(.GET, "/v1/events", access: .read) { context in
            let query = try QueryParameters(context.request.rawQuery)
            var errors: [Problem.FieldError] = []
            var status: DeliveryStatus?
            if let raw = try query.string("status") {
                status = DeliveryStatus(rawValue: raw)
                if status == nil { errors.append(.init(field: "status", message: "must be one of: pending, delivered, failed")) }
            }
            var sinkID: UUID?
            do { sinkID = try query.uuid("sinkId") } catch let problem as Problem { errors += problem.errors ?? [] }
            var page = PageRequest()
            do { page = try query.page(.events) } catch let problem as Problem { errors += problem.errors ?? [] }
            guard errors.isEmpty else { throw Problem.validation(errors) }
            let result = try await self.events.events(status: status, sinkID: sinkID, page: page)
            return try json(.ok, PageDTO(items: result.items.map(EventDTO.init), nextCursor: result.nextCursor))
        }
        router.on(.GET, "/v1/events/{id}", access: .read) { context in
            try json(.ok, EventDTO(event: try await self.existingEvent(context)))
        }
        router.on(.POST, "/v1/events/{id}/redeliver", access: .write) { context in
            let event = try await self.existingEvent(context)
            try await self.events.redeliver(eventID: event.id, now: Date())
            context.logger.info("event redelivery requested", metadata: ["event_id": .string(event.id.uuidString.lowercased())])
            let updated = try await self.events.event(id: event.id) ?? event
            return try json(.accepted, EventDTO(event: updated))
        }
    }

    private func existingSink(_ context: RequestContext) async throws -> EventSink {
        guard let id = UUID(uuidString: context.parameter("id")),
              let sink = try await self.events.eventSink(id: id) else {
            throw Problem.notFound("No event sink with this id.")
        }
        return sink
    }

    private func existingEvent(_ context: RequestContext) async throws -> StoredEvent {
        guard let id = UUID(uuidString: context.parameter("id")),
              let event = try await self.events.event(id: id) else {
            throw Problem.notFound("No event with this id.")
        }
        return event
    }
}

/// The body of `POST /v1/event-sinks` and `PUT /v1/event-sinks/{id}` (`EventSinkWrite` in openapi.yaml).
/// Every invalid member is named at once. On PUT an absent `secret` keeps the stored one.
enum EventSinkDocument {
    static let members: Set<String> = kindMembers.values.reduce(into: ["name", "kind", "enabled", "eventTypes", "listenerIds"]) {
        $0.formUnion($1)
    }
    static let readOnly: Set<String> = ["id", "secretSet", "createdAt", "updatedAt"]
    /// The kinds this server delivers to.
    static let supportedKinds: [EventSinkKind] = [.webhook, .eventbridge, .sns, .healthimaging]

    /// `listeners`: every listener, to check the listeners a healthimaging sink names (nil: not checked).
    static func decode(_ body: ByteBuffer, current: EventSink?, awsPolicy: AWSEventSinkPolicy = .unrestricted,
                       listeners: [ListenerConfig]? = nil) throws -> EventSink {
        let document = try ListenerDocument.parseObject(body)
        guard case .object(let object) = document else { throw Problem.malformedJSON("The request body must be a JSON object.") }
        var errors: [Problem.FieldError] = []
        func fail(_ field: String, _ message: String) { errors.append(.init(field: field, message: message)) }
        for key in object.keys.sorted() where !members.contains(key) {
            fail(key, readOnly.contains(key) ? "is read-only and must not be sent" : "is not a known field")
        }
        // No member of an event sink is nullable (openapi.yaml): null is not "absent".
        for key in object.keys.sorted() where members.contains(key) {
            if case .null? = object[key] { fail(key, "must not be null") }
        }
        func string(_ key: String, maxLength: Int = 2048) -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let value)?:
                if value.isEmpty || value.unicodeScalars.count > maxLength || value.unicodeScalars.contains("\0") {
                    fail(key, "must be 1-\(maxLength) characters without NUL")
                    return nil
                }
                return value
            default:
                fail(key, "must be a string")
                return nil
            }
        }

        let name = string("name", maxLength: 63)
        if object["name"] == nil { fail("name", "is required") }
        if let name, !ListenerValidation.matches(name, ListenerValidation.Pattern.name) {
            fail("name", "must be 1-63 lowercase letters, digits or hyphens, starting with a letter or digit")
        }
        let kindText = string("kind", maxLength: 32)
        var kind: EventSinkKind?
        if object["kind"] == nil { fail("kind", "is required") }
        if let kindText {
            kind = EventSinkKind(rawValue: kindText).flatMap { supportedKinds.contains($0) ? $0 : nil }
            if kind == nil { fail("kind", "must be one of: \(supportedKinds.map(\.rawValue).joined(separator: ", "))") }
        }
        var enabled = true
        switch object["enabled"] {
        case nil, .null?: break
        case .bool(let value)?: enabled = value
        default: fail("enabled", "must be a boolean")
        }
        // Each kind reads its own members; `kindIssues` refuses the members of other kinds.
        var settings = EventSinkSettings(
            url: string("url"), eventBusName: string("eventBusName", maxLength: AWSResourceName.maxEventBusNameLength),
            source: string("source", maxLength: AWSResourceName.maxEventSourceLength),
            topicArn: string("topicArn", maxLength: AWSResourceName.maxTopicARNLength), region: string("region", maxLength: 32),
            endpoint: string("endpoint"))
        // Only a webhook sink has a secret.
        let secret = kind == .webhook || kind == nil ? string("secret", maxLength: 256) ?? current?.secret : nil
        var eventTypes: [EventType] = []
        switch object["eventTypes"] {
        case nil, .null?: break
        case .array(let items)?:
            for (index, item) in items.enumerated() {
                if case .string(let raw) = item, let type = EventType(rawValue: raw) {
                    if !eventTypes.contains(type) { eventTypes.append(type) }
                } else {
                    fail("eventTypes[\(index)]", "must be one of: \(EventType.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
        default: fail("eventTypes", "must be an array")
        }
        var listenerIDs: [UUID] = []
        let errorsBeforeListenerIDs = errors.count
        switch object["listenerIds"] {
        case nil, .null?: break
        case .array(let items)?:
            if items.count > 256 { fail("listenerIds", "must have at most 256 items") }
            for (index, item) in items.enumerated() {
                if case .string(let raw) = item, let id = UUID(uuidString: raw) {
                    listenerIDs.append(id)
                } else {
                    fail("listenerIds[\(index)]", "must be a listener id (UUID)")
                }
            }
        default: fail("listenerIds", "must be an array")
        }

        if kind == .webhook {
            if object["url"] == nil { fail("url", "is required for a webhook sink") }
            if let url = settings.url {
                let parsed = URL(string: url)
                let scheme = parsed?.scheme?.lowercased()
                if parsed == nil || !(scheme == "http" || scheme == "https") || (parsed?.host ?? "").isEmpty {
                    fail("url", "must be an absolute http or https URL")
                }
            }
            // On PUT of another kind the missing secret is no error of its own: the change of kind is (409 below).
            if secret == nil, object["secret"] == nil, (current?.kind ?? .webhook) == .webhook {
                fail("secret", "is required for a webhook sink")
            }
            if let raw = object["secret"], case .string(let value) = raw, value.unicodeScalars.count < 16 {
                fail("secret", "must be at least 16 characters")
            }
        }
        if kind == .healthimaging {
            HealthImagingSinkDocument.decode(object, string: { string($0, maxLength: $1) }, eventTypes: eventTypes,
                                             listenerIDs: listenerIDs,
                                             listenerIDsValid: errors.count == errorsBeforeListenerIDs, listeners: listeners,
                                             settings: &settings, fail: fail)
        }
        if let kind { errors += kindIssues(kind: kind, object: object, settings: settings, policy: awsPolicy) }
        guard errors.isEmpty, let name, let kind else {
            throw Problem.validation(errors.isEmpty ? [.init(field: "body", message: "is not a valid event sink")] : errors)
        }
        if let current, current.kind != kind { throw kindChange(from: current.kind, to: kind) }
        return EventSink(name: name, kind: kind, enabled: enabled, settings: settings, secret: secret, eventTypes: eventTypes,
                         listenerIDs: listenerIDs)
    }
}

/// `EventSink` of openapi.yaml: the secret is never returned, only whether one is set.
struct EventSinkDTO: Encodable {
    var sink: EventSink

    enum CodingKeys: String, CodingKey {
        case id, name, kind, enabled, url, eventBusName, source, topicArn, region, endpoint, eventTypes, listenerIDs = "listenerIds"
        case datastoreId, dataAccessRoleArn, outputS3Uri, inputOwnerAccountId
        case secretSet, createdAt, updatedAt
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(sink.id.uuidString.lowercased(), forKey: .id)
        try c.encode(sink.name, forKey: .name)
        try c.encode(sink.kind.rawValue, forKey: .kind)
        try c.encode(sink.enabled, forKey: .enabled)
        try c.encode(sink.settings.url, forKey: .url)
        try c.encode(sink.settings.eventBusName, forKey: .eventBusName)
        try c.encode(sink.settings.source, forKey: .source)
        try c.encode(sink.settings.topicArn, forKey: .topicArn)
        try c.encode(sink.settings.region, forKey: .region)
        try c.encode(sink.settings.endpoint, forKey: .endpoint)
        if sink.kind == .healthimaging {
            try c.encode(sink.settings.datastoreId, forKey: .datastoreId)
            try c.encode(sink.settings.dataAccessRoleArn, forKey: .dataAccessRoleArn)
            try c.encode(sink.settings.outputS3Uri, forKey: .outputS3Uri)
            try c.encode(sink.settings.inputOwnerAccountId, forKey: .inputOwnerAccountId)
        }
        let types = sink.eventTypes.isEmpty ? EventType.defaultSubscription : sink.eventTypes
        try c.encode(types.map(\.rawValue), forKey: .eventTypes)
        try c.encode(sink.listenerIDs.map { $0.uuidString.lowercased() }, forKey: .listenerIDs)
        try c.encode(sink.secret != nil, forKey: .secretSet)
        try c.encode(sink.createdAt, forKey: .createdAt)
        try c.encode(sink.updatedAt, forKey: .updatedAt)
    }
}

/// `Event` of openapi.yaml: the stored CloudEvent and its deliveries.
struct EventDTO: Encodable {
    var event: StoredEvent

    enum CodingKeys: String, CodingKey { case id, type, subject, listenerID = "listenerId", revision, createdAt, cloudEvent, deliveries }
    enum DeliveryKeys: String, CodingKey { case sinkID = "sinkId", status, attempts, nextAttemptAt, lastAttemptAt, deliveredAt, lastError }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(event.id.uuidString.lowercased(), forKey: .id)
        try c.encode(event.type, forKey: .type)
        try c.encode(event.subject, forKey: .subject)
        try c.encode(event.listenerID?.uuidString.lowercased(), forKey: .listenerID)
        try c.encode(event.revision, forKey: .revision)
        try c.encode(event.createdAt, forKey: .createdAt)
        try c.encode(try JSONDecoder().decode(JSONValue.self, from: Data(event.body.utf8)), forKey: .cloudEvent)
        var list = c.nestedUnkeyedContainer(forKey: .deliveries)
        for delivery in event.deliveries {
            var d = list.nestedContainer(keyedBy: DeliveryKeys.self)
            try d.encode(delivery.sinkID.uuidString.lowercased(), forKey: .sinkID)
            try d.encode(delivery.status.rawValue, forKey: .status)
            try d.encode(delivery.attempts, forKey: .attempts)
            try d.encode(delivery.nextAttemptAt, forKey: .nextAttemptAt)
            try d.encode(delivery.lastAttemptAt, forKey: .lastAttemptAt)
            try d.encode(delivery.deliveredAt, forKey: .deliveredAt)
            try d.encode(delivery.lastError, forKey: .lastError)
        }
    }
}
