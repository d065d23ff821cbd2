public import NIOCore

/// A binary value the JSON writer does not inline (PS3.18 F.2.7: BulkDataURI).
public struct BulkDataReference: Sendable, Hashable {
    /// Tags from the top-level element down to this one (sequence tags on the way).
    public var path: [Tag]
    public var tag: Tag { path[path.count - 1] }
    /// The VR as written in the JSON (`OB`, `OW`, `UN`, …).
    public var vr: String
    /// Value length in bytes.
    public var length: Int
}

public struct DICOMJSONOptions: Sendable {
    /// pydicom's `bulk_data_threshold`: binary values longer than `threshold / 4 * 3` bytes (their base64
    /// would exceed the threshold) are not inlined.
    public var bulkDataThreshold: Int
    /// Produces the BulkDataURI of a value that is not inlined; when nil such values are omitted (the
    /// element keeps its `vr`). Pixel Data (7FE0,0010) is never inlined.
    public var bulkDataURI: (@Sendable (BulkDataReference) -> String)?

    public init(bulkDataThreshold: Int = 1024, bulkDataURI: (@Sendable (BulkDataReference) -> String)? = nil) {
        self.bulkDataThreshold = bulkDataThreshold
        self.bulkDataURI = bulkDataURI
    }

    /// Longest binary value written as InlineBinary.
    public var inlineBinaryLimit: Int { bulkDataThreshold / 4 * 3 }
}

/// Writes the DICOM JSON Model (PS3.18 §F.2) of a data set exactly as pydicom 3's
/// `Dataset.to_json_dict()` builds it, serialized as UTF-8:
///
///     {"00100010": {"vr": "PN", "Value": [{"Alphabetic": "Doe^Jane"}]},
///      "00280010": {"vr": "US", "Value": [512]},
///      "7FE00010": {"vr": "OW", "BulkDataURI": "…"}}
///
/// Keys are 8 uppercase hex digits, IS/DS are JSON numbers, AT values hex strings, empty values have no
/// `Value`, SQ items are nested objects. Deliberate differences from pydicom: NaN/±Infinity are
/// written as `null` (JSON has no such numbers); Pixel Data is never inline.
public enum DICOMJSONWriter {
    /// As pydicom: a value that cannot be converted to its VR (e.g. DS "1,5") fails the whole data set.
    public static func write(_ dataSet: DataSetNode, options: DICOMJSONOptions = .init()) throws(DataSetError) -> ByteBuffer {
        var output = JSONOutput()
        var unconvertible: [[Tag]]? = nil
        try writeDataSet(dataSet, path: [], inheritedPixelRepresentation: nil, options: options, into: &output,
                         unconvertible: &unconvertible)
        var buffer = ByteBuffer()
        buffer.writeBytes(output.bytes)
        return buffer
    }

    /// For an archive, where the object matters more than its description: an element whose value cannot
    /// be converted to its VR is written with its `vr` and no `Value` (PS3.18 F.2.5 allows an element
    /// without Value; `UN` when the VR itself cannot be resolved) and its tag path is returned.
    public static func writeOmittingUnconvertible(_ dataSet: DataSetNode, options: DICOMJSONOptions = .init())
        -> (json: ByteBuffer, unconvertible: [[Tag]]) {
        var output = JSONOutput()
        var unconvertible: [[Tag]]? = []
        do {
            try writeDataSet(dataSet, path: [], inheritedPixelRepresentation: nil, options: options, into: &output,
                             unconvertible: &unconvertible)
        } catch {
            // Not reached: with a list to record in, conversion failures are recorded, never thrown.
        }
        var buffer = ByteBuffer()
        buffer.writeBytes(output.bytes)
        return (buffer, unconvertible ?? [])
    }

    /// `unconvertible` nil: a conversion failure throws; otherwise it is recorded there.
    static func writeDataSet(_ dataSet: DataSetNode, path: [Tag], inheritedPixelRepresentation: Int?,
                             options: DICOMJSONOptions, into output: inout JSONOutput,
                             unconvertible: inout [[Tag]]?) throws(DataSetError) {
        output.append("{")
        let ownPixelRepresentation = ValueConverter.pixelRepresentation(of: dataSet)
        let pixelRepresentation = ownPixelRepresentation ?? inheritedPixelRepresentation
        var first = true
        for element in dataSet.elements {
            if !first { output.append(",") }
            first = false
            output.appendTagKey(element.header.tag)
            try writeElement(element, in: dataSet, path: path + [element.header.tag],
                             pixelRepresentation: pixelRepresentation, options: options, into: &output,
                             unconvertible: &unconvertible)
        }
        output.append("}")
    }

