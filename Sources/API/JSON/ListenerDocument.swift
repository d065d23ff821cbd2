import Domain
import Foundation
import NIOCore
import NIOFoundationCompat

/// The expected shape of a listener request body, mirroring `ListenerCreate` / `ListenerPatch` in
/// openapi.yaml: member names, JSON types and nullability. Value rules (patterns, ranges, cross-field)
/// live in `ListenerValidation`.
indirect enum Shape: Sendable {
    case string
    case boolean
    case integer
    case stringEnum([String])
    case array(Shape)
    case object([String: Shape], required: Set<String> = [])
    case nullable(Shape)
}

enum ListenerDocument {
    static let readOnlyFields: Set<String> = ["id", "state", "error", "createdAt", "updatedAt"]

    static let tls: Shape = .object([
        "certificateFile": .string, "privateKeyFile": .string, "clientCAFile": .nullable(.string),
        "requireClientCertificate": .boolean,
    ], required: ["certificateFile", "privateKeyFile"])

    static func storage(patch: Bool) -> Shape {
        func d(_ s: Shape) -> Shape { patch ? .nullable(s) : s }
        return .object([
            "backend": d(.stringEnum(["s3", "filesystem"])),
            // Not nullable in a patch: switch the backend instead (the bucket of a filesystem target is unused).
            "bucket": patch ? .string : .nullable(.string),
            "region": .nullable(.string), "endpoint": .nullable(.string), "path": .nullable(.string),
            "dicomPrefix": d(.string), "metadataPrefix": d(.string), "addStudyUIDPrefix": d(.boolean),
            "keyTemplate": .nullable(.string), "gzip": d(.boolean), "gzipLevel": d(.integer),
            "createMetadata": d(.boolean), "storageClass": .nullable(.string),
            "serverSideEncryption": .nullable(.stringEnum(["AES256", "aws:kms"])), "kmsKeyId": .nullable(.string),
            "ackMode": d(.stringEnum(["stored", "spooled"])),
        ])
    }

    static func limits(patch: Bool) -> Shape {
        func d(_ s: Shape) -> Shape { patch ? .nullable(s) : s }
        return .object([
            "maxAssociations": d(.integer), "maxPDUSize": d(.integer), "dimseTimeoutSeconds": d(.integer),
            "networkTimeoutSeconds": d(.integer), "cstoreDelayMs": d(.integer),
            "maxInflatedBytes": d(.integer), "maxInflationRatio": d(.integer),
        ])
    }

    /// POST body: `name` and `port` required, everything else defaulted.
    static let create: Shape = .object([
        "name": .string, "enabled": .boolean, "port": .integer, "bindAddress": .string, "aeTitle": .string,
        "requireCalledAETitle": .boolean, "allowedCallingAETitles": .array(.string), "allowedPeers": .array(.string),
        "allowedSOPClasses": .array(.string),
        "tls": .nullable(tls), "storage": storage(patch: false), "limits": limits(patch: false),
        "studyStableSeconds": .nullable(.integer),
    ], required: ["name", "port"])

    /// PATCH body (RFC 7396): every member optional; `null` resets a member to its default, except
    /// `name` and `port`, which cannot be removed, and `studyStableSeconds`, whose null is a value (study
    /// events off, as on create). `tls` is replaced whole (or removed with null).
    static let patch: Shape = .object([
        "name": .string, "enabled": .nullable(.boolean), "port": .integer, "bindAddress": .nullable(.string),
        "aeTitle": .nullable(.string), "requireCalledAETitle": .nullable(.boolean),
        "allowedCallingAETitles": .nullable(.array(.string)), "allowedPeers": .nullable(.array(.string)),
        "allowedSOPClasses": .nullable(.array(.string)),
        "tls": .nullable(tls), "storage": .nullable(storage(patch: true)), "limits": .nullable(limits(patch: true)),
        "studyStableSeconds": .nullable(.integer),
    ])

