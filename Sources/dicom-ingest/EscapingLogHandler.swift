import Logging

/// The text log handler's guard against forged lines: a message or metadata value may carry text from
/// the wire (AE titles, peer data, error descriptions) or from a request, and a newline or other control
/// character in it would start what looks like a log line of its own. Every such character, and the
/// backslash that introduces the escapes, is written as an escape sequence; nothing else changes.
struct EscapingLogHandler: LogHandler {
    private var inner: StreamLogHandler
    var metadata: Logger.Metadata = [:]

    init(wrapping inner: StreamLogHandler) {
        self.inner = inner
    }

    var logLevel: Logger.Level {
        get { inner.logLevel }
        set { inner.logLevel = newValue }
    }

    var metadataProvider: Logger.MetadataProvider? {
        get { inner.metadataProvider }
        set { inner.metadataProvider = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var escaped: Logger.Metadata = [:]
        for (key, value) in merged { escaped[Self.escape(key)] = .string(Self.escape(value.description)) }
        var event = event
        event.message = Logger.Message(stringLiteral: Self.escape(event.message.description))
        event.metadata = escaped
        inner.log(event: event)
    }

    /// `\n`, `\r`, `\t` and `\\` as such; other C0 and C1 controls, DEL and the Unicode line and paragraph
    /// separators as `\u{XX}`.
    static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                out.append(scalar)
                continue
            }
            let replacement: String
            switch scalar {
            case "\n": replacement = "\\n"
            case "\r": replacement = "\\r"
            case "\t": replacement = "\\t"
            case "\\": replacement = "\\\\"
            default: replacement = "\\u{" + String(scalar.value, radix: 16) + "}"
            }
            out.append(contentsOf: replacement.unicodeScalars)
        }
        return String(out)
    }

    private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0x5C: return true
        default: return false
        }
    }
}
