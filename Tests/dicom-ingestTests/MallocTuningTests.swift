@testable import dicom_ingest
import Testing

/// The service sets glibc's malloc only when the operator has not: any `MALLOC_*` variable (with or
/// without glibc's trailing underscore) or a `glibc.malloc` tunable leaves glibc to the environment.
@Suite struct MallocTuningTests {
    @Test(arguments: [
        ([:], false),
        (["PATH": "/usr/bin", "GLIBC_TUNABLES": "glibc.rtld.optional_static_tls=2048"], false),
        (["MALLOC_ARENA_MAX": "8"], true),
        (["MALLOC_TOP_PAD_": "0"], true),
        (["MALLOC_MMAP_THRESHOLD_": "131072"], true),
        (["GLIBC_TUNABLES": "glibc.malloc.arena_max=2"], true),
    ])
    func operatorSettingsWin(environment: [String: String], chosen: Bool) {
        #expect(MallocTuning.operatorChoseSettings(environment) == chosen)
    }
}
