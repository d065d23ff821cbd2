import Domain
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Every route of openapi.yaml, bound to the catalog and listener ports.
struct APIRoutes: Sendable {
    let catalog: any Catalog
    let listeners: any ListenerControl
    let readiness: @Sendable () async -> [ReadinessCheck]
    let metrics: @Sendable () async -> String
    /// Where listeners may store (filesystem roots, S3 endpoints), enforced on create and update.
    let storageAccess: StorageAccessPolicy
    /// `storage.ackMode` of a listener created without one.
    var defaultAckMode: AckMode = .stored
    /// The event sinks, to refuse a listener change that breaks a `healthimaging` sink's binding.
    var events: (any EventStore)? = nil
    /// The HealthImaging import jobs shown as `imports` of a study.
    var imports: (any HealthImagingImportStore)? = nil

    func register(in router: inout RouterBuilder) {
        router.on(.GET, "/healthz", access: .open) { _ in
            try json(.ok, ["status": "ok"])
        }
        router.on(.GET, "/readyz", access: .open) { context in try await self.ready(detail: context.isAuthenticated) }
        router.on(.GET, "/metrics", access: .open) { _ in
            APIResponse.text(.ok, await self.metrics(), contentType: "text/plain; version=0.0.4; charset=utf-8")
        }
        router.on(.GET, "/openapi.yaml", access: .open) { _ in
            APIResponse.text(.ok, OpenAPISpec.yaml, contentType: "application/yaml")
        }

        router.on(.GET, "/v1/listeners", access: .read) { _ in
            let all = try await self.catalog.listListeners()
            return try json(.ok, ItemsDTO(items: all.map(ListenerDTO.init)))
        }
        router.on(.POST, "/v1/listeners", access: .write) { context in try await self.createListener(context) }
        router.on(.GET, "/v1/listeners/{id}", access: .read) { context in
            let listener = try await self.existingListener(context)
            return try json(.ok, ListenerDTO(listener: listener))
        }
        router.on(.PATCH, "/v1/listeners/{id}", access: .write) { context in try await self.patchListener(context) }
        router.on(.DELETE, "/v1/listeners/{id}", access: .write) { context in
            let listener = try await self.existingListener(context)
            try await self.catalog.deleteListener(id: listener.id)
            await self.listeners.reconcileNow()
            context.logger.info("listener deleted", metadata: ["listener_id": .string(listener.id.uuidString.lowercased())])
            return APIResponse(status: .noContent)
        }

        router.on(.GET, "/v1/studies", access: .read) { context in try await self.studies(context) }
        router.on(.GET, "/v1/studies/{studyInstanceUID}", access: .read) { context in
            let uid = try uidParameter(context, "studyInstanceUID")
            guard let study = try await self.catalog.study(uid: uid) else {
                throw Problem.notFound("No study with this Study Instance UID.")
            }
            let imports = try await self.imports?.imports(studyInstanceUID: uid) ?? []
            return try json(.ok, StudyDTO(study: study, imports: imports))
        }
        router.on(.GET, "/v1/studies/{studyInstanceUID}/series", access: .read) { context in
            let uid = try uidParameter(context, "studyInstanceUID")
            guard try await self.catalog.study(uid: uid) != nil else {
                throw Problem.notFound("No study with this Study Instance UID.")
            }
            let series = try await self.catalog.series(studyInstanceUID: uid)
            return try json(.ok, ItemsDTO(items: series.map(SeriesDTO.init)))
        }
        router.on(.GET, "/v1/series/{seriesInstanceUID}/instances", access: .read) { context in
            let uid = try uidParameter(context, "seriesInstanceUID")
            let page = try QueryParameters(context.request.rawQuery).page(.instances)
            let result = try await self.catalog.instances(seriesInstanceUID: uid, page: page)
            return try json(.ok, PageDTO(items: result.items.map(InstanceDTO.init), nextCursor: result.nextCursor))
        }
        router.on(.GET, "/v1/instances/{sopInstanceUID}", access: .read) { context in
            let uid = try uidParameter(context, "sopInstanceUID")
            guard let instance = try await self.catalog.instance(sopInstanceUID: uid) else {
                throw Problem.notFound("No instance with this SOP Instance UID.")
            }
            return try json(.ok, InstanceDTO(instance: instance))
        }
        router.on(.GET, "/v1/associations", access: .read) { context in
            let query = try QueryParameters(context.request.rawQuery)
            let listenerID = try query.uuid("listenerId")
            let page = try query.page(.associations)
            let result = try await self.catalog.associations(listenerID: listenerID, page: page)
            return try json(.ok, PageDTO(items: result.items.map(AssociationDTO.init), nextCursor: result.nextCursor))
        }
        router.on(.GET, "/v1/stats", access: .read) { _ in
            let stats = try await self.catalog.stats()
            return try json(.ok, StatsDTO(stats))
        }
    }

