/// Converts element values the way pydicom 3 does (`pydicom/values.py`, `valuerep.py`,
/// `filewriter.correct_ambiguous_vr_element`), so that JSON and catalog attributes equal pydicom's.
enum ValueConverter {
    static let lutDescriptorTags: Set<Tag> = [Tag(0x0028_1101), Tag(0x0028_1102), Tag(0x0028_1103), Tag(0x0028_3002)]
    static let ambiguousUSSSTags: Set<UInt32> = [
        0x0018_9810, 0x0022_1452, 0x0028_0104, 0x0028_0105, 0x0028_0106, 0x0028_0107, 0x0028_0108, 0x0028_0109,
        0x0028_0110, 0x0028_0111, 0x0028_0120, 0x0028_0121, 0x0028_1101, 0x0028_1102, 0x0028_1103, 0x0028_3002,
        0x0040_9211, 0x0040_9216, 0x0060_3004, 0x0060_3006,
    ]
    static let ambiguousOBOWTags: Set<UInt32> = [0x5400_0110, 0x5400_0112, 0x5400_100A, 0x5400_1010]

    static func isBinary(_ vr: String) -> Bool {
        switch vr {
        case "OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW", "US or OW", "US or SS or OW": return true
        default: return false
        }
    }

    /// (0028,0103) of this data set, when present and not empty.
    static func pixelRepresentation(of dataSet: DataSetNode) -> Int? {
        guard let element = dataSet[.pixelRepresentation], case .value(let bytes) = element.content, !bytes.isEmpty else { return nil }
        if element.header.vr == .US || element.header.vr == .SS || element.header.ambiguousVR != nil {
            guard bytes.count >= 2 else { return nil }
            return Int(readUInt16(bytes, 0, little: element.header.isLittleEndian))
        }
        // pydicom: raw bytes count as 1 when they contain 0x01.
        return bytes.contains(1) ? 1 : 0
    }

    private static func firstUInt16(_ element: DataSetNode.Element?) -> Int? {
        guard let element, case .value(let bytes) = element.content, bytes.count >= 2 else { return nil }
        return Int(readUInt16(bytes, 0, little: element.header.isLittleEndian))
    }

    /// The VR pydicom reports after `correct_ambiguous_vr_element`.
    static func resolvedVR(_ element: DataSetNode.Element, in dataSet: DataSetNode, pixelRepresentation: Int?) throws(DataSetError) -> String {
        let header = element.header
        guard let ambiguous = header.ambiguousVR else { return header.vr.description }
        let tag = header.tag.rawValue
        if tag == Tag.pixelData.rawValue {
            if header.hasUndefinedLength { return "OB" }
            if dataSet.isImplicitVR { return "OW" }
            guard let bits = firstUInt16(dataSet[Tag(0x0028_0100)]) else {
                throw DataSetError(.invalidValue, offset: header.offset, tag: header.tag)
            }
            return bits > 8 ? "OW" : "OB"
        }
        if ambiguousUSSSTags.contains(tag) {
            return usOrSS(dataSet: dataSet, pixelRepresentation: pixelRepresentation) == 0 ? "US" : "SS"
        }
        if ambiguousOBOWTags.contains(tag) {
            if dataSet.isImplicitVR { return "OW" }
            guard let bits = firstUInt16(dataSet[Tag(0x003A_021A)]) else {
                throw DataSetError(.invalidValue, offset: header.offset, tag: header.tag)
            }
            return bits > 8 ? "OW" : "OB"
        }
        if tag == 0x0028_3006 {
            guard let first = firstUInt16(dataSet[Tag(0x0028_3002)]) else {
                throw DataSetError(.invalidValue, offset: header.offset, tag: header.tag)
            }
            return first == 1 ? "US" : "OW"
        }
        if tag & 0xFFE1_FFFF == 0x6000_3000 && (tag >> 16) < 0x601F { return "OW" }
        return ambiguous
    }

    private static func usOrSS(dataSet: DataSetNode, pixelRepresentation: Int?) -> Int {
        if let pixelRepresentation { return pixelRepresentation }
        return dataSet[.pixelData] == nil ? 0 : 1
    }

    // MARK: Values

