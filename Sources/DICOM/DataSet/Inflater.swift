import CZlib
import NIOCore

/// Streaming raw-deflate decoder (RFC 1951, window bits -15) for Deflated Explicit VR Little Endian
/// (PS3.5 §A.5). Output is produced on demand, at most `maximumOutput` bytes per call, so a small
/// compressed input can never make us hold more than one output block (zip bombs stay bounded).
/// A class because z_stream holds pointers into itself and must not be copied; not Sendable, so a
/// reader that uses one stays on one task at a time.
final class Inflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private(set) var isFinished = false
    private var pending = ByteBuffer()

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

    var hasPendingInput: Bool { pending.readableBytes > 0 && !isFinished }

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
        guard !isFinished, pending.readableBytes > 0 else { return 0 }
        output.reserveCapacity(minimumWritableBytes: maximumOutput)
        let stream = self.stream
        var produced = 0
        var status: Int32 = Z_OK
        var consumed = 0
        pending.withUnsafeReadableBytes { input in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.pointee.avail_in = UInt32(min(input.count, Int(UInt32.max)))
            produced = output.writeWithUnsafeMutableBytes(minimumWritableBytes: maximumOutput) { out in
                stream.pointee.next_out = out.bindMemory(to: Bytef.self).baseAddress
                stream.pointee.avail_out = UInt32(maximumOutput)
                status = CZlib.inflate(stream, Z_NO_FLUSH)
                return maximumOutput - Int(stream.pointee.avail_out)
            }
            consumed = input.count - Int(stream.pointee.avail_in)
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        pending.moveReaderIndex(forwardBy: consumed)
        switch status {
        case Z_OK, Z_BUF_ERROR:
            return produced
        case Z_STREAM_END:
            isFinished = true
            pending = ByteBuffer()
            return produced
        default:
            throw DataSetError(.invalidDeflateStream, offset: offset)
        }
    }
}
