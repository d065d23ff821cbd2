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
    /// The event can never be delivered to this sink as it is (retrying cannot help): the delivery is
    /// `failed` at once with this detail.
    public var isPermanent: Bool
    public init(_ detail: String, permanent: Bool = false) {
        self.detail = detail
        self.isPermanent = permanent
    }
    public var description: String { detail }
}