    static func jsonValues(vr: String, header: ElementHeader, bytes: [UInt8], characterSet: SpecificCharacterSet,
                           pixelRepresentation: Int?) throws(DataSetError) -> [JSONValue] {
        if bytes.isEmpty { return [] }
        let little = header.isLittleEndian
        let invalid = DataSetError(.invalidValue, offset: header.offset, tag: header.tag)
        switch vr {
        case "AE":
            return Latin1.string(bytes).split(separator: "\\", omittingEmptySubsequences: false).map {
                .string(String($0).pythonStripped())
            }.droppingSingleEmpty()
        case "AS", "CS", "DA", "DT", "TM":
            return multiString(Latin1.string(bytes)).map { .string($0) }.droppingSingleEmpty()
        case "UI":
            return multiString(Latin1.string(bytes).rstripping(nulOrSpace)).map { .string($0) }.droppingSingleEmpty()
        case "UR":
            let value = Latin1.string(bytes).pythonRStripped()
            return value.isEmpty ? [] : [.string(value)]
        case "DS":
            let items = multiString(Latin1.string(bytes).pythonStripped())
            if items.count == 1 && items[0].pythonStripped().isEmpty { return [] }
            var values: [JSONValue] = []
            for item in items {
                guard let value = pythonFloat(item) else { throw invalid }
                values.append(.double(value))
            }
            return values
        case "IS":
            let items = multiString(Latin1.string(bytes))
            if items.count == 1 && items[0].pythonStripped().isEmpty { return [] }
            var values: [JSONValue] = []
            for item in items {
                let trimmed = item.pythonStripped()
                if let value = Int64(trimmed.hasPrefix("+") ? String(trimmed.dropFirst()) : trimmed) {
                    values.append(.integer(value))
                } else if let value = pythonFloat(trimmed), value.isFinite, abs(value) < 9.2e18 {
                    values.append(.integer(Int64(value.rounded(.towardZero))))
                } else {
                    throw invalid
                }
            }
            return values
        case "SH", "LO", "UC":
            // Decode the whole element, then split on "\\" (pydicom's order): in GBK/GB18030 0x5C can be the
            // second byte of a character, and an ISO 2022 designation carries across the delimiter.
            let values = characterSet.decodeTextValues(bytes, vr: vr).map { $0.rstripping(nulOrSpace) }
            return values.map { .string($0) }.droppingSingleEmpty()
        case "ST", "LT", "UT":
            let value = characterSet.decodeText(bytes, vr: vr).rstripping(nulOrSpace)
            return value.isEmpty ? [] : [.string(value)]
        case "PN":
            var trimmed = bytes[...]
            while let last = trimmed.last, last == 0 || last == 0x20 { trimmed.removeLast() }
            if trimmed.isEmpty { return [] }
            var values: [JSONValue] = []
            for groups in characterSet.decodePersonNames(Array(trimmed)) {
                let components = personNameComponents(groups)
                guard !components.isEmpty else { throw invalid }
                values.append(.personName(components))
            }
            return values
        case "AT":
            let count = bytes.count / 4
            return (0..<count).map { index in
                let group = readUInt16(bytes, index * 4, little: little)
                let element = readUInt16(bytes, index * 4 + 2, little: little)
                return .string(Tag(group: group, element: element).hexString)
            }
        case "US", "SS":
            guard bytes.count % 2 == 0 else { throw invalid }
            var values: [JSONValue] = []
            for index in stride(from: 0, to: bytes.count, by: 2) {
                let raw = readUInt16(bytes, index, little: little)
                values.append(vr == "US" ? .integer(Int64(raw)) : .integer(Int64(Int16(bitPattern: raw))))
            }
            // pydicom adds 65536 to a negative first LUT Descriptor value it read as a list of SS.
            if vr == "SS", header.ambiguousVR == nil, lutDescriptorTags.contains(header.tag), values.count > 1,
               case .integer(let first) = values[0], first < 0 {
                values[0] = .integer(first + 65536)
            }
            return values
        case "UL", "SL", "FL":
            guard bytes.count % 4 == 0 else { throw invalid }
            return stride(from: 0, to: bytes.count, by: 4).map { index in
                let raw = readUInt32(bytes, index, little: little)
                switch vr {
                case "UL": return .integer(Int64(raw))
                case "SL": return .integer(Int64(Int32(bitPattern: raw)))
                default: return .double(Double(Float(bitPattern: raw)))
                }
            }
        case "UV", "SV", "FD":
            guard bytes.count % 8 == 0 else { throw invalid }
            return stride(from: 0, to: bytes.count, by: 8).map { index in
                let raw = readUInt64(bytes, index, little: little)
                switch vr {
                case "UV": return .unsigned(raw)
                case "SV": return .integer(Int64(bitPattern: raw))
                default: return .double(Double(bitPattern: raw))
                }
            }
        default:
            // Unresolved "US or SS" and other VRs pydicom cannot serialise.
            throw invalid
        }
    }

