import DICOM
public import Domain
public import Foundation
public import Logging
import Metrics

/// The instance sink of the product: each C-STORE streams into a Part10 object while the codec
/// reads the same bytes once for the DICOM JSON metadata and the catalog attributes. The C-STORE answer
/// is success only after the Part10 object is complete, the metadata object is written (when on) and the
/// catalog row is committed; every failure before that answers a failure status and records nothing.
public struct IngestSink: InstanceSink {
    public struct Options: Sendable {
        /// How much of the data set head may be held while waiting for the attributes the object key needs.
        public var maximumKeyLookahead: Int = 4 * 1024 * 1024
        /// Binary values larger than this are omitted from the JSON metadata (PS3.18 F.2.6 allows omission).
        public var bulkDataThreshold: Int = 1024
        public init() {}
    }

    let listener: ListenerConfig
    let layout: ObjectKeyLayout
    let store: any ObjectStore
    let recorder: any IngestRecorder
    let options: Options
    let logger: Logger
    let serializer: KeyedSerializer
    /// The spool of a `spooled` listener (then `store` writes into it); nil for `stored`.
    let spool: (any SpoolAdmission)?

    public init(listener: ListenerConfig, store: any ObjectStore, recorder: any IngestRecorder,
                serializer: KeyedSerializer, spool: (any SpoolAdmission)? = nil, options: Options = Options(),
                logger: Logger) throws {
        self.listener = listener
        self.layout = try ObjectKeyLayout(target: listener.storage)
        self.store = store
        self.recorder = recorder
        self.serializer = serializer
        self.spool = listener.storage.ackMode == .spooled ? spool : nil
        self.options = options
        self.logger = logger
    }

    public func beginStore(_ request: StoreRequest) async throws -> any InstanceReceiver {
        // Spooled acknowledgement: a full spool refuses the instance before any byte of it is written.
        if let spool, let refusal = await spool.refusal() {
            Counter(label: "dicom_instances_failed_total", dimensions: [("listener", listener.name)]).increment()
            logger.warning("C-STORE refused: spool full", metadata: ["listener": "\(listener.name)", "reason": "\(refusal)"])
            throw StoreFailure(.outOfResources(refusal))
        }
        let extractor: MetadataExtractor
        let limits = request.association.listener.limits
        do {
            // `.record`: the Part10 object is what the archive keeps, so a data set the codec cannot read to
            // the end is still stored as sent when its key can be formed (see `IngestReceiver.complete`).
            extractor = try MetadataExtractor(
                transferSyntaxUID: request.transferSyntaxUID,
                options: MetadataOptions(bulkDataThreshold: options.bulkDataThreshold,
                                         maximumInflatedBytes: limits.maxInflatedBytes,
                                         maximumInflationRatio: limits.maxInflationRatio,
                                         damageHandling: .record))
        } catch {
            throw StoreFailure(.cannotUnderstand("Transfer syntax not readable: \(error)"))
        }
        do {
            return try IngestReceiver(request: request, sink: self, extractor: extractor)
        } catch {
            throw StoreFailure(.cannotUnderstand("File meta information: \(error)"))
        }
    }

    public func associationAccepted(_ context: AssociationContext) async {
        let record = AssociationRecord(
            id: context.associationID, listenerID: context.listener.id, callingAETitle: context.callingAETitle,
            calledAETitle: context.calledAETitle, peerAddress: context.peerAddress, startedAt: context.startedAt)
        do {
            try await recorder.startAssociation(record)
        } catch {
            logger.error("could not record association start", metadata: context.logMetadata.merging(["error": "\(error)"]) { $1 })
        }
    }

    public func associationEnded(_ context: AssociationContext, outcome: AssociationOutcome) async {
        do {
            try await recorder.endAssociation(id: context.associationID, outcome: outcome, endedAt: Date())
        } catch {
            logger.error("could not record association end", metadata: context.logMetadata.merging(["error": "\(error)"]) { $1 })
        }
    }

    public func associationRejected(_ rejection: RejectedAssociation) async {
        let record = AssociationRecord(
            id: rejection.id, listenerID: rejection.listener.id, callingAETitle: rejection.callingAETitle, calledAETitle: rejection.calledAETitle,
            peerAddress: rejection.peerAddress, startedAt: rejection.at, endedAt: rejection.at, outcome: .rejected,
            rejectReason: rejection.reason)
        do {
            try await recorder.startAssociation(record)
        } catch {
            logger.error("could not record rejected association", metadata: ["listener": "\(rejection.listener.name)", "error": "\(error)"])
        }
    }

    public func associationRejectionsRepeated(id: UUID, count: Int) async {
        do {
            try await recorder.addRejectedAttempts(associationID: id, count: count)
        } catch {
            logger.error("could not count coalesced rejections", metadata: ["error": "\(error)"])
        }
    }
}
