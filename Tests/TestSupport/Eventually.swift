/// Polls `condition` every `interval` until it holds or `timeout` has passed; returns whether it held.
/// For states reached asynchronously (a server bound, a connection closed); the timeout only bounds a
/// failing test, it is never what a test asserts.
public func eventually(
    timeout: Duration = .seconds(30), interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: interval)
    }
    return try await condition()
}
