// libFuzzer entry point for the data set reader and metadata extractor (see Fuzz/README.md).
// Not part of the SwiftPM package: built with swiftc -sanitize=fuzzer against the DICOM sources.
import NIOCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDataSetReader(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    guard let selector = bytes.first else { return 0 }
    let syntaxes = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"]
    let syntax = syntaxes[Int(selector & 3)]
    // Chunk size from the second byte: 1…256 bytes, so chunk boundaries are fuzzed too.
    let chunkSize = 1 + Int(bytes.count > 1 ? bytes[1] : 0)
    let body = ByteBuffer(bytes: bytes.dropFirst(min(2, bytes.count)))
    let options = MetadataOptions(bulkDataURI: { "bulk:\($0.tag.hexString)" }, maximumValueLength: 1 << 16,
                                  maximumDepth: 32, maximumMetadataBytes: 4 << 20)
    do {
        var extractor = try MetadataExtractor(transferSyntaxUID: syntax, options: options)
        var input = body
        while input.readableBytes > 0 {
            try extractor.consume(input.readSlice(length: min(chunkSize, input.readableBytes))!)
        }
        _ = try extractor.finish()
    } catch {
        // Typed DataSetError: the expected outcome for most inputs.
    }
    return 0
}
