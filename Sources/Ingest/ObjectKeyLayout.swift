public import Domain
public import Foundation

/// Object keys of one instance. The default layout is
/// `<dicomPrefix>/[<StudyInstanceUID>/]<SOPInstanceUID>.dcm` and
/// `<metadataPrefix>/[<StudyInstanceUID>/]<SOPInstanceUID>.json` (an empty prefix is omitted).
/// A `keyTemplate` such as `{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}` replaces the part
/// between the prefix and the extension.
///
/// Values from the data set never shape the path: UIDs must have UID syntax (PS3.5 §9.1), every other
/// value is reduced to `[A-Za-z0-9._-]` with `.`/`..` segments replaced, so no `/`, `..` or control
/// character from the wire reaches a key.
public struct ObjectKeyLayout: Sendable, Hashable {
    /// The placeholders a template may use (shared with the validation of the REST API).
    public typealias Placeholder = KeyTemplate.Placeholder

    public struct Values: Sendable, Hashable {
        public var studyInstanceUID: String?
        public var seriesInstanceUID: String?
        public var sopInstanceUID: String
        public var modality: String?
        public var callingAETitle: String
        public var calledAETitle: String
        public var listenerName: String
        public var receivedAt: Date

        public init(studyInstanceUID: String? = nil, seriesInstanceUID: String? = nil, sopInstanceUID: String, modality: String? = nil,
                    callingAETitle: String, calledAETitle: String, listenerName: String, receivedAt: Date) {
            self.studyInstanceUID = studyInstanceUID
            self.seriesInstanceUID = seriesInstanceUID
            self.sopInstanceUID = sopInstanceUID
            self.modality = modality
            self.callingAETitle = callingAETitle
            self.calledAETitle = calledAETitle
            self.listenerName = listenerName
            self.receivedAt = receivedAt
        }
    }

    public enum KeyError: Error, Sendable, Hashable, CustomStringConvertible {
        case unknownPlaceholder(String)
        case unterminatedPlaceholder
        case missingValue(Placeholder)
        case invalidUID(Placeholder)

        public var description: String {
            switch self {
            case .unknownPlaceholder(let name): return "unknown key template placeholder {\(name)}"
            case .unterminatedPlaceholder: return "key template has an unterminated '{'"
            case .missingValue(let p): return "\(p.rawValue) is missing from the data set"
            case .invalidUID(let p): return "\(p.rawValue) is not a valid UID"
            }
        }
    }

    private enum Segment: Sendable, Hashable {
        case literal(String)
        case placeholder(Placeholder)
    }

    public let dicomPrefix: String
    public let metadataPrefix: String
    private let segments: [Segment]

    /// Throws `KeyError` when the template is malformed (the API validates templates with this too).
    public init(target: StorageTarget) throws {
        self.dicomPrefix = Self.trimSlashes(target.dicomPrefix)
        self.metadataPrefix = Self.trimSlashes(target.metadataPrefix)
        if let template = target.keyTemplate, !template.isEmpty {
            self.segments = try Self.parse(template)
        } else if target.addStudyUIDPrefix {
            self.segments = [.placeholder(.studyInstanceUID), .literal("/"), .placeholder(.sopInstanceUID)]
        } else {
            self.segments = [.placeholder(.sopInstanceUID)]
        }
    }

    /// The data set attributes the key needs; the sink holds the head of the data set until they are seen.
    public var requiredDataSetPlaceholders: Set<Placeholder> {
        Set(segments.compactMap { if case .placeholder(let p) = $0, p.comesFromDataSet { return p } else { return nil } })
    }

    public func keys(for values: Values) throws -> (dicom: String, metadata: String) {
        var base = ""
        for segment in segments {
            switch segment {
            case .literal(let text): base += text
            case .placeholder(let p): base += try Self.value(p, in: values)
            }
        }
        let cleaned = base.split(separator: "/", omittingEmptySubsequences: true).map { segment -> String in
            segment == "." || segment == ".." ? "_" : String(segment)
        }.joined(separator: "/")
        return (Self.join(dicomPrefix, cleaned + ".dcm"), Self.join(metadataPrefix, cleaned + ".json"))
    }

    private static func value(_ placeholder: Placeholder, in values: Values) throws -> String {
        switch placeholder {
        case .studyInstanceUID: return try uid(values.studyInstanceUID, placeholder)
        case .seriesInstanceUID: return try uid(values.seriesInstanceUID, placeholder)
        case .sopInstanceUID: return try uid(values.sopInstanceUID, placeholder)
        case .modality:
            guard let modality = values.modality, !modality.isEmpty else { throw KeyError.missingValue(.modality) }
            return sanitize(modality)
        case .callingAETitle: return sanitize(values.callingAETitle)
        case .calledAETitle: return sanitize(values.calledAETitle)
        case .listenerName: return sanitize(values.listenerName)
        case .receivedDate:
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = TimeZone(identifier: "UTC")!
            let c = calendar.dateComponents([.year, .month, .day], from: values.receivedAt)
            return String(format: "%04d%02d%02d", c.year ?? 0, c.month ?? 0, c.day ?? 0)
        }
    }

    private static func uid(_ value: String?, _ placeholder: Placeholder) throws -> String {
        guard let value, !value.isEmpty else { throw KeyError.missingValue(placeholder) }
        guard UIDSyntax.isValid(value, .toleratingLeadingZeros) else { throw KeyError.invalidUID(placeholder) }
        return value
    }

    /// Keeps `[A-Za-z0-9._-]`, replaces anything else (incl. `/`, spaces, control characters) with `_`.
    public static func sanitize(_ value: String) -> String {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        var out = ""
        for scalar in trimmed.unicodeScalars {
            switch scalar {
            case "A"..."Z", "a"..."z", "0"..."9", ".", "_", "-": out.unicodeScalars.append(scalar)
            default: out.append("_")
            }
        }
        if out.isEmpty || out == "." || out == ".." { return "_" }
        return out
    }

    private static func parse(_ template: String) throws -> [Segment] {
        do {
            return try KeyTemplate.parse(template).map { part in
                switch part {
                case .literal(let literal): return .literal(sanitizeLiteral(literal))
                case .placeholder(let placeholder): return .placeholder(placeholder)
                }
            }
        } catch .unknownPlaceholder(let name) {
            throw KeyError.unknownPlaceholder(name)
        } catch .unterminatedPlaceholder {
            throw KeyError.unterminatedPlaceholder
        }
    }

    /// Literal parts of a template may contain `/` (folders) but nothing else outside the safe set.
    private static func sanitizeLiteral(_ literal: String) -> String {
        literal.split(separator: "/", omittingEmptySubsequences: false).map { part in
            part.isEmpty ? "" : sanitize(String(part))
        }.joined(separator: "/")
    }

    private static func trimSlashes(_ prefix: String) -> String {
        prefix.split(separator: "/", omittingEmptySubsequences: true).map { sanitize(String($0)) }.joined(separator: "/")
    }

    private static func join(_ prefix: String, _ rest: String) -> String {
        prefix.isEmpty ? rest : prefix + "/" + rest
    }
}
