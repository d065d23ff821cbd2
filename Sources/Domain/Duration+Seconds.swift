public import Foundation

extension Duration {
    /// The duration as seconds, for `Date` arithmetic and for timeouts given as `TimeInterval`.
    public var seconds: TimeInterval {
        TimeInterval(components.seconds) + TimeInterval(components.attoseconds) / 1e18
    }
}
