public import Foundation
import Synchronization

/// A fresh directory under the system's temporary directory, named `prefix-UUID`. It is removed when the
/// test process exits (or earlier, by `TemporaryDirectory`'s deinit), so repeated runs leave nothing behind.
public func makeTemporaryDirectory(_ prefix: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    createdDirectories.withLock { $0.append(url) }
    return url
}

/// The directories `makeTemporaryDirectory` made in this process, removed by an `atexit` handler that the
/// first one registers.
private let createdDirectories: Mutex<[URL]> = {
    atexit {
        for url in createdDirectories.withLock({ urls in defer { urls = [] }; return urls }) {
            try? FileManager.default.removeItem(at: url)
        }
    }
    return Mutex([])
}()

/// A temporary directory removed when the value goes out of scope.
public struct TemporaryDirectory: ~Copyable {
    public let url: URL

    public init(_ prefix: String = "test") throws {
        url = try makeTemporaryDirectory(prefix)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
}
