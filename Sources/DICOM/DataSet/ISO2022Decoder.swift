/// CPython's `iso2022_jp` and `iso2022_jp_2` decoders (`Modules/cjkcodecs/_codecs_iso2022.c`): both have
/// NO_SHIFT and USE_JISX0208_EXT; `iso2022_jp_2` adds JIS X 0212, KS X 1001, GB 2312 and the G2 sets
/// ISO 8859-1 / ISO 8859-7 reached with single shift 2 (ESC N).
struct ISO2022Decoder {
    let allowsJIS2: Bool

    /// Graphic sets as CPython marks them: the final byte, with 0x80 added for double-byte sets.
    private static let ascii: UInt8 = 0x42  // 'B'
    private static let iso8859_1: UInt8 = 0x41  // 'A' (G2 only, no G0 decoder)
    private static let iso8859_7: UInt8 = 0x46  // 'F' (G2 only, no G0 decoder)
    private static let jisX0201Roman: UInt8 = 0x4A  // 'J'
    private static let gb2312: UInt8 = 0x41 | 0x80
    private static let jisX0208: UInt8 = 0x42 | 0x80
    private static let ksX1001: UInt8 = 0x43 | 0x80
    private static let jisX0212: UInt8 = 0x44 | 0x80
    private static let jisX0208Old: UInt8 = 0x40 | 0x80

    private var designations: [UInt8] {
        allowsJIS2
            ? [Self.jisX0208, Self.jisX0212, Self.ksX1001, Self.gb2312, Self.jisX0201Roman, Self.jisX0208Old,
               Self.iso8859_1, Self.iso8859_7]
            : [Self.jisX0208, Self.jisX0201Roman, Self.jisX0208Old]
    }

    private enum Failure: Error {
        case illegal(Int)
        case incomplete
    }

    func decode(_ bytes: ArraySlice<UInt8>, replace: Bool) -> String? {
        var scalars = String.UnicodeScalarView()
        var g0 = Self.ascii, g2 = Self.ascii
        var escapeThroughout = false
        var i = bytes.startIndex
        func isEscapeEnd(_ c: UInt8) -> Bool { (0x41...0x5A).contains(c) || c == 0x40 }
        while i < bytes.endIndex {
            let c = bytes[i]
            var failure: Failure?
            if escapeThroughout {
                scalars.append(Unicode.Scalar(c))
                i += 1
                if isEscapeEnd(c) { escapeThroughout = false }
                continue
            }
            switch c {
            case 0x1B:
                guard i + 1 < bytes.endIndex else { failure = .incomplete; break }
                let c2 = bytes[i + 1]
                if [0x28, 0x29, 0x24, 0x2E, 0x26].contains(c2) {  // ( ) $ . &
                    switch processEscape(bytes, i) {
                    case .success(let (designation, charset, length)):
                        switch designation {
                        case 0: g0 = charset
                        case 1: break  // G1 is never invoked: both codecs are NO_SHIFT
                        default: g2 = charset
                        }
                        i += length
                    case .failure(let error):
                        failure = error
                    }
                } else if allowsJIS2 && c2 == 0x4E {  // ESC N: single shift 2
                    guard i + 2 < bytes.endIndex else { failure = .incomplete; break }
                    let c3 = bytes[i + 2]
                    if let value = Self.decodeG2(g2, c3) {
                        scalars.append(scalar(value))
                        i += 3
                    } else {
                        failure = .illegal(3)
                    }
                } else {
                    scalars.append(Unicode.Scalar(c))
                    escapeThroughout = true
                    i += 1
                }
            default:
                if c < 0x20 || g0 == Self.ascii && c < 0x80 {
                    // C0 controls (SI/SO included: NO_SHIFT), and ASCII in G0.
                    scalars.append(Unicode.Scalar(c))
                    i += 1
                } else if c >= 0x80 {
                    failure = .illegal(1)
                } else if g0 & 0x80 == 0 {
                    if g0 == Self.jisX0201Roman {
                        scalars.append(scalar(c == 0x5C ? 0xA5 : c == 0x7E ? 0x203E : UInt32(c)))
                        i += 1
                    } else {
                        failure = .illegal(1)  // ISO 8859-1/-7 have no G0 decoder in CPython
                    }
                } else {
                    guard i + 1 < bytes.endIndex else { failure = .incomplete; break }
                    let value = Self.decodeDoubleByte(g0, c, bytes[i + 1])
                    if value == 0 {
                        failure = .illegal(2)
                    } else {
                        scalars.append(scalar(UInt32(value)))
                        i += 2
                    }
                }
            }
            switch failure {
            case nil: break
            case .illegal(let length)?:
                guard replace else { return nil }
                scalars.append(replacementCharacter)
                i = min(i + length, bytes.endIndex)
            case .incomplete?:
                guard replace else { return nil }
                scalars.append(replacementCharacter)
                i = bytes.endIndex
            }
        }
        return String(scalars)
    }

