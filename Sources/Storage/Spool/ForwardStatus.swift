public import Foundation

/// When forwarding last succeeded and last failed (with the failure's reason, a metric label: no data).
public actor ForwardStatus {
    public private(set) var lastSuccess: Date?
    public private(set) var lastFailure: (at: Date, reason: String)?

    public init() {}

    func succeeded() { lastSuccess = Date() }
    func failed(reason: String) { lastFailure = (Date(), reason) }

    /// The failure, when no forward has succeeded since it.
    public var failingSince: (at: Date, reason: String)? {
        guard let lastFailure else { return nil }
        if let lastSuccess, lastSuccess >= lastFailure.at { return nil }
        return lastFailure
    }
}