    /// Parses a body into a JSON object, or throws a 400 problem.
    static func parseObject(_ body: ByteBuffer) throws -> JSONValue {
        guard body.readableBytes > 0 else { throw Problem.malformedJSON("The request body is empty; a JSON object is required.") }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: body))
        } catch {
            throw Problem.malformedJSON("The request body is not valid JSON.")
        }
        guard case .object = value else { throw Problem.malformedJSON("The request body must be a JSON object.") }
        return value
    }

    /// Structural errors of `value` against `shape`: unknown and read-only members, wrong types, nulls
    /// where not allowed, missing required members.
    static func check(_ value: JSONValue, against shape: Shape, at path: String = "") -> [Problem.FieldError] {
        func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
        func fail(_ message: String) -> [Problem.FieldError] { [Problem.FieldError(field: path, message: message)] }
        switch shape {
        case .nullable(let inner):
            return value == .null ? [] : check(value, against: inner, at: path)
        case _ where value == .null:
            return fail("must not be null")
        case .string:
            if case .string = value { return [] }
            return fail("must be a string")
        case .boolean:
            if case .bool = value { return [] }
            return fail("must be a boolean")
        case .integer:
            guard let i = value.integerValue else { return fail("must be an integer") }
            return Int(exactly: i) == nil ? fail("is out of range") : []
        case .stringEnum(let allowed):
            if case .string(let s) = value, allowed.contains(s) { return [] }
            return fail("must be one of: \(allowed.joined(separator: ", "))")
        case .array(let item):
            guard case .array(let items) = value else { return fail("must be an array") }
            var errors: [Problem.FieldError] = []
            for (index, element) in items.enumerated() {
                errors += check(element, against: item, at: "\(path)[\(index)]")
            }
            return errors
        case .object(let members, let required):
            guard case .object(let object) = value else { return fail("must be an object") }
            var errors: [Problem.FieldError] = []
            for key in object.keys.sorted() {
                guard let memberShape = members[key] else {
                    let message = path.isEmpty && readOnlyFields.contains(key) ? "is read-only and must not be sent" : "is not a known field"
                    errors.append(Problem.FieldError(field: name(key), message: message))
                    continue
                }
                errors += check(object[key]!, against: memberShape, at: name(key))
            }
            for key in required.sorted() where object[key] == nil {
                errors.append(Problem.FieldError(field: name(key), message: "is required"))
            }
            return errors
        }
    }

    /// The writable members of a stored listener as a JSON object (the base a merge patch applies to).
    static func writableDocument(of listener: ListenerConfig) throws -> JSONValue {
        let data = try JSONCoding.makeEncoder().encode(ListenerDTO(listener: listener))
        guard case .object(var members) = try JSONDecoder().decode(JSONValue.self, from: data) else {
            throw Problem.internalError
        }
        for key in readOnlyFields { members.removeValue(forKey: key) }
        return .object(members)
    }

    /// Members whose `null` in a patch is a value to store, not a removal (RFC 7396 would reset them to
    /// their default): `studyStableSeconds: null` turns study events off, on PATCH as on POST.
    static let nullIsValue: Set<String> = ["studyStableSeconds"]

    /// `patch` applied to the writable document `base` (RFC 7396), except that a top-level null of
    /// `nullIsValue` is kept as null.
    static func merged(_ base: JSONValue, patch: JSONValue) -> JSONValue {
        var result = base.merging(patch: patch)
        if case .object(let members) = patch {
            for key in nullIsValue where members[key] == .null {
                result = result.setting([key], to: .null)
            }
        }
        return result
    }

    /// Decodes a document and applies the value rules and the operator's storage policy, naming every
    /// invalid field at once: members with a structural error (`structural`, from `check`) are set aside
    /// so that the value rules still run on everything else.
    static func decode(_ value: JSONValue, structural: [Problem.FieldError] = [], policy: StorageAccessPolicy = .unrestricted,
                       resolvePath: (String) -> String = { $0 }) throws -> ListenerConfig {
        var document = value
        var setAside: [String] = []
        for error in structural {
            var path = pathComponents(error.field)
            guard !path.isEmpty else { continue }
            if error.message == "is required" {
                if path.count == 1 {
                    // A required top-level member: a stand-in lets the other members be checked.
                    document = document.setting(path, to: path[0] == "port" ? .integer(1) : .string("placeholder"))
                    setAside.append(error.field)
                    continue
                }
                path.removeLast()  // a required member of `tls`: set the whole object aside
            }
            if path == ["name"] || path == ["port"] {
                // Required: a stand-in rather than a gap, so the document still decodes.
                document = document.setting(path, to: path[0] == "port" ? .integer(1) : .string("placeholder"))
            } else {
                document = document.removing(path)
            }
            setAside.append(path.joined(separator: "."))
        }
        let config: ListenerConfig
        do {
            let data = try JSONEncoder().encode(document)
            config = try JSONCoding.makeDecoder().decode(ListenerDTO.self, from: data).listener
        } catch {
            if !structural.isEmpty { throw Problem.validation(ordered(structural)) }
            throw Problem.malformedJSON("The listener could not be read from the request body.")
        }
        let issues = ListenerValidation.validate(config) + policy.validate(config.storage, resolve: resolvePath)
        let valueErrors = issues.map(\.fieldError).filter { issue in
            !setAside.contains { issue.field == $0 || issue.field.hasPrefix($0 + ".") || issue.field.hasPrefix($0 + "[") }
        }
        let all = structural + valueErrors
        if !all.isEmpty { throw Problem.validation(ordered(all)) }
        return config
    }

    /// Top-level member order of `ListenerCreate` in openapi.yaml.
    static let memberOrder = ["name", "enabled", "port", "bindAddress", "aeTitle", "requireCalledAETitle", "allowedCallingAETitles",
                              "allowedPeers", "allowedSOPClasses", "tls", "storage", "limits", "studyStableSeconds"]

    /// Field errors in the order of the members they name (a stable, readable order); within one
    /// member, in the order they were found.
    static func ordered(_ errors: [Problem.FieldError]) -> [Problem.FieldError] {
        func rank(_ field: String) -> Int {
            let top = field.split(whereSeparator: { $0 == "." || $0 == "[" }).first.map(String.init) ?? ""
            return memberOrder.firstIndex(of: top) ?? memberOrder.count
        }
        return errors.enumerated().sorted { a, b in
            let (ra, rb) = (rank(a.element.field), rank(b.element.field))
            return ra != rb ? ra < rb : a.offset < b.offset
        }.map(\.element)
    }

    /// `storage.bucket` → [storage, bucket]; an array element (`allowedPeers[2]`) stands for its array.
    static func pathComponents(_ field: String) -> [String] {
        var components: [String] = []
        for part in field.split(separator: ".", omittingEmptySubsequences: true) {
            if let bracket = part.firstIndex(of: "[") {
                components.append(String(part[..<bracket]))
                break
            }
            components.append(String(part))
        }
        return components
    }
}

extension JSONValue {
    /// This document without the member at `path` (unchanged when absent).
    func removing(_ path: [String]) -> JSONValue {
        guard let first = path.first, case .object(var members) = self else { return self }
        if path.count == 1 {
            members.removeValue(forKey: first)
        } else if let child = members[first] {
            members[first] = child.removing(Array(path.dropFirst()))
        }
        return .object(members)
    }

    /// This document with the member at `path` set to `value`.
    func setting(_ path: [String], to value: JSONValue) -> JSONValue {
        guard let first = path.first, case .object(var members) = self else { return self }
        members[first] = path.count == 1 ? value : (members[first] ?? .object([:])).setting(Array(path.dropFirst()), to: value)
        return .object(members)
    }
}
