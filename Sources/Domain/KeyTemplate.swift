/// The `storage.keyTemplate` of a listener: literal folders and `{Placeholder}`s that together name the
/// object of one instance, between the prefix and the extension (`.dcm`, `.json`). The listener runtime
/// turns it into keys; the REST API and the executable refuse a template that cannot name every instance
/// of a listener apart.
public enum KeyTemplate {
    /// The values a template may use. Each has an upper bound on its length once in a key.
    public enum Placeholder: String, Sendable, Hashable, CaseIterable {
        case studyInstanceUID = "StudyInstanceUID"
        case seriesInstanceUID = "SeriesInstanceUID"
        case sopInstanceUID = "SOPInstanceUID"
        case modality = "Modality"
        case callingAETitle = "CallingAETitle"
        case calledAETitle = "CalledAETitle"
        case listenerName = "ListenerName"
        /// `YYYYMMDD` (UTC) of the receive.
        case receivedDate = "ReceivedDate"

        /// Placeholders whose value comes from the data set (the rest is known when the C-STORE starts).
        public var comesFromDataSet: Bool {
            switch self {
            case .studyInstanceUID, .seriesInstanceUID, .modality: return true
            default: return false
            }
        }

        /// Longest value in a key: UIDs 64 (PS3.5 §9.1), AE titles 16 and CS 16 (PS3.5 §6.2), listener names 63.
        public var maximumLength: Int {
            switch self {
            case .studyInstanceUID, .seriesInstanceUID, .sopInstanceUID: return 64
            case .modality, .callingAETitle, .calledAETitle: return 16
            case .listenerName: return 63
            case .receivedDate: return 8
            }
        }
    }

    public enum Part: Sendable, Hashable {
        case literal(String)
        case placeholder(Placeholder)
    }

    public enum ParseError: Error, Sendable, Hashable {
        case unknownPlaceholder(String)
        case unterminatedPlaceholder
    }

    /// Splits a template into literal text and placeholders. `{` opens a placeholder that the next `}`
    /// closes; the name between them must be one of `Placeholder`.
    public static func parse(_ template: String) throws(ParseError) -> [Part] {
        var parts: [Part] = []
        var literal = ""
        var iterator = template.makeIterator()
        while let ch = iterator.next() {
            guard ch == "{" else {
                literal.append(ch)
                continue
            }
            var name = ""
            var closed = false
            while let inner = iterator.next() {
                if inner == "}" { closed = true; break }
                name.append(inner)
            }
            guard closed else { throw .unterminatedPlaceholder }
            guard let placeholder = Placeholder(rawValue: name) else { throw .unknownPlaceholder(name) }
            if !literal.isEmpty { parts.append(.literal(literal)); literal = "" }
            parts.append(.placeholder(placeholder))
        }
        if !literal.isEmpty { parts.append(.literal(literal)) }
        return parts
    }

    /// Longest key (UTF-8 bytes) S3 and the filesystem store accept.
    public static let maximumKeyLength = 1024
    /// `.json`, the longer of the two extensions.
    static let longestExtension = 5

    /// Why `template` cannot serve as a listener's key template, or nil when it can. Beyond parsing:
    /// `{SOPInstanceUID}` is required (without it two instances share a key and the second overwrites the
    /// first); literal text is limited to `[A-Za-z0-9._-]` and `/` between folders, never at the start
    /// (no absolute path), never `//`, `.` or `..` as a folder; the longest key it can produce, with
    /// `prefix`, fits in `maximumKeyLength`.
    public static func problem(with template: String, longestPrefix: Int) -> String? {
        let parts: [Part]
        do {
            parts = try parse(template)
        } catch .unknownPlaceholder(let name) {
            let known = Placeholder.allCases.map { "{\($0.rawValue)}" }.joined(separator: ", ")
            return "uses an unknown placeholder {\(name.prefix(64))}; known: \(known)"
        } catch {
            return "has a '{' without its closing '}'"
        }
        guard parts.contains(.placeholder(.sopInstanceUID)) else {
            return "must contain {SOPInstanceUID}, or instances of one study overwrite each other"
        }
        var text = ""
        var longest = longestPrefix + 1 + longestExtension
        for part in parts {
            switch part {
            case .literal(let literal):
                let allowed = literal.unicodeScalars.allSatisfy { scalar in
                    switch scalar {
                    case "A"..."Z", "a"..."z", "0"..."9", ".", "_", "-", "/": return true
                    default: return false
                    }
                }
                guard allowed else {
                    return "literal text may use only letters, digits, '.', '_', '-' and '/' between folders"
                }
                text += literal
                longest += literal.utf8.count
            case .placeholder(let placeholder):
                // Any non-empty, dot-free stand-in: only the literal folder structure is checked below.
                text += "x"
                longest += placeholder.maximumLength
            }
        }
        if text.hasPrefix("/") { return "must be relative: it must not start with '/'" }
        if text.hasSuffix("/") { return "must not end with '/': the last part names the object" }
        for folder in text.split(separator: "/", omittingEmptySubsequences: false) {
            if folder.isEmpty { return "must not contain an empty folder ('//')" }
            if folder == "." || folder == ".." { return "must not contain '.' or '..' as a folder" }
        }
        if longest > maximumKeyLength {
            return "can produce keys longer than \(maximumKeyLength) bytes with the prefixes (at most \(longest))"
        }
        return nil
    }
}
