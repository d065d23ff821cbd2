import CZlib
import NIOCore

/// Streaming raw-deflate decoder (RFC 1951, window bits -15) for Deflated Explicit VR Little Endian
/// (PS3.5 §A.5). Output is produced on demand, at most `maximumOutput` bytes per call, so a small
/// compressed input can never make us hold more than one output block (zip bombs stay bounded in
/// memory; `DataSetReader` bounds the work with `totalIn`/`totalOut`).
/// A class because z_stream holds pointers into itself and must not be copied; not Sendable, so a
/// reader that uses one stays on one task at a time.
final class Inflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private(set) var isFinished = false
    private var pending = ByteBuffer()
    /// The last call filled its output: zlib may hold more output (the rest of a match, or the end of
    /// the stream) even when every input byte has been consumed.
    private var outputWasFull = false
    /// Compressed bytes consumed and inflated bytes produced so far.
    private(set) var totalIn = 0
    private(set) var totalOut = 0

    init() throws(DataSetError) {
        stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard czlib_inflateInit2(stream, -15) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw DataSetError(.invalidDeflateStream, offset: 0)
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Input is waiting, or zlib may have output left from the last call.
    var hasPendingWork: Bool { !isFinished && (pending.readableBytes > 0 || outputWasFull) }

    func append(_ chunk: ByteBuffer) {
        guard !isFinished else { return }
        if pending.readableBytes == 0 {
            pending = chunk
        } else {
            var chunk = chunk
            pending.discardReadBytes()
            pending.writeBuffer(&chunk)
        }
    }

    /// Inflates pending input into `output`, appending at most `maximumOutput` bytes. Returns the number
    /// of bytes produced (0 when more input is needed or the stream ended).
    func inflate(into output: inout ByteBuffer, maximumOutput: Int, offset: Int) throws(DataSetError) -> Int {
        guard hasPendingWork, maximumOutput > 0 else { return 0 }
        let outputLimit = min(maximumOutput, Int(UInt32.max))
        output.reserveCapacity(minimumWritableBytes: outputLimit)
        let stream = self.stream
        var produced = 0
        var status: Int32 = Z_OK
        var consumed = 0
        pending.withUnsafeReadableBytes { input in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.pointee.avail_in = UInt32(clamping: input.count)
            let offered = Int(stream.pointee.avail_in)
            produced = output.writeWithUnsafeMutableBytes(minimumWritableBytes: outputLimit) { out in
                stream.pointee.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.pointee.avail_out = UInt32(clamping: outputLimit)
                status = CZlib.inflate(stream, Z_NO_FLUSH)
                return outputLimit - Int(stream.pointee.avail_out)
            }
            consumed = offered - Int(stream.pointee.avail_in)
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        pending.moveReaderIndex(forwardBy: consumed)
        totalIn += consumed
        totalOut += produced
        outputWasFull = produced == outputLimit
        switch status {
        case Z_OK, Z_BUF_ERROR:
            return produced
        case Z_STREAM_END:
            isFinished = true
            outputWasFull = false
            pending = ByteBuffer()
            return produced
        default:
            throw DataSetError(.invalidDeflateStream, offset: offset)
        }
    }
}
