import CZlib
import Domain
import NIOCore

/// Streaming gzip (RFC 1952) compression on zlib's deflate with a gzip wrapper (windowBits 31).
/// Feed chunks with `compress(_:)` and end with `finish()`; each call returns the compressed bytes
/// produced so far, so memory stays bounded by one chunk plus zlib's window.
///
/// Not Sendable: one upload owns one encoder.
final class GzipEncoder {
    private let stream: UnsafeMutablePointer<z_stream>
    private var finished = false
    private static let outputChunk = 64 * 1024

    /// `level` 0...9 (0 stores, 1 fastest, 9 smallest); out-of-range values are clamped.
    init(level: Int) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = czlib_deflateInit2(stream, Int32(min(9, max(0, level))), 31)
        guard status == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            throw ObjectStoreError(.unavailable, detail: "gzip: deflateInit2 failed (\(status))")
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compressed bytes for `input` (often empty: zlib buffers until it has a block).
    func compress(_ input: ByteBuffer) throws -> ByteBuffer {
        precondition(!finished, "GzipEncoder used after finish")
        var output = ByteBuffer()
        guard input.readableBytes > 0 else { return output }
        try input.withUnsafeReadableBytes { bytes in
            stream.pointee.next_in = UnsafeMutablePointer(mutating: bytes.bindMemory(to: Bytef.self).baseAddress)
            stream.pointee.avail_in = uInt(bytes.count)
            repeat {
                try deflateStep(flush: Z_NO_FLUSH, into: &output)
            } while stream.pointee.avail_in > 0
            stream.pointee.next_in = nil
        }
        return output
    }

    /// The remaining compressed bytes and the gzip trailer (CRC-32, ISIZE).
    func finish() throws -> ByteBuffer {
        precondition(!finished, "GzipEncoder finished twice")
        finished = true
        var output = ByteBuffer()
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        while try deflateStep(flush: Z_FINISH, into: &output) != Z_STREAM_END {}
        return output
    }

    @discardableResult
    private func deflateStep(flush: Int32, into output: inout ByteBuffer) throws -> Int32 {
        var status: Int32 = Z_OK
        output.reserveCapacity(minimumWritableBytes: Self.outputChunk)
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.outputChunk) { out in
            stream.pointee.next_out = out.bindMemory(to: Bytef.self).baseAddress
            stream.pointee.avail_out = uInt(out.count)
            status = deflate(stream, flush)
            let written = out.count - Int(stream.pointee.avail_out)
            stream.pointee.next_out = nil
            return written
        }
        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
            throw ObjectStoreError(.unavailable, detail: "gzip: deflate failed (\(status))")
        }
        return status
    }
}
