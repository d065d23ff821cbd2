import Domain
import Foundation
import NIOConcurrencyHelpers

/// The listener's sink with refusals passed through the `RejectionLog`; everything else is forwarded.
struct RejectionCoalescingSink: InstanceSink {
    let base: any InstanceSink
    let log: NIOLockedValueBox<RejectionLog>

    init(base: any InstanceSink) {
        self.base = base
        self.log = NIOLockedValueBox(RejectionLog())
    }

    func beginStore(_ request: StoreRequest) async throws -> any InstanceReceiver { try await base.beginStore(request) }
    func associationAccepted(_ context: AssociationContext) async { await base.associationAccepted(context) }
    func associationEnded(_ context: AssociationContext, outcome: AssociationOutcome) async {
        await base.associationEnded(context, outcome: outcome)
    }
    func associationRejectionsRepeated(id: UUID, count: Int) async { await base.associationRejectionsRepeated(id: id, count: count) }

    func associationRejected(_ rejection: RejectedAssociation) async {
        let key = RejectionLog.Key(peer: Self.host(of: rejection.peerAddress), reason: rejection.reason)
        let decision = log.withLockedValue { $0.note(key, at: .now) }
        if case .add(let id, let count) = decision {
            await base.associationRejectionsRepeated(id: id, count: count)
            return
        }
        guard case .record(let id, let previous, let count) = decision else { return }
        if let previous { await base.associationRejectionsRepeated(id: previous, count: count) }
        var rejection = rejection
        rejection.id = id
        await base.associationRejected(rejection)
    }

    /// `host` of `host:port` or `[v6]:port`: attempts from one address share a row whatever their port.
    static func host(of address: String) -> String {
        if address.hasPrefix("["), let end = address.firstIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<end])
        }
        if let colon = address.lastIndex(of: ":") { return String(address[..<colon]) }
        return address
    }
}
