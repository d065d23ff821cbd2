import Foundation
import NIOCore

/// A JSON document written straight into a `ByteBuffer`, for the list responses a dashboard polls.
///
/// `JSONEncoder` spent more than half of the service's CPU on a page of 100 studies (boxing every value,
/// dictionaries per object, generic metadata lookups); this writes the same JSON — same members in the
/// same order, explicit nulls, RFC 3339 UTC dates with milliseconds, slashes unescaped — with no
/// intermediate values. `JSONBufferTests` checks it against `JSONCoding.encode` member for member.
struct JSONBuffer {
    /// The document so far. Values are written through `JSONOutput` into one reservation of their
    /// longest form (`write(maximum:)`): per-byte `Array` appends and the copy into a response buffer
    /// cost more than the JSON itself on a 36 KB page.
    private(set) var buffer: ByteBuffer
    /// Whether the next member or element needs a comma before it.
    private var needsComma = false

    init(capacity: Int = 16384) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    /// Reserves `maximum` bytes and lets `body` write at most that many through `JSONOutput` (its
    /// `…Bound` functions give each value's longest form); a write past `maximum` traps.
    mutating func write(maximum: Int, _ body: (inout JSONOutput) -> Void) {
        let comma = needsComma
        var after = comma
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: maximum) { raw in
            var output = JSONOutput(start: raw.baseAddress!, capacity: maximum, needsComma: comma)
            body(&output)
            after = output.needsComma
            return output.count
        }
        needsComma = after
    }

    mutating func beginObject() { write(maximum: JSONOutput.structuralBound) { $0.beginObject() } }
    mutating func endObject() { write(maximum: JSONOutput.structuralBound) { $0.endObject() } }
    mutating func beginArray() { write(maximum: JSONOutput.structuralBound) { $0.beginArray() } }
    mutating func endArray() { write(maximum: JSONOutput.structuralBound) { $0.endArray() } }

    /// A member name; the value follows. Names are our own ASCII identifiers: written as they are.
    mutating func key(_ name: StaticString) { write(maximum: JSONOutput.keyBound(name)) { $0.key(name) } }

    /// A member name only known at run time (escaped like a string value).
    mutating func key(dynamic name: String) {
        write(maximum: JSONOutput.stringBound(name) + 1) { $0.key(dynamic: name) }
    }

    /// A number already in JSON syntax.
    mutating func rawNumber(_ text: String) { write(maximum: text.utf8.count + 1) { $0.rawNumber(text) } }

    mutating func null() { write(maximum: JSONOutput.nullBound) { $0.null() } }
    mutating func bool(_ value: Bool) { write(maximum: JSONOutput.boolBound) { $0.bool(value) } }
    mutating func int<T: BinaryInteger>(_ value: T) { write(maximum: JSONOutput.intBound) { $0.int(value) } }
    mutating func int<T: BinaryInteger>(_ value: T?) { write(maximum: JSONOutput.intBound) { $0.int(value) } }
    mutating func string(_ value: String) { write(maximum: JSONOutput.stringBound(value)) { $0.string(value) } }
    mutating func string(_ value: String?) { write(maximum: JSONOutput.stringBound(value)) { $0.string(value) } }
    mutating func strings(_ values: [String]) { write(maximum: JSONOutput.stringsBound(values)) { $0.strings(values) } }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC, milliseconds truncated (as `JSONCoding.formatDate`).
    mutating func date(_ value: Date) { write(maximum: JSONOutput.dateBound) { $0.date(value) } }
    mutating func date(_ value: Date?) { write(maximum: JSONOutput.dateBound) { $0.date(value) } }

    mutating func uuid(_ value: UUID) {
        string(value.uuidString.lowercased())
    }
}

/// Writes JSON into space `JSONBuffer.write(maximum:)` reserved, with the same methods and comma rules
/// as `JSONBuffer`. Every store is checked against the reservation.
struct JSONOutput {
    // The longest form of each value, its separating comma included.
    static let structuralBound = 2
    static let nullBound = 5
    static let boolBound = 6
    /// A comma, a sign and 19 digits.
    static let intBound = 21
    /// A comma, quotes, a year of up to 20 characters and 20 for the rest.
    static let dateBound = 44

    static func keyBound(_ name: StaticString) -> Int { name.utf8CodeUnitCount + 4 }

    /// A comma, quotes, and at most 6 bytes (`\u00XX`) per byte of `value`.
    static func stringBound(_ value: String) -> Int { 3 + 6 * value.utf8.count }

    static func stringBound(_ value: String?) -> Int { value.map { stringBound($0) } ?? nullBound }

    static func stringsBound(_ values: [String]) -> Int {
        var total = 2 * structuralBound
        for value in values { total += stringBound(value) }
        return total
    }

    private let start: UnsafeMutableRawPointer
    private let capacity: Int
    private(set) var count = 0
    /// Whether the next member or element needs a comma before it.
    fileprivate(set) var needsComma: Bool

    fileprivate init(start: UnsafeMutableRawPointer, capacity: Int, needsComma: Bool) {
        self.start = start
        self.capacity = capacity
        self.needsComma = needsComma
    }

