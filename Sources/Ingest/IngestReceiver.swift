import Crypto
import DICOM
import Domain
import Foundation
import Logging
import Metrics
import NIOCore

/// One C-STORE in flight. The listener calls `receive` sequentially, then exactly one of `finish`/`cancel`.
actor IngestReceiver: InstanceReceiver {
    private enum Phase {
        /// Holding the head of the data set until the attributes the key needs have been read.
        case lookahead([ByteBuffer], Int)
        case streaming(any ObjectUpload, slots: ObjectSlots.Choice)
        case done
    }

    private let request: StoreRequest
    private let sink: IngestSink
    private let receivedAt = Date()
    private let started = ContinuousClock.now
    private var extractor: MetadataExtractor
    private var hasher = SHA256()
    private var part10Bytes: Int64 = 0
    private var phase: Phase
    private var header: ByteBuffer
    private var logger: Logger

    init(request: StoreRequest, sink: IngestSink, extractor: MetadataExtractor) throws(Part10.HeaderError) {
        self.request = request
        self.sink = sink
        self.extractor = extractor
        let ctx = request.association
        self.header = try Part10.fileMetaHeader(
            sopClassUID: request.affectedSOPClassUID, sopInstanceUID: request.affectedSOPInstanceUID,
            transferSyntaxUID: request.transferSyntaxUID, sourceAETitle: ctx.callingAETitle,
            sendingAETitle: ctx.callingAETitle, receivingAETitle: ctx.calledAETitle)
        self.phase = .lookahead([], 0)
        var logger = sink.logger
        for (k, v) in ctx.logMetadata { logger[metadataKey: k] = v }
        logger[metadataKey: "message_id"] = "\(request.messageID)"
        self.logger = logger
        var hasher = SHA256()
        header.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        self.hasher = hasher
        self.part10Bytes = Int64(header.readableBytes)
    }

    /// Deflated data sets are inflated in slices of this size with a yield between them, so a fragment that
    /// expands a thousandfold shares the cooperative threads with every other association.
    static let inflationSliceBytes = 1 << 20

    func receive(_ fragment: ByteBuffer) async throws {
        do {
            try extractor.feed(fragment)
            while try extractor.advance(inflatingAtMost: Self.inflationSliceBytes) {
                await Task.yield()
            }
        } catch {
            try await fail(Self.status(for: error), reason: "unreadable data set", error: error)
        }
        fragment.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        part10Bytes += Int64(fragment.readableBytes)

        switch phase {
        case .lookahead(var held, let heldBytes):
            held.append(fragment)
            let total = heldBytes + fragment.readableBytes
            if let keys = try await keysIfReady(final: extractor.unreadable != nil) {
                try await startUpload(keys: keys, held: held)
            } else if total > sink.options.maximumKeyLookahead {
                try await fail(.cannotUnderstand("Attributes for the object key not found in data set head"),
                           reason: "key attributes missing", error: nil)
            } else {
                phase = .lookahead(held, total)
            }
        case .streaming(let upload, _):
            do {
                try await upload.write(fragment)
            } catch {
                try await fail(Self.writeFailure(error), reason: Self.writeFailureReason(error), error: error)
            }
        case .done:
            throw StoreFailure(.processingFailure("Instance already completed"))
        }
    }

    func finish() async -> StoreStatus {
        do {
            return try await complete()
        } catch let failure as StoreFailure {
            return failure.status
        } catch {
            await cleanup()
            countFailure(reason: "internal")
            logger.error("C-STORE failed", metadata: ["error": "\(error)"])
            return .processingFailure("Internal error")
        }
    }

    func cancel() async {
        if case .done = phase { return }
        await cleanup()
        countFailure(reason: "cancelled")
        logger.notice("C-STORE cancelled; nothing stored")
    }

    // MARK: - Steps

    private func complete() async throws -> StoreStatus {
        if case .lookahead(let held, _) = phase {
            guard let keys = try await keysIfReady(final: true) else {
                try await fail(.cannotUnderstand("Attributes for the object key not found"), reason: "key attributes missing", error: nil)
            }
            try await startUpload(keys: keys, held: held)
        }
        guard case .streaming(let upload, let slots) = phase else {
            throw StoreFailure(.processingFailure("Instance already completed"))
        }

        let metadata: ExtractedMetadata
        do {
            metadata = try extractor.finish()
        } catch {
            try await fail(Self.status(for: error), reason: "unreadable data set", error: error)
        }
        if metadata.wasTruncated {
            try await fail(Self.incomplete, reason: "incomplete data set", error: nil)
        }
        let answer = answer(for: metadata)
        let attributes = metadata.attributes
        if let uid = attributes.sopInstanceUID, uid != request.affectedSOPInstanceUID {
            try await fail(.dataSetDoesNotMatchSOPClass("SOP Instance UID differs from C-STORE-RQ"), reason: "sop instance uid mismatch", error: nil)
        }
        if let uid = attributes.sopClassUID, uid != request.affectedSOPClassUID {
            try await fail(.dataSetDoesNotMatchSOPClass("SOP Class UID differs from C-STORE-RQ"), reason: "sop class uid mismatch", error: nil)
        }
        guard let studyUID = attributes.studyInstanceUID, let seriesUID = attributes.seriesInstanceUID else {
            if let damage = metadata.unreadable {
                try await fail(.cannotUnderstand("Study/Series UID unreadable: damaged at \(damage.offset)"),
                               reason: "missing study/series uid", error: damage)
            }
            try await fail(.dataSetDoesNotMatchSOPClass("Study or Series Instance UID missing"), reason: "missing study/series uid", error: nil)
        }

        let target = request.association.listener.storage
        let digest = LowercaseHex.string(hasher.finalize())
        let ctx = request.association
        let record = InstanceRecord(
            sopInstanceUID: request.affectedSOPInstanceUID, sopClassUID: request.affectedSOPClassUID,
            seriesInstanceUID: seriesUID, studyInstanceUID: studyUID, instanceNumber: attributes.instanceNumber,
            transferSyntaxUID: request.transferSyntaxUID, sizeBytes: part10Bytes, storedBytes: 0,
            objectURI: "", metadataURI: nil, sha256: digest, listenerID: ctx.listener.id,
            associationID: ctx.associationID, callingAETitle: ctx.callingAETitle, calledAETitle: ctx.calledAETitle,
            peerAddress: ctx.peerAddress, receivedAt: receivedAt,
            patientID: attributes.patientID, patientName: attributes.patientName, patientBirthDate: attributes.patientBirthDate,
            patientSex: attributes.patientSex, studyDate: attributes.studyDate, studyTime: attributes.studyTime,
            studyDescription: attributes.studyDescription, accessionNumber: attributes.accessionNumber,
            seriesNumber: attributes.seriesNumber, seriesDescription: attributes.seriesDescription,
            modality: attributes.modality, numberOfFrames: attributes.numberOfFrames,
            // Spooled acknowledgement: the row is committed `spooled` and the forwarder marks it `stored`.
            storageState: sink.spool == nil ? .stored : .spooled, storedAt: sink.spool == nil ? Date() : nil,
            spoolID: sink.spool?.id)
        let commit = InstanceCommit(
            sink: sink, upload: upload, slots: slots, record: record, metadataJSON: target.createMetadata ? metadata.json : nil,
            logger: logger)
        // Receives of other UIDs whose keys coincide (a key template without the SOP Instance UID) wait
        // for each other too: the object this one may write is locked, both slots when not yet chosen.
        let lockKeys = ["uid:" + request.affectedSOPInstanceUID] + slots.possibleKeys.map { "object:" + sink.store.uri(for: $0) }
        let outcome = await sink.serializer.withLocks(lockKeys) { await commit.runHoldingCatalogLock() }

        phase = .done
        switch outcome {
        case .success(let record):
            // The row is committed: the forwarder need not wait for its next look at the queue.
            sink.spool?.instanceSpooled()
            let seconds = Double((ContinuousClock.now - started).components.attoseconds) / 1e18 + Double((ContinuousClock.now - started).components.seconds)
            Counter(label: "dicom_instances_stored_total", dimensions: [("listener", ctx.listener.name)]).increment()
            Counter(label: "dicom_instance_bytes_total", dimensions: [("listener", ctx.listener.name)]).increment(by: Int(part10Bytes))
            Metrics.Timer(label: "dicom_store_duration_seconds", dimensions: [("listener", ctx.listener.name)])
                .recordNanoseconds(Int64(seconds * 1e9))
            logger.info("stored instance", metadata: [
                "bytes": "\(part10Bytes)", "stored_bytes": "\(record.storedBytes)", "receive_count": "\(record.receiveCount)",
                "object": "\(record.objectURI)",
            ])
            return answer
        case .failure(let failure):
            countFailure(reason: failure.status.errorComment ?? "store")
            await recordFailure()
            logger.warning("C-STORE failed", metadata: ["status": "\(failure.status)"])
            return failure.status
        }
    }

    /// The keys, once every attribute they need is known; nil while more data set is needed.
    private func keysIfReady(final: Bool) async throws -> (dicom: String, metadata: String)? {
        let attributes = extractor.attributes
        let needed = sink.layout.requiredDataSetPlaceholders
        let haveAll = needed.allSatisfy { placeholder in
            switch placeholder {
            case .studyInstanceUID: return attributes.studyInstanceUID != nil
            case .seriesInstanceUID: return attributes.seriesInstanceUID != nil
            case .modality: return attributes.modality != nil
            default: return true
            }
        }
        if !haveAll && !final { return nil }
        if !haveAll, let damage = extractor.unreadable {
            try await fail(.cannotUnderstand("Key attributes unreadable: damaged at \(damage.offset)"),
                           reason: "key attributes unreadable", error: damage)
        }
        let ctx = request.association
        let values = ObjectKeyLayout.Values(
            studyInstanceUID: attributes.studyInstanceUID, seriesInstanceUID: attributes.seriesInstanceUID,
            sopInstanceUID: request.affectedSOPInstanceUID, modality: attributes.modality,
            callingAETitle: ctx.callingAETitle, calledAETitle: ctx.calledAETitle, listenerName: ctx.listener.name,
            receivedAt: receivedAt)
        do {
            return try sink.layout.keys(for: values)
        } catch {
            try await fail(.cannotUnderstand("Object key: \(error)"), reason: "no valid object key", error: error)
        }
    }

    private func startUpload(keys: (dicom: String, metadata: String), held: [ByteBuffer]) async throws {
        let target = request.association.listener.storage
        let slots: ObjectSlots.Choice
        if sink.store.uploadsAreRenamable {
            // Named when finished: the slot is chosen at the commit, from the row read with the lock.
            slots = .atCommit(primary: keys)
        } else {
            do {
                slots = .chosen(try await ObjectSlots.choose(
                    primary: keys, for: request.affectedSOPInstanceUID, listenerID: request.association.listener.id,
                    store: sink.store, recorder: sink.recorder))
            } catch let failure as StoreFailure {
                try await fail(failure.status, reason: failure.status.errorComment ?? "refused", error: nil)
            } catch {
                try await fail(.outOfResources("Catalog unavailable"), reason: "catalog unavailable", error: error)
            }
        }
        let upload: any ObjectUpload
        do {
            upload = try await sink.store.beginUpload(
                key: slots.uploadKey,
                options: ObjectPutOptions(contentType: ObjectPutOptions.dicomContentType,
                                          gzipLevel: target.gzip ? target.gzipLevel : nil,
                                          storageClass: target.storageClass,
                                          serverSideEncryption: target.serverSideEncryption, kmsKeyID: target.kmsKeyID))
        } catch {
            try await fail(.outOfResources("Object store unavailable"), reason: "object store unavailable", error: error)
        }
        phase = .streaming(upload, slots: slots)
        do {
            try await upload.write(header)
            for chunk in held { try await upload.write(chunk) }
        } catch {
            try await fail(Self.writeFailure(error), reason: Self.writeFailureReason(error), error: error)
        }
    }

    /// A700 for a failed write: a full spool says so (the sender should retry once it drains), anything
    /// else is the object store's failure.
    static func writeFailure(_ error: any Error) -> StoreStatus {
        if let full = error as? SpoolFull { return .outOfResources(full.reason) }
        return .outOfResources("Object store write failed")
    }

    static func writeFailureReason(_ error: any Error) -> String {
        error is SpoolFull ? "spool full" : "object store write failed"
    }

    // MARK: - Data set problems

    /// An incomplete data set (the last fragment ends inside an element, item, sequence or deflate stream)
    /// is not the instance the sender has: Error, Cannot Understand (PS3.4 B.2.3, C000 family), never 0000.
    static let incomplete = StoreStatus.cannotUnderstand("Incomplete data set: ends inside an element")

    /// The failure status for an extraction error. A deflated data set beyond the listener's inflation
    /// bounds (`limits.maxInflatedBytes`, `limits.maxInflationRatio`) is answered C000 (Cannot
    /// Understand): the data itself is at fault, so not the retryable A7xx family, and it is not a
    /// mismatch with the SOP Class (A900) either.
    static func status(for error: any Error) -> StoreStatus {
        guard let error = error as? DataSetError else { return .cannotUnderstand("Cannot parse data set") }
        switch error.code {
        case .inflatedSizeExceeded: return .cannotUnderstand("Deflated data set exceeds limits.maxInflatedBytes")
        case .inflationRatioExceeded: return .cannotUnderstand("Deflated data set exceeds limits.maxInflationRatio")
        case .unexpectedEndOfData: return incomplete
        default: return .cannotUnderstand("Cannot parse data set: \(error.code) at \(error.offset)")
        }
    }

    /// 0000, or Warning B007 when the object is stored whole but its data set could not be read to the
    /// end or has values that cannot be converted to their VR. PS3.4 B.2.3 defines B007 "Data Set does
    /// not match SOP Class" as stored with that caveat; B000 (coercion) would say we changed values and
    /// B006 (elements discarded) that we dropped some, and we keep the object byte for byte. The JSON
    /// records the gap; counters and a log line (tags and offsets only, no values) tell the operator.
    private func answer(for metadata: ExtractedMetadata) -> StoreStatus {
        let listener = request.association.listener.name
        var comment: String?
        if !metadata.unconvertibleElements.isEmpty {
            Counter(label: "dicom_metadata_unconvertible_elements_total", dimensions: [("listener", listener)])
                .increment(by: metadata.unconvertibleElements.count)
            let tags = metadata.unconvertibleElements.prefix(8).map { $0.map(\.hexString).joined(separator: "/") }
            logger.warning("values not convertible to their VR; elements kept without Value in the metadata",
                           metadata: ["count": "\(metadata.unconvertibleElements.count)", "tags": "\(tags.joined(separator: ","))"])
            comment = "Value not convertible: \(metadata.unconvertibleElements[0].map(\.hexString).joined(separator: "/"))"
        }
        if let damage = metadata.unreadable {
            Counter(label: "dicom_metadata_unreadable_data_sets_total", dimensions: [("listener", listener)]).increment()
            logger.warning("data set unreadable past an offset; object stored as sent, metadata up to there",
                           metadata: ["error": "\(damage)"])
            comment = "Unreadable from offset \(damage.offset)\(damage.tag.map { " at \($0)" } ?? ""); stored as sent"
        }
        guard let comment else { return .success }
        return .dataSetDoesNotMatchSOPClassWarning(comment)
    }

    /// Ends this C-STORE with `status`: aborts any partial upload, counts and records the failure.
    private func fail(_ status: StoreStatus, reason: String, error: (any Error)?) async throws -> Never {
        await cleanup()
        countFailure(reason: reason)
        await recordFailure()
        var metadata: Logger.Metadata = ["status": "\(status)", "reason": "\(reason)"]
        if let error { metadata["error"] = "\(error)" }
        logger.warning("C-STORE failed", metadata: metadata)
        throw StoreFailure(status)
    }

    private func cleanup() async {
        if case .streaming(let upload, _) = phase {
            await upload.abort()
        }
        phase = .done
    }

    private func recordFailure() async {
        do {
            try await sink.recorder.recordFailure(associationID: request.association.associationID)
        } catch {
            logger.warning("could not count failed instance", metadata: ["error": "\(error)"])
        }
    }

    private func countFailure(reason: String) {
        Counter(label: "dicom_instances_failed_total", dimensions: [("listener", request.association.listener.name)]).increment()
    }
}