    static func writeElement(_ element: DataSetNode.Element, in dataSet: DataSetNode, path: [Tag], pixelRepresentation: Int?,
                             options: DICOMJSONOptions, into output: inout JSONOutput,
                             unconvertible: inout [[Tag]]?) throws(DataSetError) {
        let header = element.header
        let vr: String
        do {
            vr = try ValueConverter.resolvedVR(element, in: dataSet, pixelRepresentation: pixelRepresentation)
        } catch {
            guard unconvertible != nil else { throw error }
            unconvertible?.append(path)
            output.append("{\"vr\":\"UN\"}")
            return
        }
        output.append("{\"vr\":")
        output.appendString(vr)
        defer { output.append("}") }

        if case .sequence(let items) = element.content {
            output.append(",\"Value\":[")
            for (index, item) in items.enumerated() {
                if index > 0 { output.append(",") }
                try writeDataSet(item, path: path, inheritedPixelRepresentation: pixelRepresentation, options: options, into: &output,
                                 unconvertible: &unconvertible)
            }
            output.append("]")
            return
        }

        if ValueConverter.isBinary(vr) {
            switch element.content {
            case .value(let bytes):
                guard !bytes.isEmpty else { return }
                if header.tag == .pixelData || (options.bulkDataURI != nil && bytes.count > options.inlineBinaryLimit) {
                    writeBulk(path: path, vr: vr, length: bytes.count, options: options, into: &output)
                } else if bytes.count <= options.inlineBinaryLimit {
                    output.append(",\"InlineBinary\":")
                    output.appendString(Base64.encode(bytes))
                }
            case .skipped(let length):
                guard length > 0 else { return }
                writeBulk(path: path, vr: vr, length: length, options: options, into: &output)
            case .sequence:
                break
            }
            return
        }

        guard case .value(let bytes) = element.content else {
            // A non-binary value above `maximumValueLength` was skipped: no Value (documented difference).
            return
        }
        let values: [JSONValue]
        do {
            values = try ValueConverter.jsonValues(vr: vr, header: header, bytes: bytes, characterSet: dataSet.characterSet,
                                                   pixelRepresentation: pixelRepresentation)
        } catch {
            guard unconvertible != nil else { throw error }
            unconvertible?.append(path)
            return
        }
        guard !values.isEmpty else { return }
        output.append(",\"Value\":[")
        for (index, value) in values.enumerated() {
            if index > 0 { output.append(",") }
            value.write(into: &output)
        }
        output.append("]")
    }

    private static func writeBulk(path: [Tag], vr: String, length: Int, options: DICOMJSONOptions, into output: inout JSONOutput) {
        guard let handler = options.bulkDataURI else { return }
        output.append(",\"BulkDataURI\":")
        output.appendString(handler(BulkDataReference(path: path, vr: vr, length: length)))
    }
}

/// One entry of a JSON `Value` array.
enum JSONValue: Hashable {
    case string(String)
    case integer(Int64)
    case unsigned(UInt64)
    case double(Double)
    /// PN component groups, trailing empty groups removed (pydicom `PersonName.components`).
    case personName([String])

    func write(into output: inout JSONOutput) {
        switch self {
        case .string(let string): output.appendString(string)
        case .integer(let value): output.append(String(value))
        case .unsigned(let value): output.append(String(value))
        case .double(let value):
            if value.isFinite { output.append(pythonRepr(value)) } else { output.append("null") }
        case .personName(let components):
            output.append("{")
            let names = ["Alphabetic", "Ideographic", "Phonetic"]
            for (index, component) in components.prefix(3).enumerated() {
                if index > 0 { output.append(",") }
                output.appendString(names[index])
                output.append(":")
                output.appendString(component)
            }
            output.append("}")
        }
    }

    /// Python's `repr(float)` (shortest round-trip, `1.0` for integral values, `1e-05` exponents).
    private func pythonRepr(_ value: Double) -> String {
        var text = "\(value)"
        if let index = text.firstIndex(of: "e") {
            // Swift writes 1e-05 / 1e+16 like Python does; ensure at least two exponent digits.
            let mantissa = text[..<index]
            var exponent = String(text[text.index(after: index)...])
            var sign = "+"
            if exponent.hasPrefix("-") || exponent.hasPrefix("+") { sign = String(exponent.removeFirst()) }
            if exponent.count < 2 { exponent = "0" + exponent }
            var mantissaText = String(mantissa)
            if mantissaText.hasSuffix(".0") { mantissaText.removeLast(2) }
            text = mantissaText + "e" + sign + exponent
        }
        return text
    }
}

struct JSONOutput {
    var bytes: [UInt8] = []

    init() { bytes.reserveCapacity(16 << 10) }

    mutating func append(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// `"GGGGEEEE":`, the key of an element (8 uppercase hex digits, nothing to escape), written in place.
    mutating func appendTagKey(_ tag: Tag) {
        bytes.append(UInt8(ascii: "\""))
        for shift in stride(from: 28, through: 0, by: -4) {
            bytes.append(Hex.digits[Int((tag.rawValue >> UInt32(shift)) & 0xF)])
        }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
    }

    /// A JSON string literal (RFC 8259 §7), UTF-8, control characters escaped.
    mutating func appendString(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, UInt8(ascii: "\"")])
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x08: bytes.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x0C: bytes.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

enum Base64 {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    static func encode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
            out.append(alphabet[Int(value >> 6 & 63)])
            out.append(alphabet[Int(value & 63)])
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let value = UInt32(bytes[index]) << 16
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
            out.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "=")])
        } else if rest == 2 {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out.append(alphabet[Int(value >> 18 & 63)])
            out.append(alphabet[Int(value >> 12 & 63)])
            out.append(alphabet[Int(value >> 6 & 63)])
            out.append(UInt8(ascii: "="))
        }
        return String(decoding: out, as: UTF8.self)
    }
}
