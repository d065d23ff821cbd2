import AWS
import Domain
import Logging
import NIOCore

/// One streaming object write to S3.
///
/// Bytes (gzip-compressed on the way when asked) fill a part buffer. A full part is sent only once
/// more bytes arrive, so an object that ends at or below the single-PUT threshold is one `PutObject`.
/// Otherwise the first full part creates the multipart upload; each part is uploaded while the next
/// one fills, and `write` waits for part N before handing off part N+1: at most two parts are held.
/// Any failure, cancellation or `abort()` ends in `AbortMultipartUpload`, so no parts stay behind.
actor S3Upload: ObjectUpload {
    private enum State { case open, finished, aborted }

    private let store: S3ObjectStore
    private let key: String
    private let options: ObjectPutOptions
    private let partSize: Int
    private let singlePutThreshold: Int
    private var encoder: GzipEncoder?
    private var current = ByteBuffer()
    private var uploadID: String?
    private var inFlight: EventLoopFuture<CompletedPart>?
    /// The bytes of the part in flight; once it is done its storage fills the next part.
    private var inFlightBuffer: ByteBuffer?
    private var recycled: ByteBuffer?
    private var completed: [CompletedPart] = []
    private var nextPartNumber = 1
    private var contentLength: Int64 = 0
    private var storedLength: Int64 = 0
    private var state = State.open
    /// Cancelled with the task that writes or finishes: a part upload then stops retrying (the part's future
    /// is not tied to any task, so cancellation has to reach its retry loop this way).
    private let partCancellation = RetryCancellation()

    init(store: S3ObjectStore, key: String, options: ObjectPutOptions) throws {
        self.store = store
        self.key = key
        self.options = options
        self.partSize = store.configuration.partSize
        self.singlePutThreshold = store.configuration.singlePutThreshold
        self.encoder = try options.gzipLevel.map { try GzipEncoder(level: $0) }
    }

    func write(_ chunk: ByteBuffer) async throws {
        try ensureOpen()
        do {
            try Task.checkCancellation()
            contentLength += Int64(chunk.readableBytes)
            if let encoder {
                try await append(try encoder.compress(chunk))
            } else {
                try await append(chunk)
            }
        } catch {
            throw await failed(error)
        }
    }

    func finish() async throws -> StoredObject {
        try ensureOpen()
        do {
            try Task.checkCancellation()
            if let encoder {
                try await append(try encoder.finish())
                self.encoder = nil
            }
            if uploadID == nil, current.readableBytes <= singlePutThreshold {
                let body = current
                current = ByteBuffer()
                try await store.putObject(key: key, body: body, options: options)
                storedLength = Int64(body.readableBytes)
            } else {
                if current.readableBytes > 0 || uploadID == nil {
                    try await emitPart()
                }
                try await collectInFlight()
                guard let uploadID else { throw ObjectStoreError(.aborted, detail: "upload was aborted") }
                try await store.completeMultipartUpload(key: key, uploadID: uploadID, parts: completed)
                self.uploadID = nil
            }
            try ensureOpen()
            state = .finished
            return StoredObject(key: key, uri: store.uri(for: key), contentLength: contentLength,
                                storedLength: storedLength)
        } catch {
            throw await failed(error)
        }
    }

    func abort() async {
        guard state == .open else { return }
        state = .aborted
        await cleanUp()
    }

    deinit {
        if uploadID != nil {
            store.logger.error("S3 upload dropped without finish() or abort(); its multipart upload remains until a lifecycle rule removes it")
        }
    }

    // MARK: - Parts

    private func append(_ bytes: ByteBuffer) async throws {
        var bytes = bytes
        while bytes.readableBytes > 0 {
            if current.readableBytes >= partSize {
                try await emitPart()
            }
            let count = min(partSize - current.readableBytes, bytes.readableBytes)
            if nextPartNumber > 1, current.capacity < partSize {
                // After the first part every part is full-size: reuse the storage of the part that
                // finished uploading, so two part buffers rotate instead of one allocation per part.
                if var reuse = recycled, current.readableBytes == 0 {
                    recycled = nil
                    reuse.clear()
                    current = reuse
                }
                current.reserveCapacity(partSize)
            }
            var slice = bytes.readSlice(length: count)!
            current.writeBuffer(&slice)
        }
    }

    /// Hands `current` to a part upload, after the previous part finished.
    private func emitPart() async throws {
        let part = current
        current = ByteBuffer()
        if uploadID == nil {
            let id = try await store.createMultipartUpload(key: key, options: options)
            uploadID = id
            try ensureOpen()
        }
        try await collectInFlight()
        guard nextPartNumber <= S3Configuration.maximumPartCount else {
            throw ObjectStoreError(.unavailable, detail: "UploadPart: more than \(S3Configuration.maximumPartCount) parts; raise partSize")
        }
        let credentials = try await store.transport.credentialsProvider.credentials()
        try ensureOpen()
        guard let uploadID else { throw ObjectStoreError(.aborted, detail: "upload was aborted") }
        storedLength += Int64(part.readableBytes)
        inFlight = store.uploadPart(key: key, uploadID: uploadID, partNumber: nextPartNumber, body: part,
                                    credentials: credentials, cancellation: partCancellation)
        inFlightBuffer = part
        nextPartNumber += 1
    }

    private func collectInFlight() async throws {
        guard let future = inFlight else { return }
        // `inFlight` stays set while we wait, so a concurrent abort() waits for the same part.
        let cancellation = partCancellation
        let part = try await withTaskCancellationHandler {
            try await future.get()
        } onCancel: {
            cancellation.cancel()
        }
        try ensureOpen()
        inFlight = nil
        let buffer = inFlightBuffer
        inFlightBuffer = nil
        completed.append(part)
        if let buffer, buffer.capacity >= partSize { recycled = buffer }
    }

    // MARK: - Failure

    private func ensureOpen() throws {
        switch state {
        case .open: return
        case .finished: throw ObjectStoreError(.aborted, detail: "upload already finished")
        case .aborted: throw ObjectStoreError(.aborted, detail: "upload was aborted")
        }
    }

    /// Aborts what exists remotely and returns the error to throw.
    private func failed(_ error: any Error) async -> any Error {
        if state == .open {
            state = .aborted
        }
        // Also after a concurrent abort(): a CreateMultipartUpload that was in flight then may have
        // left an upload id behind. cleanUp() is idempotent.
        await cleanUp()
        if error is ObjectStoreError || error is CancellationError { return error }
        return ObjectStoreError(.unavailable, detail: "upload failed: \(String(describing: type(of: error)))")
    }

    private func cleanUp() async {
        current = ByteBuffer()
        recycled = nil
        inFlightBuffer = nil
        encoder = nil
        if let future = inFlight {
            inFlight = nil
            // The part in flight is not needed any more: stop its retries and its attempt, then wait for it
            // to end so it cannot land after the abort.
            partCancellation.cancel()
            do {
                _ = try await future.get()
            } catch {
                store.logger.debug("part upload failed during abort", metadata: ["error": "\(error)"])
            }
        }
        if let id = uploadID {
            uploadID = nil
            do {
                try await store.abortMultipartUpload(key: key, uploadID: id)
            } catch {
                store.logger.error("AbortMultipartUpload failed; parts may remain until a lifecycle rule removes them",
                                   metadata: ["error": "\(error)"])
            }
        }
    }
}
