import Domain
import Foundation
import Logging
import PostgresNIO
@testable import Storage
import Testing

/// Two catalogs ("nodes") on one fresh, migrated database, their pools running for `body`.
func withTwoPostgresNodes(_ body: (PostgresTestServer, String, PostgresCatalog, PostgresCatalog) async throws -> Void) async throws {
    try await withFreshPostgresDatabase { server, name in
        try await withRunningPostgresCatalog(url: server.url(database: name)) { a in
            try await a.migrate()
            try await withRunningPostgresCatalog(url: server.url(database: name)) { b in
                try await body(server, name, a, b)
            }
        }
    }
}

struct WaitTimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// The next element of `stream` (one consumer at a time), failing the test after a generous bound
/// instead of hanging it.
func next<Element: Sendable>(_ stream: AsyncStream<Element>, _ what: String, within limit: Duration = .seconds(15)) async throws -> Element {
    try await withThrowingTaskGroup(of: Element?.self) { group in
        group.addTask {
            var iterator = stream.makeAsyncIterator()
            guard let element = await iterator.next() else { throw WaitTimedOut(what: what + " (stream ended)") }
            return element
        }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let element = first else { throw WaitTimedOut(what: what) }
        return element
    }
}

/// Polls `condition` every 50 ms until it holds; throws after `limit`. For states only visible by asking.
func waitUntil(_ what: String, within limit: Duration = .seconds(15), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + limit
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(50))
    }
    throw WaitTimedOut(what: what)
}
