/// Back-pressure of the local spool: a `spooled` listener asks before it accepts a C-STORE's data set, so
/// an instance is refused whole (A700, Out of Resources, PS3.4 Annex B.2.3) rather than half-written.
public protocol SpoolAdmission: Sendable {
    /// The identity of the spool volume, recorded in each spooled row.
    var id: String { get }
    /// Nil while the spool has room; otherwise why not (safe for an Error Comment and `/readyz`).
    func refusal() async -> String?
}
