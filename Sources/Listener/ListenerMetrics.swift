import Metrics

/// The listener's metrics (swift-metrics; the executable bootstraps the Prometheus backend).
///
/// - `dicom_associations_active` gauge, label `listener`
/// - `dicom_associations_total` counter, labels `listener`, `outcome` (`released`, `aborted`)
/// - `dicom_associations_rejected_total` counter, labels `listener`, `reason` (the stable reject reason)
/// - `dicom_pdu_bytes_received_total` counter, label `listener`
/// - `dicom_dimse_responses_total` counter, labels `listener`, `command` (`C-ECHO`, `C-STORE`, `other`),
///   `status` (the response's Status (0000,0900) as four uppercase hex digits, e.g. `0000`, `A700`, `C000`)
struct ListenerMetrics: Sendable {
    let listenerName: String
    /// nil: the global `MetricsSystem` factory (bootstrapped by the executable).
    let factory: (any MetricsFactory)?
    private let active: Gauge
    private let pduBytes: Counter

    init(listenerName: String, factory: (any MetricsFactory)? = nil) {
        self.listenerName = listenerName
        self.factory = factory
        let dimensions = [("listener", listenerName)]
        if let factory {
            self.active = Gauge(label: "dicom_associations_active", dimensions: dimensions, factory: factory)
            self.pduBytes = Counter(label: "dicom_pdu_bytes_received_total", dimensions: dimensions, factory: factory)
        } else {
            self.active = Gauge(label: "dicom_associations_active", dimensions: dimensions)
            self.pduBytes = Counter(label: "dicom_pdu_bytes_received_total", dimensions: dimensions)
        }
    }

    func activeAssociations(_ count: Int) {
        active.record(count)
    }

    func associationEnded(outcome: String) {
        counter("dicom_associations_total", [("outcome", outcome)]).increment()
    }

    func associationRejected(reason: String) {
        counter("dicom_associations_rejected_total", [("reason", reason)]).increment()
    }

    func pduBytesReceived(_ count: Int) {
        pduBytes.increment(by: count)
    }

    /// One DIMSE response sent: `command` is the request it answers.
    func dimseResponseSent(command: String, status: UInt16) {
        counter("dicom_dimse_responses_total", [("command", command), ("status", Self.hex(status))]).increment()
    }

    static func hex(_ status: UInt16) -> String {
        let digits = String(status, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }

    private func counter(_ label: String, _ dimensions: [(String, String)]) -> Counter {
        let dimensions = [("listener", listenerName)] + dimensions
        if let factory { return Counter(label: label, dimensions: dimensions, factory: factory) }
        return Counter(label: label, dimensions: dimensions)
    }
}
