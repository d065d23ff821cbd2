import Metrics

/// The listener's metrics (swift-metrics; the executable bootstraps the Prometheus backend).
///
/// - `dicom_associations_active` gauge, label `listener`
/// - `dicom_associations_total` counter, labels `listener`, `outcome` (`released`, `aborted`)
/// - `dicom_associations_rejected_total` counter, labels `listener`, `reason` (the stable reject reason)
/// - `dicom_pdu_bytes_received_total` counter, label `listener`
struct ListenerMetrics: Sendable {
    let listenerName: String
    private let active: Gauge
    private let pduBytes: Counter

    init(listenerName: String) {
        self.listenerName = listenerName
        self.active = Gauge(label: "dicom_associations_active", dimensions: [("listener", listenerName)])
        self.pduBytes = Counter(label: "dicom_pdu_bytes_received_total", dimensions: [("listener", listenerName)])
    }

    func activeAssociations(_ count: Int) {
        active.record(count)
    }

    func associationEnded(outcome: String) {
        Counter(label: "dicom_associations_total", dimensions: [("listener", listenerName), ("outcome", outcome)])
            .increment()
    }

    func associationRejected(reason: String) {
        Counter(label: "dicom_associations_rejected_total", dimensions: [("listener", listenerName), ("reason", reason)])
            .increment()
    }

    func pduBytesReceived(_ count: Int) {
        pduBytes.increment(by: count)
    }
}
