import Foundation
import Testing

@testable import Domain

/// `CatalogValueRules.text`: control characters dropped, surrounding spaces trimmed, cut to a number of
/// Characters, nil when nothing is left; checked against the rule written out step by step.
@Suite("Catalog text rules")
struct CatalogTextRulesTests {
    static func reference(_ value: String?, maximum: Int) -> String? {
        guard let value else { return nil }
        var scalars = String.UnicodeScalarView()
        for scalar in value.unicodeScalars where !(scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)) {
            scalars.append(scalar)
        }
        var cleaned = String(scalars).trimmingCharacters(in: .whitespaces)
        if cleaned.count > maximum { cleaned = String(cleaned.prefix(maximum)).trimmingCharacters(in: .whitespaces) }
        return cleaned.isEmpty ? nil : cleaned
    }

    static let values: [String?] = [
        nil, "", " ", "\t", "CT", " CT ", "\tCT\t", "Doe^Jane", "Doe\u{0}^Jane\u{1B}", "\u{85}x\u{9F}", "\u{A0}Müller\u{A0}",
        "\u{3000}日本\u{3000}", "\u{2003}x", "x\u{2003}", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "ÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉ",
        "ÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉ", "e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}e\u{301}",
        "ABCDEFGHIJKLMNO  Q", "\n\r", "a\u{7F}b",
    ]

    @Test(arguments: values, [8, 16, 64])
    func textEqualsTheStepByStepRule(_ value: String?, _ maximum: Int) {
        #expect(CatalogValueRules.text(value, maximum: maximum) == Self.reference(value, maximum: maximum))
    }
}
