import Domain

/// The keys both stores accept: relative, `/`-separated, at most 1024 UTF-8 bytes (S3's limit),
/// no empty, `.` or `..` segment, no NUL, no backslash, no leading `/`.
enum ObjectKey {
    static let maximumLength = 1024

    static func validate(_ key: String) throws {
        func refuse(_ why: String) -> ObjectStoreError {
            ObjectStoreError(.invalidKey, detail: "object key refused: \(why)")
        }
        if key.isEmpty { throw refuse("empty") }
        if key.utf8.count > maximumLength { throw refuse("longer than \(maximumLength) bytes") }
        if key.utf8.contains(0) { throw refuse("contains NUL") }
        if key.utf8.contains(UInt8(ascii: "\\")) { throw refuse("contains a backslash") }
        if key.hasPrefix("/") { throw refuse("absolute path") }
        for segment in key.split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { throw refuse("empty path segment") }
            if segment == "." || segment == ".." { throw refuse("'.' or '..' segment") }
        }
    }
}
