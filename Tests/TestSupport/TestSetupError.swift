/// A test could not set up what it needs (a tool, a service, a fixture). It fails the test with a
/// message that says what to install or start; tests never skip for it.
public struct TestSetupError: Error, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
