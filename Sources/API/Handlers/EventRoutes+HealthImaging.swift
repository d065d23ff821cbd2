import Domain
import Foundation

/// The settings of a `healthimaging` sink in `EventSinkWrite`, and the rules binding it to listeners:
/// HealthImaging imports each study's own S3 prefix, so every bound listener stores on S3, without gzip,
/// under `<dicomPrefix>/<StudyInstanceUID>/`.
enum HealthImagingSinkDocument {
    /// The members only a healthimaging sink takes.
    static let members: Set<String> = ["datastoreId", "dataAccessRoleArn", "outputS3Uri", "inputOwnerAccountId"]

    /// Reads and checks the healthimaging members into `settings`, and checks every listener of
    /// `listenerIDs` against the binding rules; each problem goes to `fail(field, message)`.
    static func decode(_ object: [String: JSONValue], string: (String, Int) -> String?, eventTypes: [EventType],
                       listenerIDs: [UUID], listenerIDsValid: Bool, listeners: [ListenerConfig]?,
                       settings: inout EventSinkSettings, fail: (String, String) -> Void) {
        if case .array(let items)? = object["eventTypes"] {
            for (index, item) in items.enumerated() {
                if case .string(let raw) = item, let type = EventType(rawValue: raw), !EventType.defaultSubscription.contains(type) {
                    fail("eventTypes[\(index)]", "must be dicom-ingest.study.stable or dicom-ingest.study.updated: a healthimaging sink imports studies")
                }
            }
        }
        func required(_ key: String, maxLength: Int, pattern: String, message: String) -> String? {
            if object[key] == nil {
                fail(key, "is required for a healthimaging sink")
                return nil
            }
            guard let value = string(key, maxLength) else { return nil }
            guard ListenerValidation.matches(value, pattern) else {
                fail(key, message)
                return nil
            }
            return value
        }
        settings.datastoreId = required("datastoreId", maxLength: 32, pattern: HealthImagingRules.datastoreIDPattern,
                                        message: "must be a HealthImaging data store id: 32 lowercase letters or digits")
        settings.dataAccessRoleArn = required("dataAccessRoleArn", maxLength: 2048, pattern: HealthImagingRules.roleARNPattern,
                                              message: "must be an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)")
        if let arn = settings.dataAccessRoleArn, arn.utf8.count < 20 {
            fail("dataAccessRoleArn", "must be at least 20 characters")
            settings.dataAccessRoleArn = nil
        }
        settings.outputS3Uri = required("outputS3Uri", maxLength: 1024, pattern: HealthImagingRules.outputS3URIPattern,
                                        message: "must be s3://<bucket>/ or s3://<bucket>/<prefix>/ (ending in /)")
        // `region` and `endpoint` are read and their syntax checked with the other AWS kinds' (`kindIssues`).
        if object["region"] == nil { fail("region", "is required for a healthimaging sink") }
        if object["inputOwnerAccountId"] != nil, let account = string("inputOwnerAccountId", 12) {
            if ListenerValidation.matches(account, HealthImagingRules.accountIDPattern) {
                settings.inputOwnerAccountId = account
            } else {
                fail("inputOwnerAccountId", "must be a 12-digit AWS account id")
            }
        }
        guard listenerIDsValid else { return }
        guard !listenerIDs.isEmpty else {
            fail("listenerIds", "must name at least one listener for a healthimaging sink (each listener's key layout is checked)")
            return
        }
        // An id no listener has is left alone, as for every sink kind: listener ids are never reused, so it
        // names nothing the sink could import from.
        guard let listeners else { return }
        for (index, id) in listenerIDs.enumerated() {
            guard let listener = listeners.first(where: { $0.id == id }) else { continue }
            for problem in HealthImagingRules.listenerProblems(listener.storage) {
                fail("listenerIds[\(index)]", "listener \(listener.name): \(problem.field) \(problem.message)")
            }
        }
    }
}

extension APIRoutes {
    /// Refuses a listener change that a `healthimaging` sink naming the listener cannot import from
    /// (gzip turned on, the study prefix removed, …): 400 naming the listener's fields.
    func refuseBrokenHealthImagingBinding(_ listener: ListenerConfig) async throws {
        guard let events else { return }
        let bound = try await events.listEventSinks().filter { $0.kind == .healthimaging && $0.listenerIDs.contains(listener.id) }
        guard let sink = bound.first else { return }
        let problems = HealthImagingRules.listenerProblems(listener.storage)
        guard !problems.isEmpty else { return }
        throw Problem.validation(problems.map { .init(field: $0.field, message: $0.message) },
                                 detail: "The listener is bound to the healthimaging event sink \(sink.name); invalid value for: "
                                     + problems.map(\.field).joined(separator: ", "))
    }
}
