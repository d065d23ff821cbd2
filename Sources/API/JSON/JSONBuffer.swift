import Foundation
import NIOCore

/// A JSON document written straight into a `ByteBuffer`, for the list responses a dashboard polls.
///
/// `JSONEncoder` spent more than half of the service's CPU on a page of 100 studies (boxing every value,
/// dictionaries per object, generic metadata lookups); this writes the same JSON — same members in the
/// same order, explicit nulls, RFC 3339 UTC dates with milliseconds, slashes unescaped — with no
/// intermediate values. `JSONBufferTests` checks it against `JSONCoding.encode` member for member.
struct JSONBuffer {
    /// The document so far. Each value is written with one reservation of its longest form and plain
    /// stores into it (`emit`): per-byte `Array` appends and the copy into a response buffer cost more
    /// than the JSON itself on a 36 KB page.
    private(set) var buffer: ByteBuffer
    /// Whether the next member or element needs a comma before it.
    private var needsComma = false

    init(capacity: Int = 16384) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    mutating func beginObject() {
        emit(maximum: 2, separated: true) { out in
            out.byte(UInt8(ascii: "{"))
        }
        needsComma = false
    }

    mutating func endObject() {
        emit(maximum: 1) { $0.byte(UInt8(ascii: "}")) }
        needsComma = true
    }

    mutating func beginArray() {
        emit(maximum: 2, separated: true) { out in
            out.byte(UInt8(ascii: "["))
        }
        needsComma = false
    }

    mutating func endArray() {
        emit(maximum: 1) { $0.byte(UInt8(ascii: "]")) }
        needsComma = true
    }

    /// A member name; the value follows. Names are our own ASCII identifiers: written as they are.
    mutating func key(_ name: StaticString) {
        name.withUTF8Buffer { name in
            emit(maximum: name.count + 4, separated: true) { out in
                out.byte(UInt8(ascii: "\""))
                out.bytes(UnsafeRawBufferPointer(name))
                out.byte(UInt8(ascii: "\""))
                out.byte(UInt8(ascii: ":"))
            }
        }
        needsComma = false
    }

    /// A member name only known at run time (escaped like a string value).
    mutating func key(dynamic name: String) {
        writeEscaped(name)
        emit(maximum: 1) { $0.byte(UInt8(ascii: ":")) }
        needsComma = false
    }

    /// A number already in JSON syntax.
    mutating func rawNumber(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            emit(maximum: utf8.count + 1, separated: true) { out in
                out.bytes(UnsafeRawBufferPointer(utf8))
            }
        }
        needsComma = true
    }

    mutating func null() {
        emit(maximum: 5, separated: true) { out in
            out.bytes("null")
        }
        needsComma = true
    }

    mutating func bool(_ value: Bool) {
        emit(maximum: 6, separated: true) { out in
            out.bytes(value ? "true" : "false")
        }
        needsComma = true
    }

    mutating func int<T: BinaryInteger>(_ value: T) {
        let value = Int64(value)
        emit(maximum: 21, separated: true) { out in
            out.decimal(value)
        }
        needsComma = true
    }

    mutating func int<T: BinaryInteger>(_ value: T?) {
        if let value { int(value) } else { null() }
    }

    mutating func string(_ value: String) {
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
        // Whole milliseconds, floored, from the Date's own reference (2001) the way Foundation's formatter
        // takes them (whole seconds, then the truncated fraction), so both write the same digits; then the
        // civil date (H. Hinnant's days-to-civil).
        let reference = value.timeIntervalSinceReferenceDate
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

        // A year wider than 4 digits (or negative) takes up to 20 bytes instead of 4.
        emit(maximum: 1 + 2 + 20 + 21, separated: true) { out in
            out.byte(UInt8(ascii: "\""))
            out.padded(year, 4)
            out.byte(UInt8(ascii: "-"))
            out.padded(month, 2)
            out.byte(UInt8(ascii: "-"))
            out.padded(day, 2)
            out.byte(UInt8(ascii: "T"))
            out.padded(msOfDay / 3_600_000, 2)
            out.byte(UInt8(ascii: ":"))
            out.padded(msOfDay / 60_000 % 60, 2)
            out.byte(UInt8(ascii: ":"))
            out.padded(msOfDay / 1000 % 60, 2)
            out.byte(UInt8(ascii: "."))
            out.padded(msOfDay % 1000, 3)
            out.byte(UInt8(ascii: "Z"))
            out.byte(UInt8(ascii: "\""))
        }
        needsComma = true
    }

    mutating func date(_ value: Date?) {
        if let value { date(value) } else { null() }
    }

    mutating func uuid(_ value: UUID) {
        string(value.uuidString.lowercased())
    }

    // MARK: Writing

    /// Reserves `maximum` bytes, lets `body` store at most that many, and keeps what it stored.
    /// With `separated`, a comma first when a member or element precedes (counted in `maximum`).
    private mutating func emit(maximum: Int, separated: Bool = false, _ body: (inout Output) -> Void) {
        let comma = separated && needsComma
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: maximum) { raw in
            var output = Output(start: raw.baseAddress!, capacity: maximum)
            if comma { output.byte(UInt8(ascii: ",")) }
            body(&output)
            return output.count
        }
    }

    /// A separator if needed, then `value` quoted, with `"`, `\` and control characters escaped (the
    /// short forms where JSON has them, `\u00XX` otherwise).
    private mutating func writeEscaped(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in
            // An escape is at most 6 bytes per input byte.
            emit(maximum: 3 + 6 * utf8.count, separated: true) { out in
                out.byte(UInt8(ascii: "\""))
                var start = 0
                for index in 0..<utf8.count {
                    let byte = utf8[index]
                    guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                    if start < index {
                        out.bytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[start..<index]))
                    }
                    switch byte {
                    case UInt8(ascii: "\""): out.bytes("\\\"")
                    case UInt8(ascii: "\\"): out.bytes("\\\\")
                    case 0x0A: out.bytes("\\n")
                    case 0x0D: out.bytes("\\r")
                    case 0x09: out.bytes("\\t")
                    case 0x08: out.bytes("\\b")
                    case 0x0C: out.bytes("\\f")
                    default:
                        out.bytes("\\u00")
                        out.byte(Output.hexDigit(byte >> 4))
                        out.byte(Output.hexDigit(byte & 0x0F))
                    }
                    start = index + 1
                }
                if start < utf8.count {
                    out.bytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(utf8)[start...]))
                }
                out.byte(UInt8(ascii: "\""))
            }
        }
    }
}

