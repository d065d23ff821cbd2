public import Domain

/// Sends one event to one sink. Returning means the sink accepted it; throwing `DeliveryError` means
/// it did not (the dispatcher retries with backoff).
public protocol EventTransport: Sendable {
    func deliver(_ delivery: ClaimedDelivery) async throws
}

/// Why an attempt failed, in words safe to store and show: a status code or a transport error kind,
/// never the event body or a secret.
public struct DeliveryError: Error, Sendable, Hashable, CustomStringConvertible {
    public var detail: String
    public init(_ detail: String) { self.detail = detail }
    public var description: String { detail }
}
