import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// glibc's malloc settings for a receiver: how much free memory each arena keeps (`M_TOP_PAD`) and from
/// which size an allocation gets pages of its own (`M_MMAP_THRESHOLD`).
///
/// An instance's bytes pass through buffers of its PDUs' size that are freed once the instance is
/// committed. With glibc's defaults (128 KiB), every instance hands those pages back to the kernel and the
/// next one takes them again, zero-filled: about 130 page faults per 0.5 MB CT instance, several percent
/// of the receiver's CPU. Each arena now keeps 2 MiB. Setting either value turns off glibc's own raising of
/// the mmap threshold (up to the largest block freed so far), so it is set by hand: 2 MiB keeps the
/// forwarder's 1 MiB reads in the heap, while 5 MiB multipart parts keep pages of their own, which bounds
/// what a large instance leaves resident (three 150 MB instances in flight stay below 100 MiB). When the
/// operator sets any `MALLOC_*_` variable, glibc's own reading of the environment is left alone.
enum MallocTuning {
    static let topPad: Int32 = 2 << 20
    static let mmapThreshold: Int32 = 2 << 20

    static func apply(environment: [String: String]) {
        #if canImport(Glibc)
        guard !environment.keys.contains(where: { $0.hasPrefix("MALLOC_") && $0.hasSuffix("_") }),
              let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        // `mallopt`, `M_TOP_PAD` (-2) and `M_MMAP_THRESHOLD` (-3) are in <malloc.h>, which the Glibc
        // module does not import.
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-2, topPad)
        _ = mallopt(-3, mmapThreshold)
        #endif
    }
}