/// Stores into space `JSONBuffer.emit` reserved; every write stays within the reservation (checked in
/// debug builds).
private struct Output {
    let start: UnsafeMutableRawPointer
    let capacity: Int
    private(set) var count = 0

    init(start: UnsafeMutableRawPointer, capacity: Int) {
        self.start = start
        self.capacity = capacity
    }

    static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    mutating func byte(_ value: UInt8) {
        assert(count < capacity)
        start.storeBytes(of: value, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    mutating func bytes(_ value: UnsafeRawBufferPointer) {
        assert(count + value.count <= capacity)
        guard let base = value.baseAddress else { return }
        (start + count).copyMemory(from: base, byteCount: value.count)
        count += value.count
    }

    mutating func bytes(_ value: StaticString) {
        value.withUTF8Buffer { bytes(UnsafeRawBufferPointer($0)) }
    }

    /// `value` in decimal: at most 20 bytes.
    mutating func decimal(_ value: Int64) {
        var magnitude = value.magnitude
        var digits = 1
        var scan = magnitude / 10
        while scan > 0 {
            digits += 1
            scan /= 10
        }
        if value < 0 { byte(UInt8(ascii: "-")) }
        assert(count + digits <= capacity)
        var position = count + digits
        repeat {
            position -= 1
            start.storeBytes(of: UInt8(ascii: "0") + UInt8(magnitude % 10), toByteOffset: position, as: UInt8.self)
            magnitude /= 10
        } while magnitude > 0
        count += digits
    }

    /// `value` zero-padded to `width` digits (2...4); all its digits when wider (a year past 9999) and
    /// the sign when negative (at most 20 bytes).
    mutating func padded(_ value: Int64, _ width: Int) {
        var limit: Int64 = 10
        for _ in 1..<width { limit *= 10 }
        guard value >= 0 && value < limit else {
            decimal(value)
            return
        }
        var position = count + width
        var rest = value
        assert(position <= capacity)
        while position > count {
            position -= 1
            start.storeBytes(of: UInt8(ascii: "0") + UInt8(rest % 10), toByteOffset: position, as: UInt8.self)
            rest /= 10
        }
        count += width
    }
}

/// A response body that writes itself with `JSONBuffer` instead of `JSONEncoder`.
protocol JSONBufferWritable {
    func write(to json: inout JSONBuffer)
}