    // MARK: service

    private struct ReadinessBody: Encodable {
        struct Check: Encodable {
            var name: String
            var ok: Bool
            var error: String?
            var detail: String?
            enum CodingKeys: String, CodingKey { case name, ok, error, detail }
            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(name, forKey: .name)
                try c.encode(ok, forKey: .ok)
                try c.encode(error, forKey: .error)
                try c.encode(detail, forKey: .detail)
            }
        }
        var status: String
        var checks: [Check]
    }

    /// Anonymous callers (load balancers, probes) learn ready or not; the checks, which name buckets,
    /// paths and errors, need a token.
    private func ready(detail: Bool) async throws -> APIResponse {
        let checks = await readiness()
        let ready = checks.allSatisfy { $0.error == nil }
        let body = ReadinessBody(status: ready ? "ready" : "unavailable",
                                 checks: detail ? checks.map { .init(name: $0.name, ok: $0.error == nil, error: $0.error, detail: $0.detail) } : [])
        return try json(ready ? .ok : .serviceUnavailable, body)
    }

    // MARK: listeners

    private func existingListener(_ context: RequestContext) async throws -> ListenerConfig {
        guard let id = UUID(uuidString: context.parameter("id")) else {
            throw Problem.notFound("No listener with this id.")
        }
        guard let listener = try await self.catalog.listener(id: id) else {
            throw Problem.notFound("No listener with this id.")
        }
        return listener
    }

    private func createListener(_ context: RequestContext) async throws -> APIResponse {
        try requireContentType(context.request, accepted: ["application/json"])
        let document = try ListenerDocument.parseObject(context.request.body)
        let structural = ListenerDocument.check(document, against: ListenerDocument.create)
        var listener = try ListenerDocument.decode(document, structural: structural, policy: storageAccess,
                                                   resolvePath: resolvedStoragePath)
        if case .object(let members) = document, case .object(let storage)? = members["storage"], storage["ackMode"] != nil {
            // Chosen by the caller.
        } else {
            listener.storage.ackMode = defaultAckMode
        }
        let now = Date()
        listener.id = UUID()
        listener.state = .stopped
        listener.error = nil
        listener.createdAt = now
        listener.updatedAt = now
        try await self.catalog.createListener(listener)
        await listeners.reconcileNow()
        let stored = try await self.catalog.listener(id: listener.id) ?? listener
        let id = stored.id.uuidString.lowercased()
        context.logger.info("listener created", metadata: ["listener_id": .string(id)])
        var response = try json(.created, ListenerDTO(listener: stored))
        response.headers.add(name: "Location", value: "/v1/listeners/\(id)")
        return response
    }

    private func patchListener(_ context: RequestContext) async throws -> APIResponse {
        let current = try await existingListener(context)
        try requireContentType(context.request, accepted: ["application/merge-patch+json", "application/json"])
        let patch = try ListenerDocument.parseObject(context.request.body)
        var structural = ListenerDocument.check(patch, against: ListenerDocument.patch)
        // As in the spec's StoragePatch: a patch that selects s3 names the bucket too.
        if case .object(let members) = patch, case .object(let storage)? = members["storage"],
           storage["backend"] == .string("s3"), storage["bucket"] == nil {
            structural.append(Problem.FieldError(field: "storage.bucket", message: "is required when the patch sets backend to s3"))
        }
        // Members of the patch that are structurally wrong are left out of the merge, so the value rules
        // still run on the rest and every invalid field is named at once.
        var sanitizedPatch = patch
        for error in structural {
            sanitizedPatch = sanitizedPatch.removing(ListenerDocument.pathComponents(error.field))
        }
        let merged = ListenerDocument.merged(try ListenerDocument.writableDocument(of: current), patch: sanitizedPatch)
        let mergedErrors = ListenerDocument.check(merged, against: ListenerDocument.create).filter { merged in
            !structural.contains { $0.field == merged.field }
        }
        var listener = try ListenerDocument.decode(merged, structural: structural + mergedErrors, policy: storageAccess,
                                                   resolvePath: resolvedStoragePath)
        listener.id = current.id
        try await refuseBrokenHealthImagingBinding(listener)
        listener.createdAt = current.createdAt
        listener.state = current.state
        listener.error = current.error
        listener.updatedAt = Date()
        try await self.catalog.updateListener(listener)
        await listeners.reconcileNow()
        let stored = try await self.catalog.listener(id: listener.id) ?? listener
        context.logger.info("listener updated", metadata: ["listener_id": .string(listener.id.uuidString.lowercased())])
        return try json(.ok, ListenerDTO(listener: stored))
    }

    // MARK: dashboard queries

    private func studies(_ context: RequestContext) async throws -> APIResponse {
        let query = try QueryParameters(context.request.rawQuery)
        var filter = StudyFilter()
        filter.patientID = try query.string("patientId")
        filter.patientName = try query.string("patientName", maxLength: 256)
        filter.accessionNumber = try query.string("accessionNumber")
        if let range = try query.studyDate() {
            filter.studyDateFrom = range.from
            filter.studyDateTo = range.to
        }
        filter.modality = try query.string("modality", maxLength: 16)
        filter.listenerID = try query.uuid("listenerId")
        filter.callingAETitle = try query.string("callingAETitle")
        filter.receivedFrom = try query.dateTime("receivedFrom")
        filter.receivedTo = try query.dateTime("receivedTo")
        let page = try query.page(.studies)
        let result = try await self.catalog.studies(filter: filter, page: page)
        return try json(.ok, StudyPageDTO(page: result), capacity: StudyPageDTO.capacity(result.items.count))
    }
}

