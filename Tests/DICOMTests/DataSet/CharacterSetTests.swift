import DICOM
import Foundation
import TestSupport
import Testing

/// SpecificCharacterSet against pydicom: `Scripts/charset_oracle.py` prints pydicom's decoding of every text
/// element of pydicom's charset_files and of a synthetic set covering every repertoire; we must agree on each.
@Suite struct CharacterSetTests {
    /// Where we knowingly differ from pydicom 3.0, and why. The oracle marks such cases by re-running
    /// pydicom patched the same way, so each difference is still checked value for value.
    static let allowedDeviations: [String: String] = [
        "ISO_IR 203 is Latin-9":
            "pydicom 3.0 has no entry for ISO_IR 203 / ISO 2022 IR 203 (nor ESC - b) and decodes them as Latin-1; "
            + "PS3.3 Table C.12-2 defines ISO-IR 203 as ISO 8859-15, which DCMTK also uses.",
        "ISO 2022 IR 58 escape removed":
            "pydicom 3.0 passes the fragment 'ESC $ ) A ...' to Python's gb2312 codec, which does not interpret "
            + "escape sequences, so the ESC $ ) A bytes stay in the text; we remove them as for ESC $ ) C (IR 149).",
    ]

    /// The Defined Terms the acceptance requires, each of which must appear in some oracle case.
    static let requiredTerms = [
        "ISO_IR 100", "ISO_IR 101", "ISO_IR 109", "ISO_IR 110", "ISO_IR 126", "ISO_IR 127", "ISO_IR 138",
        "ISO_IR 144", "ISO_IR 148", "ISO_IR 166", "ISO_IR 203", "ISO_IR 192", "GB18030", "GBK", "ISO_IR 13",
        "ISO 2022 IR 6", "ISO 2022 IR 13", "ISO 2022 IR 87", "ISO 2022 IR 159", "ISO 2022 IR 149", "ISO 2022 IR 58",
        "ISO 2022 IR 100", "ISO 2022 IR 101", "ISO 2022 IR 109", "ISO 2022 IR 110", "ISO 2022 IR 126",
        "ISO 2022 IR 127", "ISO 2022 IR 138", "ISO 2022 IR 144", "ISO 2022 IR 148", "ISO 2022 IR 166",
    ]

    struct Case {
        var source: String
        var terms: [String]
        var vr: String
        var bytes: [UInt8]
        /// Text VRs: the values. PN: each value's formatted string.
        var values: [String]
        /// PN only: each value's component groups (groups after the second joined with "=").
        var personNames: [[String]]?
        var deviation: String?
        /// pydicom raised while converting this value (no answer to compare with).
        var pydicomError: String?
    }

    static let oracle: Result<[Case], TestSetupError> = loadOracle()

    static func loadOracle() -> Result<[Case], TestSetupError> {
        let script = Oracle.scripts.appendingPathComponent("charset_oracle.py")
        let result: ProcessOutput
        do {
            result = try Subprocess.python([script.path], installHint: "install Python 3 with pydicom 3")
        } catch let error as TestSetupError {
            return .failure(error)
        } catch {
            return .failure(TestSetupError("cannot run python3 (install Python 3 with pydicom 3): \(error)"))
        }
        guard result.status == 0 else {
            return .failure(TestSetupError("charset_oracle.py failed (needs `pip install pydicom==3.*`): \(result.stderr)"))
        }
        let data = result.stdoutData
        guard let root = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let rawCases = root["cases"] as? [[String: Any]]
        else {
            return .failure(TestSetupError("charset_oracle.py printed no JSON cases"))
        }
        var cases: [Case] = []
        for raw in rawCases {
            let vr = raw["vr"] as? String ?? ""
            let pydicomError = (raw["values"] as? [String: Any])?["error"] as? String
            var values: [String] = []
            var personNames: [[String]]?
            if vr == "PN" {
                var names: [[String]] = []
                for value in raw["values"] as? [Any] ?? [] {
                    if let components = value as? [String] {
                        let groups = Array(components.prefix(2))
                            + (components.count > 2 ? [components[2...].joined(separator: "=")] : [])
                        names.append(groups)
                        values.append(components.joined(separator: "="))
                    } else {
                        // pydicom fell back to another VR for this value: compare the text only.
                        let text = (value as? [String: String])?["str"] ?? ""
                        names.append(["<not a PersonName: \(text)>"])
                        values.append(text)
                    }
                }
                personNames = names
            } else {
                values = raw["values"] as? [String] ?? []
            }
            cases.append(
                Case(
                    source: raw["source"] as? String ?? "?",
                    terms: raw["terms"] as? [String] ?? [],
                    vr: vr,
                    bytes: bytes(hex: raw["hex"] as? String ?? ""),
                    values: values,
                    personNames: personNames,
                    deviation: raw["deviation"] as? String,
                    pydicomError: pydicomError
                ))
        }
        return .success(cases)
    }

    static func bytes(hex: String) -> [UInt8] {
        var result: [UInt8] = []
        var iterator = hex.utf8.makeIterator()
        while let high = iterator.next(), let low = iterator.next() {
            func nibble(_ c: UInt8) -> UInt8 { c <= 0x39 ? c - 0x30 : (c | 0x20) - 0x61 + 10 }
            result.append(nibble(high) << 4 | nibble(low))
        }
        return result
    }

