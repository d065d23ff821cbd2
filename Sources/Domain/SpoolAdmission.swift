/// Back-pressure of the local spool: a `spooled` listener asks before it accepts a C-STORE's data set, so
/// an instance is refused whole (A700, Out of Resources, PS3.4 Annex B.2.3) rather than half-written.
public protocol SpoolAdmission: Sendable {
    /// The identity of the spool volume, recorded in each spooled row.
    var id: String { get }
    /// Nil while the spool has room; otherwise why not (safe for an Error Comment and `/readyz`).
    func refusal() async -> String?
    /// A receive committed a `spooled` row of this spool: its forwarder may claim it now.
    func instanceSpooled()
}

/// A write into the spool that would take it beyond its quota (`DICOM_INGEST_SPOOL_MAX_BYTES`) or its
/// volume beyond 90 %: the write is refused before its bytes reach the disk, and the instance it belongs
/// to is answered A700 (Out of Resources) with `reason` as the Error Comment.
public struct SpoolFull: Error, Sendable, CustomStringConvertible {
    /// Safe for an Error Comment and `/readyz`: sizes only.
    public var reason: String

    public init(reason: String) { self.reason = reason }

    public var description: String { reason }
}
