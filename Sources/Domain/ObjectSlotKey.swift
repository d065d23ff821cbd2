/// The two key slots of one instance: the primary key of the layout (`…/<SOPInstanceUID>.dcm`, `.json`)
/// and the alternate one with `~1` before the file extension. A re-send writes the slot the committed row
/// does not name and the row then moves to it, so an object the row no longer names can be left in the
/// other slot; both the receive and the forwarder find it from the key alone. `~` never occurs in a
/// primary key: the layout reduces every value to `[A-Za-z0-9._-]`.
public enum ObjectSlotKey {
    public static let alternateMarker = "~1"

    /// The alternate slot of a primary key: `~1` inserted before the extension of the last path segment.
    public static func alternate(of primary: String) -> String {
        let nameStart = primary.lastIndex(of: "/").map { primary.index(after: $0) } ?? primary.startIndex
        guard let dot = primary[nameStart...].lastIndex(of: ".") else { return primary + alternateMarker }
        return String(primary[..<dot]) + alternateMarker + String(primary[dot...])
    }

    /// The key of the other slot: the primary key for an alternate one, the alternate for a primary one.
    public static func sibling(of key: String) -> String {
        let nameStart = key.lastIndex(of: "/").map { key.index(after: $0) } ?? key.startIndex
        let stem = key[nameStart...].lastIndex(of: ".").map { key[..<$0] } ?? key[...]
        guard stem.hasSuffix(alternateMarker), stem.endIndex > nameStart else { return alternate(of: key) }
        let markerStart = key.index(stem.endIndex, offsetBy: -alternateMarker.count)
        return String(key[..<markerStart]) + String(key[stem.endIndex...])
    }
}