    private static func decodeDoubleByte(_ charset: UInt8, _ c1: UInt8, _ c2: UInt8) -> UInt16 {
        switch charset {
        case jisX0208, jisX0208Old: return CharacterSetTables.jisX0208[c1, c2]
        case jisX0212: return CharacterSetTables.jisX0212[c1, c2]
        case ksX1001: return CharacterSetTables.ksX1001[c1, c2]
        case gb2312: return CharacterSetTables.gb2312[c1, c2]
        default: return 0
        }
    }

    private static func decodeG2(_ charset: UInt8, _ c: UInt8) -> UInt32? {
        switch charset {
        case iso8859_1:
            return c < 0x80 ? UInt32(c) + 0x80 : nil
        case iso8859_7:
            // ISO8859_7_DECODE(c ^ 0x80) in CPython.
            let c = UInt32(c ^ 0x80)
            if c < 0xA0 { return c }
            if c < 0xC0 && (0x288F_3BC9 as UInt32) & (1 << (c - 0xA0)) != 0 { return c }
            if c >= 0xB4 && c <= 0xFE && (c >= 0xD4 || (0xBFFF_FD77 as UInt32) & (1 << (c - 0xB4)) != 0) {
                return 0x02D0 + c
            }
            if c == 0xA1 { return 0x2018 }
            if c == 0xA2 { return 0x2019 }
            if c == 0xAF { return 0x2015 }
            return nil
        default:
            return c & 0x80 != 0 ? nil : UInt32(c)
        }
    }

    /// `iso2022processesc`: returns (designation, charset, length) or the error to report.
    private func processEscape(
        _ bytes: ArraySlice<UInt8>, _ start: Int
    ) -> Result<(Int, UInt8, Int), Failure> {
        let left = bytes.endIndex - start
        var i = 1
        var escapeLength = 0
        while i < 16 {
            if i >= left { return .failure(.incomplete) }
            let c = bytes[start + i]
            if (0x41...0x5A).contains(c) || c == 0x40 {
                escapeLength = i + 1
                break
            } else if i + 1 < left && c == 0x26 && bytes[start + i + 1] == 0x40 {  // &@ prefix
                i += 2
            }
            i += 1
        }
        if i >= 16 { return .failure(.illegal(1)) }
        func byte(_ n: Int) -> UInt8 { bytes[start + n - 1] }  // IN1 is the ESC
        let designation: Int
        let charset: UInt8
        switch escapeLength {
        case 3:
            if byte(2) == 0x24 {
                charset = byte(3) | 0x80
                designation = 0
            } else {
                charset = byte(3)
                if byte(2) == 0x28 {
                    designation = 0
                } else if byte(2) == 0x29 {
                    designation = 1
                } else if allowsJIS2 && byte(2) == 0x2E {
                    designation = 2
                } else {
                    return .failure(.illegal(3))
                }
            }
        case 4:
            guard byte(2) == 0x24 else { return .failure(.illegal(4)) }
            charset = byte(4) | 0x80
            if byte(3) == 0x28 {
                designation = 0
            } else if byte(3) == 0x29 {
                designation = 1
            } else {
                return .failure(.illegal(4))
            }
        case 6:
            guard bytes[start + 3] == 0x1B, bytes[start + 4] == 0x24, bytes[start + 5] == 0x42 else {
                return .failure(.illegal(6))
            }
            charset = Self.jisX0208
            designation = 0
        default:
            return .failure(.illegal(escapeLength))
        }
        if charset != Self.ascii && !designations.contains(charset) {
            return .failure(.illegal(escapeLength))
        }
        return .success((designation, charset, escapeLength))
    }
}
