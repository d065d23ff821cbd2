import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// glibc's malloc settings for a receiver: how much free memory each arena keeps (`M_TOP_PAD`), from
/// which size an allocation gets pages of its own (`M_MMAP_THRESHOLD`), and how many arenas there are at
/// most (`M_ARENA_MAX`).
///
/// An instance's bytes pass through buffers of its PDUs' size that are freed once the instance is
/// committed. With glibc's defaults (128 KiB), every instance hands those pages back to the kernel and the
/// next one takes them again, zero-filled: about 130 page faults per 0.5 MB CT instance, several percent
/// of the receiver's CPU. Each arena now keeps 2 MiB. Setting either value turns off glibc's own raising of
/// the mmap threshold (up to the largest block freed so far), so it is set by hand: 2 MiB keeps the
/// forwarder's 1 MiB reads in the heap, while 5 MiB multipart parts keep pages of their own, which bounds
/// what a large instance leaves resident. glibc gives each thread that finds the arenas busy an arena of
/// its own, up to eight per core, and each keeps its own pad and free blocks; the event loops, the blocking
/// pools and the concurrency pool are more threads than that on a small task, so the arenas are capped at
/// four: three 150 MB instances in flight then peak at 75-81 MiB instead of 93-102 MiB, with the same CPU
/// per instance (BENCHMARKS.md). When the operator sets any `MALLOC_*` variable (`MALLOC_TOP_PAD_`,
/// `MALLOC_ARENA_MAX`, …) or a `glibc.malloc` tunable, glibc's own reading of the environment is left alone.
enum MallocTuning {
    static let topPad: Int32 = 2 << 20
    static let mmapThreshold: Int32 = 2 << 20
    static let arenaMax: Int32 = 4

    /// True when the operator chose malloc settings of their own.
    static func operatorChoseSettings(_ environment: [String: String]) -> Bool {
        environment.keys.contains(where: { $0.hasPrefix("MALLOC_") })
            || (environment["GLIBC_TUNABLES"] ?? "").contains("glibc.malloc.")
    }

    static func apply(environment: [String: String]) {
        #if canImport(Glibc)
        guard !operatorChoseSettings(environment),
              let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "mallopt") else { return }
        // `mallopt`, `M_TOP_PAD` (-2), `M_MMAP_THRESHOLD` (-3) and `M_ARENA_MAX` (-8) are in <malloc.h>,
        // which the Glibc module does not import.
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        _ = mallopt(-2, topPad)
        _ = mallopt(-3, mmapThreshold)
        _ = mallopt(-8, arenaMax)
        #endif
    }
}
