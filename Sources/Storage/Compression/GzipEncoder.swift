import CISAL
import CZlib
import Domain
import NIOCore

/// Streaming gzip (RFC 1952): one gzip member, fed chunk by chunk with `compress(_:)` and ended with
/// `finish()`; each call returns the compressed bytes produced so far, so memory stays bounded by one
/// chunk plus the encoder's window and buffers.
///
/// Two engines write the same format. Intel ISA-L's igzip (level 3) is the default where libisal.so.2 is
/// installed; zlib's deflate with the gzip wrapper (windowBits 31) is the fallback. On the benchmark's
/// CT and MR pixel data (`scripts/bench gzip`, BENCHMARKS.md) igzip level 3 compresses at about 4 times
/// zlib level 1's speed and 10 times level 5's on one core, with a ratio above zlib level 5's. So every
/// configured `gzipLevel` (1...9) maps to igzip level 3: a lower zlib level would buy no speed, a higher
/// one less than 1 % of size. `gzipLevel` 0 stores (zlib level 0) on either engine.
///
/// Not Sendable: one upload owns one encoder.
final class GzipEncoder {
    enum Engine: String, Sendable {
        case isal
        case zlib

        /// ISA-L when its library loads, else zlib.
        static var preferred: Engine { cisal_gzip_available() != 0 ? .isal : .zlib }
    }

    private enum Stream {
        case zlib(UnsafeMutablePointer<z_stream>)
        case isal(OpaquePointer)
    }

    let engine: Engine
    private let stream: Stream
    private var finished = false
    private static let outputChunk = 64 * 1024
    /// The igzip level every `gzipLevel` 1...9 maps to (see the type's documentation).
    static let isalLevel: Int32 = 3

    /// `level` 0...9 (0 stores); out-of-range values are clamped.
    init(level: Int, engine requested: Engine = .preferred) throws {
        let level = min(9, max(0, level))
        if requested == .isal, level > 0, let isal = cisal_gzip_create(Self.isalLevel) {
            engine = .isal
            stream = .isal(isal)
            return
        }
        engine = .zlib
        let zstream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        zstream.initialize(to: z_stream())
        let status = czlib_deflateInit2(zstream, Int32(level), 31)
        guard status == Z_OK else {
            zstream.deinitialize(count: 1)
            zstream.deallocate()
            throw ObjectStoreError(.unavailable, detail: "gzip: deflateInit2 failed (\(status))")
        }
        stream = .zlib(zstream)
    }

    deinit {
        switch stream {
        case .zlib(let zstream):
            deflateEnd(zstream)
            zstream.deinitialize(count: 1)
            zstream.deallocate()
        case .isal(let isal):
            cisal_gzip_destroy(isal)
        }
    }

    /// Compressed bytes for `input` (often empty: both engines buffer until they have a block).
    func compress(_ input: ByteBuffer) throws -> ByteBuffer {
        precondition(!finished, "GzipEncoder used after finish")
        var output = ByteBuffer()
        guard input.readableBytes > 0 else { return output }
        try input.withUnsafeReadableBytes { bytes in
            switch stream {
            case .zlib(let zstream):
                zstream.pointee.next_in = UnsafeMutablePointer(mutating: bytes.bindMemory(to: Bytef.self).baseAddress)
                zstream.pointee.avail_in = uInt(bytes.count)
                repeat {
                    try deflateStep(zstream, flush: Z_NO_FLUSH, into: &output)
                } while zstream.pointee.avail_in > 0
                zstream.pointee.next_in = nil
            case .isal(let isal):
                var remaining = UnsafeRawBufferPointer(bytes)
                while !remaining.isEmpty {
                    let step = try isalStep(isal, input: remaining, endOfStream: false, into: &output)
                    guard step.consumed > 0 || step.produced > 0 else {
                        throw ObjectStoreError(.unavailable, detail: "gzip: isal_deflate made no progress")
                    }
                    let consumed = step.consumed
                    remaining = UnsafeRawBufferPointer(rebasing: remaining[consumed...])
                }
            }
        }
        return output
    }

    /// The remaining compressed bytes and the gzip trailer (CRC-32, ISIZE).
    func finish() throws -> ByteBuffer {
        precondition(!finished, "GzipEncoder finished twice")
        finished = true
        var output = ByteBuffer()
        switch stream {
        case .zlib(let zstream):
            zstream.pointee.next_in = nil
            zstream.pointee.avail_in = 0
            while try deflateStep(zstream, flush: Z_FINISH, into: &output) != Z_STREAM_END {}
        case .isal(let isal):
            while try !isalStep(isal, input: UnsafeRawBufferPointer(start: nil, count: 0), endOfStream: true, into: &output).finished {}
        }
        return output
    }

    @discardableResult
    private func deflateStep(_ zstream: UnsafeMutablePointer<z_stream>, flush: Int32, into output: inout ByteBuffer) throws -> Int32 {
        var status: Int32 = Z_OK
        output.reserveCapacity(minimumWritableBytes: Self.outputChunk)
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.outputChunk) { out in
            zstream.pointee.next_out = out.bindMemory(to: Bytef.self).baseAddress
            zstream.pointee.avail_out = uInt(out.count)
            status = deflate(zstream, flush)
            let written = out.count - Int(zstream.pointee.avail_out)
            zstream.pointee.next_out = nil
            return written
        }
        guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
            throw ObjectStoreError(.unavailable, detail: "gzip: deflate failed (\(status))")
        }
        return status
    }

    private func isalStep(_ isal: OpaquePointer, input: UnsafeRawBufferPointer, endOfStream: Bool,
                          into output: inout ByteBuffer) throws -> (consumed: Int, produced: Int, finished: Bool) {
        var consumed = 0, produced = 0
        var done: Int32 = 0
        var status: Int32 = 0
        output.reserveCapacity(minimumWritableBytes: Self.outputChunk)
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: Self.outputChunk) { out in
            status = cisal_gzip_deflate(
                isal, input.baseAddress?.assumingMemoryBound(to: UInt8.self), input.count,
                out.baseAddress?.assumingMemoryBound(to: UInt8.self), out.count, endOfStream ? 1 : 0,
                &consumed, &produced, &done)
            return produced
        }
        guard status == 0 else {
            throw ObjectStoreError(.unavailable, detail: "gzip: isal_deflate failed (\(status))")
        }
        return (consumed, produced, done != 0)
    }
}