    mutating func beginObject() {
        separate()
        byte(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        byte(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func beginArray() {
        separate()
        byte(UInt8(ascii: "["))
        needsComma = false
    }

    mutating func endArray() {
        byte(UInt8(ascii: "]"))
        needsComma = true
    }

    mutating func key(_ name: StaticString) {
        separate()
        byte(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes(UnsafeRawBufferPointer($0)) }
        byte(UInt8(ascii: "\""))
        byte(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func key(dynamic name: String) {
        separate()
        escaped(name)
        byte(UInt8(ascii: ":"))
        needsComma = false
    }

    mutating func rawNumber(_ text: String) {
        separate()
        var text = text
        text.withUTF8 { bytes(UnsafeRawBufferPointer($0)) }
        needsComma = true
    }

    mutating func null() {
        separate()
        bytes("null")
        needsComma = true
    }

    mutating func bool(_ value: Bool) {
        separate()
        bytes(value ? "true" : "false")
        needsComma = true
    }

    mutating func int<T: BinaryInteger>(_ value: T) {
        separate()
        decimal(Int64(value))
        needsComma = true
    }

    mutating func int<T: BinaryInteger>(_ value: T?) {
        if let value { int(value) } else { null() }
    }

    mutating func string(_ value: String) {
        separate()
        escaped(value)
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

    mutating func date(_ value: Date?) {
        if let value { date(value) } else { null() }
    }

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

        separate()
        byte(UInt8(ascii: "\""))
        padded(year, 4)
        byte(UInt8(ascii: "-"))
        padded(month, 2)
        byte(UInt8(ascii: "-"))
        padded(day, 2)
        byte(UInt8(ascii: "T"))
        padded(msOfDay / 3_600_000, 2)
        byte(UInt8(ascii: ":"))
        padded(msOfDay / 60_000 % 60, 2)
        byte(UInt8(ascii: ":"))
        padded(msOfDay / 1000 % 60, 2)
        byte(UInt8(ascii: "."))
        padded(msOfDay % 1000, 3)
        byte(UInt8(ascii: "Z"))
        byte(UInt8(ascii: "\""))
        needsComma = true
    }

    // MARK: Bytes

    private mutating func separate() {
        if needsComma { byte(UInt8(ascii: ",")) }
    }

    private mutating func byte(_ value: UInt8) {
        precondition(count < capacity, "JSONOutput: write past its reservation")
        start.storeBytes(of: value, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    private mutating func bytes(_ value: UnsafeRawBufferPointer) {
        precondition(value.count <= capacity - count, "JSONOutput: write past its reservation")
        guard let base = value.baseAddress else { return }
        (start + count).copyMemory(from: base, byteCount: value.count)
        count += value.count
    }

    private mutating func bytes(_ value: StaticString) {
        value.withUTF8Buffer { bytes(UnsafeRawBufferPointer($0)) }
    }

    /// `value` quoted, with `"`, `\` and control characters escaped (the short forms where JSON has
    /// them, `\u00XX` otherwise).
    private mutating func escaped(_ value: String) {
        var value = value
        byte(UInt8(ascii: "\""))
        value.withUTF8 { utf8 in
            let raw = UnsafeRawBufferPointer(utf8)
            var run = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if run < index { bytes(UnsafeRawBufferPointer(rebasing: raw[run..<index])) }
                switch byte {
                case UInt8(ascii: "\""): bytes("\\\"")
                case UInt8(ascii: "\\"): bytes("\\\\")
                case 0x0A: bytes("\\n")
                case 0x0D: bytes("\\r")
                case 0x09: bytes("\\t")
                case 0x08: bytes("\\b")
                case 0x0C: bytes("\\f")
                default:
                    bytes("\\u00")
                    self.byte(Self.hexDigit(byte >> 4))
                    self.byte(Self.hexDigit(byte & 0x0F))
                }
                run = index + 1
            }
            if run < utf8.count { bytes(UnsafeRawBufferPointer(rebasing: raw[run...])) }
        }
        byte(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    /// `value` in decimal: at most 20 bytes.
    private mutating func decimal(_ value: Int64) {
        var magnitude = value.magnitude
        var digits = 1
        var scan = magnitude / 10
        while scan > 0 {
            digits += 1
            scan /= 10
        }
        if value < 0 { byte(UInt8(ascii: "-")) }
        precondition(digits <= capacity - count, "JSONOutput: write past its reservation")
        var position = count + digits
        repeat {
            position -= 1
            start.storeBytes(of: UInt8(ascii: "0") + UInt8(magnitude % 10), toByteOffset: position, as: UInt8.self)
            magnitude /= 10
        } while magnitude > 0
        count += digits
    }

    /// "00" to "99".
    private static let twoDigits: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"

    /// `value` (0...99) as two digits; the caller has checked the room.
    private mutating func pair(_ value: Int64) {
        let offset = 2 * Int(value)
        let table = Self.twoDigits.utf8Start
        start.storeBytes(of: table[offset], toByteOffset: count, as: UInt8.self)
        start.storeBytes(of: table[offset + 1], toByteOffset: count + 1, as: UInt8.self)
        count += 2
    }

    /// `value` zero-padded to `width` digits; all its digits (and the sign) when it does not fit (a year
    /// past 9999 or before 0: at most 20 bytes).
    private mutating func padded(_ value: Int64, _ width: Int) {
        // The widths a date uses, two digits at a time from a table (two dates in every study).
        switch width {
        case 2 where value >= 0 && value < 100:
            precondition(2 <= capacity - count, "JSONOutput: write past its reservation")
            pair(value)
            return
        case 3 where value >= 0 && value < 1000:
            precondition(3 <= capacity - count, "JSONOutput: write past its reservation")
            start.storeBytes(of: UInt8(ascii: "0") + UInt8(value / 100), toByteOffset: count, as: UInt8.self)
            count += 1
            pair(value % 100)
            return
        case 4 where value >= 0 && value < 10000:
            precondition(4 <= capacity - count, "JSONOutput: write past its reservation")
            pair(value / 100)
            pair(value % 100)
            return
        default:
            break
        }
        var limit: Int64 = 10
        for _ in 1..<width { limit *= 10 }
        guard value >= 0 && value < limit else {
            decimal(value)
            return
        }
        precondition(width <= capacity - count, "JSONOutput: write past its reservation")
        var position = count + width
        var rest = value
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
