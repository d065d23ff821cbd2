public import Foundation

/// A fresh directory under the system's temporary directory, named `prefix-UUID`.
public func makeTemporaryDirectory(_ prefix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A temporary directory removed when the value goes out of scope.
public struct TemporaryDirectory: ~Copyable {
    public let url: URL

    public init(_ prefix: String = "test") throws {
        url = try makeTemporaryDirectory(prefix)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}