    /// Every mismatch between our decoding of `cases` and pydicom's, described.
    static func mismatches(_ cases: [Case]) -> [String] {
        var failures: [String] = []
        for item in cases where item.pydicomError == nil {
            let characterSet = SpecificCharacterSet(terms: item.terms)
            let describe = { (what: String, got: Any, expected: Any) in
                "\(item.source) [\(item.terms) \(item.vr) \(item.bytes.map { String(format: "%02x", $0) }.joined())] "
                    + "\(what): got \(String(reflecting: got)), pydicom \(String(reflecting: expected))"
            }
            if let deviation = item.deviation, allowedDeviations[deviation] == nil {
                failures.append(describe("deviation not allow-listed", deviation, "none"))
            }
            if let expectedNames = item.personNames {
                let names = characterSet.decodePersonNames(item.bytes)
                let got = names.map { [$0.alphabetic, $0.ideographic, $0.phonetic].compactMap { $0 } }
                if got != expectedNames { failures.append(describe("decodePersonNames", got, expectedNames)) }
                if expectedNames.count == 1, !item.bytes.contains(0x5C) {
                    let one = characterSet.decodePersonName(item.bytes)
                    let groups = [one.alphabetic, one.ideographic, one.phonetic].compactMap { $0 }
                    if groups != expectedNames[0] { failures.append(describe("decodePersonName", groups, expectedNames[0])) }
                    if one.formatted != item.values[0] { failures.append(describe("formatted", one.formatted, item.values[0])) }
                }
                continue
            }
            let got = characterSet.decodeTextValues(item.bytes, vr: item.vr)
            if got != item.values { failures.append(describe("decodeTextValues", got, item.values)) }
            if item.values.count == 1, !item.bytes.contains(0x5C) {
                let one = characterSet.decodeText(item.bytes, vr: item.vr)
                if one != item.values[0] { failures.append(describe("decodeText", one, item.values[0])) }
            }
        }
        return failures
    }

    func cases(_ filter: (Case) -> Bool) throws -> [Case] {
        let all = try Self.oracle.get()
        return all.filter(filter)
    }

    @Test("every text element of pydicom's charset_files decodes as pydicom decodes it")
    func pydicomCharsetFiles() throws {
        let files = try cases { !$0.source.hasPrefix("synthetic") && !$0.source.hasPrefix("random") }
        #expect(files.count > 100)
        #expect(Set(files.map { $0.source.split(separator: " ")[0] }).count == 17)  // the 17 chr*.dcm files
        let failures = Self.mismatches(files)
        #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.prefix(25).joined(separator: "\n"))")
    }

    @Test("synthetic cases: every repertoire, escapes, invalid bytes, padding, terms")
    func synthetic() throws {
        let synthetic = try cases { $0.source.hasPrefix("synthetic") }
        #expect(synthetic.count > 300)
        let failures = Self.mismatches(synthetic)
        #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.prefix(25).joined(separator: "\n"))")
    }

    @Test("seeded random byte strings under each character set")
    func random() throws {
        let random = try cases { $0.source.hasPrefix("random") }
        #expect(random.count >= 400)
        let failures = Self.mismatches(random)
        #expect(failures.isEmpty, "\(failures.count) mismatches:\n\(failures.prefix(25).joined(separator: "\n"))")
    }

    @Test("the oracle covers every required repertoire and only allow-listed deviations")
    func coverage() throws {
        let all = try Self.oracle.get()
        let seen = Set(all.flatMap { $0.terms.map { $0.trimmingCharacters(in: .whitespaces) } })
        for term in Self.requiredTerms {
            #expect(seen.contains(term), "no oracle case uses \(term)")
        }
        #expect(all.contains { $0.terms.isEmpty }, "no case without (0008,0005)")
        // Values pydicom cannot convert at all (it raises) are rare corners of invalid data.
        let unanswered = all.filter { $0.pydicomError != nil }
        #expect(unanswered.count < 10, "\(unanswered.map { "\($0.source): \($0.pydicomError ?? "")" })")
        for deviation in Set(all.compactMap(\.deviation)) {
            #expect(Self.allowedDeviations[deviation] != nil, "deviation \(deviation) is not allow-listed")
        }
    }

    @Test("the committed tables are what scripts/generate/charset-tables generates from this Python's codecs")
    func tablesUpToDate() throws {
        // --check ignores the first line, which names the Python version; the tables must be identical.
        let generator = repositoryRoot.appendingPathComponent("scripts/generate/charset-tables").path
        let result = try Subprocess.python([generator, "--check"])
        #expect(result.status == 0, "\(result.stderr.suffix(3000))")
    }

    @Test func unrecognizedTerms() {
        #expect(SpecificCharacterSet(terms: ["", "ISO 2022 IR 87"]).unrecognizedTerms.isEmpty)
        #expect(SpecificCharacterSet(terms: ["ISO IR 100"]).unrecognizedTerms.isEmpty)  // corrected, as pydicom
        #expect(SpecificCharacterSet(terms: ["ISO_IR 100", "FOO", "ISO IR 999"]).unrecognizedTerms == ["FOO", "ISO IR 999"])
    }

    @Test func personNameFormatting() {
        #expect(PersonNameGroups(alphabetic: "A^B", ideographic: nil, phonetic: nil).formatted == "A^B")
        #expect(PersonNameGroups(alphabetic: "", ideographic: "X", phonetic: "").formatted == "=X")
        #expect(PersonNameGroups(alphabetic: nil, ideographic: nil, phonetic: nil).formatted == "")
        #expect(SpecificCharacterSet.defaultRepertoire == SpecificCharacterSet(terms: [""]))
        #expect(SpecificCharacterSet(terms: ["ISO_IR 100 "]).terms == ["ISO_IR 100"])
    }
}
