/// The three component groups of a Person Name value (PS3.5 §6.2.1.1): alphabetic, ideographic and
/// phonetic, as pydicom's `PersonName.components`; absent groups are `nil`.
public struct PersonNameGroups: Sendable, Hashable {
    public var alphabetic: String?
    public var ideographic: String?
    public var phonetic: String?

    public init(alphabetic: String?, ideographic: String?, phonetic: String?) {
        self.alphabetic = alphabetic
        self.ideographic = ideographic
        self.phonetic = phonetic
    }

    /// pydicom's str(PersonName): groups joined with "=", trailing empty groups dropped.
    public var formatted: String {
        var groups = [alphabetic ?? "", ideographic ?? "", phonetic ?? ""]
        while let last = groups.last, last.isEmpty { groups.removeLast() }
        return groups.joined(separator: "=")
    }
}
