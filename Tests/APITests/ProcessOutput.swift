import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Reads a pipe to its end. Foundation's `readDataToEndOfFile()` traps when read(2) is interrupted by a
/// signal (EINTR: children exiting while many suites run in parallel); this retries instead.
func readToEndRetryingEINTR(_ handle: FileHandle) -> Data {
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 64 * 1024)
    let descriptor = handle.fileDescriptor
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count > 0 {
            data.append(contentsOf: buffer[0..<count])
        } else if count == 0 || errno != EINTR {
            return data
        }
    }
}
