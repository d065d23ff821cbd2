public import Foundation

/// A fresh directory under the system's temporary directory, named `prefix-UUID`. It is removed when the
/// test process exits (or earlier, by `TemporaryDirectory`'s deinit), so repeated runs leave nothing behind.
public func makeTemporaryDirectory(_ prefix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    CreatedDirectories.shared.add(url)
    return url
}

/// The directories `makeTemporaryDirectory` made in this process, removed by an `atexit` handler.
private final class CreatedDirectories: @unchecked Sendable {
    static let shared = CreatedDirectories()
    // Owns its lock: tests run in parallel.
    private let lock = NSLock()
    private var urls: [URL] = []

    private init() {
        atexit {
            for url in CreatedDirectories.shared.taken() {
                try? FileManager.default.removeItem(at: url)
            }
        }
    }

    func add(_ url: URL) {
        lock.withLock { urls.append(url) }
    }

    func taken() -> [URL] {
        lock.withLock {
            defer { urls = [] }
            return urls
        }
    }
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
