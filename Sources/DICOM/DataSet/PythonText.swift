// Python's string and number rules that decide what pydicom keeps of a text value: the str.strip
// family on Unicode scalars, and the grammar of float() and int().

/// Characters Python's `str.isspace()` accepts in the Latin-1 range (what `strip()` removes here).
func isPythonWhitespace(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0: return true
    default: return scalar.properties.isWhitespace
    }
}

func rstrip(_ text: String, _ characters: Set<Unicode.Scalar>) -> String {
    var scalars = Substring(text).unicodeScalars
    while let last = scalars.last, characters.contains(last) { scalars.removeLast() }
    return String(scalars)
}

func rstripWhitespace(_ text: String) -> String {
    var scalars = Substring(text).unicodeScalars
    while let last = scalars.last, isPythonWhitespace(last) { scalars.removeLast() }
    return String(scalars)
}

func strip(_ text: String) -> String {
    var scalars = Substring(text).unicodeScalars
    while let last = scalars.last, isPythonWhitespace(last) { scalars.removeLast() }
    while let first = scalars.first, isPythonWhitespace(first) { scalars.removeFirst() }
    return String(scalars)
}

/// The grammar of Python's `float(str)` and `int(str)`, which decide whether pydicom accepts a DS or IS value.
enum PythonNumber {
    /// `float(text)` succeeds: optional sign, then "inf", "infinity", "nan" or a decimal number with
    /// optional exponent; "_" only between digits; surrounding whitespace allowed.
    static func isFloat(_ text: String) -> Bool {
        let scalars = Array(strip(text).unicodeScalars)
        var i = 0
        if i < scalars.count, scalars[i] == "+" || scalars[i] == "-" { i += 1 }
        let rest = String(String.UnicodeScalarView(scalars[i...])).lowercased()
        if rest == "inf" || rest == "infinity" || rest == "nan" { return true }
        let integerDigits = digitPart(scalars, &i)
        var fractionDigits = 0
        if i < scalars.count, scalars[i] == "." {
            i += 1
            fractionDigits = digitPart(scalars, &i)
            if fractionDigits < 0 { return false }
        }
        guard integerDigits >= 0, integerDigits + fractionDigits > 0 else { return false }
        if i < scalars.count, scalars[i] == "e" || scalars[i] == "E" {
            i += 1
            if i < scalars.count, scalars[i] == "+" || scalars[i] == "-" { i += 1 }
            guard digitPart(scalars, &i) > 0 else { return false }
        }
        return i == scalars.count
    }

    /// pydicom's IS accepts `int(text)`, or `float(text)` when that is finite and not NaN
    /// (an infinite value makes pydicom raise instead; treated as invalid here).
    static func isIntegerString(_ text: String) -> Bool {
        let scalars = Array(strip(text).unicodeScalars)
        var i = 0
        if i < scalars.count, scalars[i] == "+" || scalars[i] == "-" { i += 1 }
        if digitPart(scalars, &i) > 0 && i == scalars.count { return true }
        guard isFloat(text) else { return false }
        let lowered = strip(text).lowercased()
        return !lowered.hasSuffix("nan") && !lowered.hasSuffix("inf") && !lowered.hasSuffix("infinity")
    }

    /// `str()` of pydicom's IS for a valid value: the stripped text, except for a non-integral number,
    /// which pydicom keeps as an ISfloat whose `str()` is Python's `repr(float)`.
    static func integerStringValue(_ text: String) -> String {
        let stripped = strip(text)
        if stripped.isEmpty { return text }
        var scalars = Array(stripped.unicodeScalars)
        var i = 0
        if scalars.first == "+" || scalars.first == "-" { i += 1 }
        if digitPart(scalars, &i) > 0 && i == scalars.count { return stripped }
        scalars.removeAll { $0 == "_" }
        guard let value = Double(String(String.UnicodeScalarView(scalars))), value != value.rounded(.towardZero)
        else { return stripped }
        // Swift's shortest round-trip form uses the same digits and exponent thresholds as Python's repr.
        return value.description
    }

    /// Digits with single underscores between them; the number of digits, 0 when none, -1 when malformed.
    private static func digitPart(_ scalars: [Unicode.Scalar], _ i: inout Int) -> Int {
        var count = 0
        while i < scalars.count {
            if ("0"..."9").contains(scalars[i]) {
                count += 1
                i += 1
            } else if scalars[i] == "_", count > 0, i + 1 < scalars.count, ("0"..."9").contains(scalars[i + 1]) {
                i += 1
            } else {
                break
            }
        }
        return count
    }
}
