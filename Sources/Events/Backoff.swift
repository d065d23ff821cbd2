/// Exponential backoff with jitter for delivery retries: attempt n waits between half and all of
/// `min(cap, base · 2^(n−1))` ("equal jitter"), so retries of many events spread out instead of
/// arriving at a recovering receiver together, and no wait is shorter than half the nominal one.
public struct Backoff: Sendable, Hashable {
    public var base: Duration
    public var cap: Duration

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(300)) {
        self.base = base
        self.cap = cap
    }

    /// The nominal wait after `attempt` failed attempts (1-based), before jitter.
    public func nominal(afterAttempt attempt: Int) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let scaled = base * (1 << exponent)
        return scaled > cap ? cap : scaled
    }

    /// The wait after `attempt` failed attempts: uniform in [nominal/2, nominal].
    public func delay(afterAttempt attempt: Int, using generator: inout some RandomNumberGenerator) -> Duration {
        let nominal = nominal(afterAttempt: attempt)
        let half = nominal / 2
        let spread = Double.random(in: 0...1, using: &generator)
        return half + half * spread
    }
}