    static let nulOrSpace: Set<Character> = ["\0", " "]

    static func personNameComponents(_ groups: PersonNameGroups) -> [String] {
        var components = [groups.alphabetic ?? "", groups.ideographic ?? "", groups.phonetic ?? ""]
        while let last = components.last, last.isEmpty { components.removeLast() }
        return components
    }

    /// pydicom `multi_string`: strip trailing spaces/NULs of the whole value, then split on backslash.
    static func multiString(_ value: String) -> [String] {
        let stripped = value.rstripping(nulOrSpace)
        // Below U+0300 no scalar joins the backslash before it into one Character (no combining marks
        // there), so splitting the UTF-8 bytes on 0x5C gives the same values as splitting the Characters;
        // every text that `Latin1.string` produces qualifies (its lead bytes are at most 0xC3).
        if stripped.utf8.allSatisfy({ $0 < 0xCC }) {
            return stripped.utf8.split(separator: 0x5C, omittingEmptySubsequences: false).map {
                String(decoding: $0, as: UTF8.self)
            }
        }
        return stripped.split(separator: "\\", omittingEmptySubsequences: false).map(String.init)
    }

    static func split(_ bytes: [UInt8]) -> [ArraySlice<UInt8>] {
        bytes.split(separator: 0x5C, omittingEmptySubsequences: false)
    }

    /// Python `float(str)` for the strings DICOM DS values contain.
    static func pythonFloat(_ text: String) -> Double? {
        let trimmed = text.pythonStripped()
        guard !trimmed.isEmpty, !trimmed.contains(where: { $0 == "x" || $0 == "X" || $0 == "p" || $0 == "P" }) else { return nil }
        return Double(trimmed)
    }

    static func readUInt16(_ bytes: [UInt8], _ index: Int, little: Bool) -> UInt16 {
        let a = UInt16(bytes[index]), b = UInt16(bytes[index + 1])
        return little ? a | b << 8 : a << 8 | b
    }

    static func readUInt32(_ bytes: [UInt8], _ index: Int, little: Bool) -> UInt32 {
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = UInt32(bytes[index + (little ? 3 - offset : offset)])
            value = value << 8 | byte
        }
        return value
    }

    static func readUInt64(_ bytes: [UInt8], _ index: Int, little: Bool) -> UInt64 {
        var value: UInt64 = 0
        for offset in 0..<8 {
            let byte = UInt64(bytes[index + (little ? 7 - offset : offset)])
            value = value << 8 | byte
        }
        return value
    }
}

extension Array where Element == JSONValue {
    /// A single empty string is an empty element (pydicom VM 0): no `Value`.
    func droppingSingleEmpty() -> [JSONValue] {
        if count == 1, case .string(let value) = self[0], value.isEmpty { return [] }
        return self
    }
}

extension String {
    /// Python's `str.isspace()` for the Latin-1 range.
    static func isPythonSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0: return true
        // No other ASCII scalar has the Unicode White_Space property.
        case 0..<0x80: return false
        default: return scalar.properties.isWhitespace
        }
    }

    // The strips below find the kept range of scalars and copy it once (a Substring of the original),
    // instead of rebuilding the string one scalar at a time; a value with nothing to strip is returned as is.

    func pythonStripped() -> String {
        let scalars = unicodeScalars
        var start = scalars.startIndex
        var end = scalars.endIndex
        while start < end, String.isPythonSpace(scalars[start]) { scalars.formIndex(after: &start) }
        while start < end {
            let before = scalars.index(before: end)
            guard String.isPythonSpace(scalars[before]) else { break }
            end = before
        }
        if start == scalars.startIndex && end == scalars.endIndex { return self }
        return String(Substring(scalars[start..<end]))
    }

    func pythonRStripped() -> String {
        let scalars = unicodeScalars
        var end = scalars.endIndex
        while end > scalars.startIndex {
            let before = scalars.index(before: end)
            guard String.isPythonSpace(scalars[before]) else { break }
            end = before
        }
        if end == scalars.endIndex { return self }
        return String(Substring(scalars[..<end]))
    }

    func rstripping(_ characters: Set<Character>) -> String {
        let scalars = unicodeScalars
        var end = scalars.endIndex
        while end > scalars.startIndex {
            let before = scalars.index(before: end)
            guard characters.contains(Character(scalars[before])) else { break }
            end = before
        }
        if end == scalars.endIndex { return self }
        return String(Substring(scalars[..<end]))
    }
}
