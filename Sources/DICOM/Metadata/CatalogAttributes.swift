/// The attributes the catalog stores, from the top-level data set, typed as the catalog keeps them.
/// Strings are pydicom's `str()` of the value (multiple values joined by a backslash; a Person Name
/// as `Alphabetic=Ideographic=Phonetic` with trailing empty groups dropped); integers are IS values.
/// nil when absent or empty.
public struct CatalogAttributes: Sendable, Hashable {
    public var patientID: String?
    public var patientName: String?
    public var patientBirthDate: String?
    public var patientSex: String?
    public var studyInstanceUID: String?
    public var studyDate: String?
    public var studyTime: String?
    public var studyDescription: String?
    public var accessionNumber: String?
    public var seriesInstanceUID: String?
    public var seriesNumber: Int?
    public var seriesDescription: String?
    public var modality: String?
    public var sopClassUID: String?
    public var sopInstanceUID: String?
    public var instanceNumber: Int?
    public var numberOfFrames: Int?

    public init() {}

    enum Field: Sendable {
        case string(any WritableKeyPath<CatalogAttributes, String?> & Sendable)
        case integer(any WritableKeyPath<CatalogAttributes, Int?> & Sendable)
    }

    static let fields: [Tag: Field] = [
        Tag(0x0010_0020): .string(\.patientID),
        Tag(0x0010_0010): .string(\.patientName),
        Tag(0x0010_0030): .string(\.patientBirthDate),
        Tag(0x0010_0040): .string(\.patientSex),
        Tag(0x0020_000D): .string(\.studyInstanceUID),
        Tag(0x0008_0020): .string(\.studyDate),
        Tag(0x0008_0030): .string(\.studyTime),
        Tag(0x0008_1030): .string(\.studyDescription),
        Tag(0x0008_0050): .string(\.accessionNumber),
        Tag(0x0020_000E): .string(\.seriesInstanceUID),
        Tag(0x0020_0011): .integer(\.seriesNumber),
        Tag(0x0008_103E): .string(\.seriesDescription),
        Tag(0x0008_0060): .string(\.modality),
        Tag(0x0008_0016): .string(\.sopClassUID),
        Tag(0x0008_0018): .string(\.sopInstanceUID),
        Tag(0x0020_0013): .integer(\.instanceNumber),
        Tag(0x0028_0008): .integer(\.numberOfFrames),
    ]

    /// Sets the field for a top-level element; values pydicom could not convert leave it nil.
    mutating func update(with element: DataSetNode.Element, characterSet: SpecificCharacterSet) {
        guard let field = Self.fields[element.header.tag] else { return }
        var values: [JSONValue] = []
        if case .value(let bytes) = element.content {
            do {
                values = try ValueConverter.jsonValues(vr: element.header.vr.description, header: element.header, bytes: bytes,
                                                       characterSet: characterSet, pixelRepresentation: nil)
            } catch {
                values = []
            }
        }
        switch field {
        case .string(let keyPath):
            let strings: [String] = values.compactMap { value in
                switch value {
                case .string(let string): return string
                case .personName(let components): return components.joined(separator: "=")
                case .integer(let integer): return String(integer)
                case .unsigned(let integer): return String(integer)
                case .double(let double): return "\(double)"
                }
            }
            self[keyPath: keyPath] = strings.isEmpty ? nil : strings.joined(separator: "\\")
        case .integer(let keyPath):
            if case .integer(let first)? = values.first, let value = Int(exactly: first) {
                self[keyPath: keyPath] = value
            } else {
                self[keyPath: keyPath] = nil
            }
        }
    }
}