// MARK: helpers

/// A catalog body (studies, series, instances, associations), written by `JSONBuffer`.
func json(_ status: HTTPResponseStatus, _ value: some JSONBufferWritable, capacity: Int = 16384) throws -> APIResponse {
    var buffer = JSONBuffer(capacity: capacity)
    value.write(to: &buffer)
    return APIResponse(status: status, headers: ["Content-Type": "application/json"], body: buffer.buffer)
}

/// Any other body (listeners, stats), written by `JSONEncoder`.
func json(_ status: HTTPResponseStatus, _ value: some Encodable) throws -> APIResponse {
    APIResponse(status: status, headers: ["Content-Type": "application/json"], body: try JSONCoding.encode(value))
}

func uidParameter(_ context: RequestContext, _ name: String) throws -> String {
    let value = context.parameter(name)
    guard UIDSyntax.isValid(value, .toleratingLeadingZeros) else { throw Problem.invalid(name, "must be a DICOM UID (digits and dots, at most 64 characters)") }
    return value
}

/// The path a filesystem store will really write under: symlinks in the part of `path` that exists are
/// followed (the store's `open` of its root follows them too), the rest is appended as it is.
public func resolvedStoragePath(_ path: String) -> String {
    var existing = URL(fileURLWithPath: path)
    var missing: [String] = []
    while existing.path != "/" && !FileManager.default.fileExists(atPath: existing.path) {
        missing.insert(existing.lastPathComponent, at: 0)
        existing.deleteLastPathComponent()
    }
    var resolved = existing.resolvingSymlinksInPath().path
    for component in missing { resolved += (resolved.hasSuffix("/") ? "" : "/") + component }
    return resolved
}

/// 415 unless the body's media type (parameters such as charset ignored) is one of `accepted`.
func requireContentType(_ request: APIRequest, accepted: [String]) throws {
    guard let raw = request.headers.first(name: "Content-Type") else {
        throw Problem.unsupportedMediaType(accepted)
    }
    let mediaType = raw.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
    guard accepted.contains(mediaType) else { throw Problem.unsupportedMediaType(accepted) }
}
