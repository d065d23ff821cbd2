import Foundation
import NIOCore

/// A JSON document written straight into a `ByteBuffer`, for the list responses a dashboard polls.
///
/// `JSONEncoder` spent more than half of the service's CPU on a page of 100 studies (boxing every value,
/// dictionaries per object, generic metadata lookups); this writes the same JSON — same members in the
/// same order, explicit nulls, RFC 3339 UTC dates with milliseconds, slashes unescaped — with no
/// intermediate values. `JSONBufferTests` checks it against `JSONCoding.encode` member for member.
struct JSONBuffer {
    /// The document so far (plain bytes: appending to an array is cheaper than ByteBuffer's checked writes).
    private var bytes: [UInt8] = []
    /// Whether the next member or element needs a comma before it.
    private var needsComma = false

    init(capacity: Int = 16384) {
        bytes.reserveCapacity(capacity)
    }

    /// The document as a buffer (one copy).
    var buffer: ByteBuffer { ByteBuffer(bytes: bytes) }

    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// A member name; the value follows. Names are our own ASCII identifiers: written as they are.
    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        appendStatic("\":")
        needsComma = false
    }

    /// A member name only known at run time (escaped like a string value).
    mutating func key(dynamic name: String) {
        separate()
        writeEscaped(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// A number already in JSON syntax.
    mutating func rawNumber(_ text: String) {
        separate()
        bytes.append(contentsOf: Array(text.utf8))
        needsComma = true
    }

    mutating func null() {
        separate()
        appendStatic("null")
        needsComma = true
    }

    mutating func bool(_ value: Bool) {
        separate()
        appendStatic(value ? "true" : "false")
        needsComma = true
    }

    mutating func int<T: BinaryInteger>(_ value: T) {
        separate()
        writeDecimal(Int64(value))
        needsComma = true
    }

    mutating func int<T: BinaryInteger>(_ value: T?) {
        if let value { int(value) } else { null() }
    }

    mutating func string(_ value: String) {
        separate()
        writeEscaped(value)
        needsComma = true
    }

    mutating func string(_ value: String?) {
        if let value { string(value) } else { null() }
    }

    mutating func strings(_ values: [String]) {
        beginArray()
        for value in values { string(value) }
        endArray()
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, milliseconds truncated (as `JSONCoding.formatDate`).
    mutating func date(_ value: Date) {
        separate()
        writeDate(value)
        needsComma = true
    }

    mutating func date(_ value: Date?) {
        if let value { date(value) } else { null() }
    }

    mutating func uuid(_ value: UUID) {
        string(value.uuidString.lowercased())
    }

    // MARK: Writing

    private mutating func appendStatic(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func writeDecimal(_ value: Int64) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var magnitude = value.magnitude
        var count = 0
        withUnsafeMutableBytes(of: &digits) { raw in
            repeat {
                raw[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            if value < 0 { bytes.append(UInt8(ascii: "-")) }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[(20 - count)...]))
        }
    }

    private mutating func writeEscaped(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { utf8 in
            var start = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                if start < index {
                    bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start..<index]))
                }
                switch byte {
                case UInt8(ascii: "\""): appendStatic("\\\"")
                case UInt8(ascii: "\\"): appendStatic("\\\\")
                case 0x0A: appendStatic("\\n")
                case 0x0D: appendStatic("\\r")
                case 0x09: appendStatic("\\t")
                case 0x08: appendStatic("\\b")
                case 0x0C: appendStatic("\\f")
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    appendStatic("\\u00")
                    bytes.append(hex[Int(byte >> 4)])
                    bytes.append(hex[Int(byte & 0x0F)])
                }
                start = index + 1
            }
            if start < utf8.count {
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[start...]))
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func writeDate(_ date: Date) {
        // Whole milliseconds, floored, from the Date's own reference (2001) the way Foundation's formatter
        // takes them (whole seconds, then the truncated fraction), so both write the same digits; then the
        // civil date (H. Hinnant's days-to-civil).
        let reference = date.timeIntervalSinceReferenceDate
        let wholeSeconds = reference.rounded(.down)
        let fractionMillis = Int64((reference - wholeSeconds) * 1000)
        let millis = (Int64(wholeSeconds) + 978_307_200) * 1000 + fractionMillis
        var days = millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000
        let msOfDay = millis - days * 86_400_000
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)

        bytes.append(UInt8(ascii: "\""))
        pad(year, 4)
        bytes.append(UInt8(ascii: "-"))
        pad(month, 2)
        bytes.append(UInt8(ascii: "-"))
        pad(day, 2)
        bytes.append(UInt8(ascii: "T"))
        pad(msOfDay / 3_600_000, 2)
        bytes.append(UInt8(ascii: ":"))
        pad(msOfDay / 60_000 % 60, 2)
        bytes.append(UInt8(ascii: ":"))
        pad(msOfDay / 1000 % 60, 2)
        bytes.append(UInt8(ascii: "."))
        pad(msOfDay % 1000, 3)
        appendStatic("Z\"")
    }

    private mutating func pad(_ value: Int64, _ width: Int) {
        var divisor: Int64 = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        if rest >= divisor * 10 {
            // Wider than the field (a year past 9999): all digits.
            writeDecimal(rest)
            return
        }
        while divisor > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(rest / divisor))
            rest %= divisor
            divisor /= 10
        }
    }
}

/// A response body that writes itself with `JSONBuffer` instead of `JSONEncoder`.
protocol JSONBufferWritable {
    func write(to json: inout JSONBuffer)
}
