#!/bin/bash
# Builds the libFuzzer targets (see Fuzz/README.md):
#   dataset-fuzzer      the data set reader and metadata extractor (DataSetReaderFuzzer.swift)
#   association-fuzzer  one association's inbound byte stream, PDU decoder to DICOM JSON (AssociationFuzzer.swift)
# Uses NIOCore as built by `swift build --target DICOM` (debug) and compiles the DICOM codec sources with each
# fuzzer, with -sanitize=fuzzer,address. Output: ${FUZZ_OUT:-/tmp/dicom-fuzz}/<name>.
# Arguments: the fuzzers to build (default: both).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${FUZZ_OUT:-/tmp/dicom-fuzz}
BUILD=.build/x86_64-unknown-linux-gnu/debug
mkdir -p "$OUT"
[ -d "$BUILD/NIOCore.build" ] || swift build --target DICOM

MODULEMAPS=$( (ls $BUILD/CNIO*.build/module.modulemap; echo .build/checkouts/swift-atomics/Sources/_AtomicsShims/include/module.modulemap) 2>/dev/null \
              | sed 's/^/-Xcc -fmodule-map-file=/')
OBJECTS=()
for module in NIOCore DequeModule InternalCollectionsUtilities ContainersPreview BasicContainers _NIODataStructures _NIOBase64 NIOConcurrencyHelpers CNIOLinux CNIOAtomics Atomics _AtomicsShims CNIODarwin CNIOWindows CNIOWASI; do
  [ -d "$BUILD/$module.build" ] || continue
  while IFS= read -r -d '' object; do OBJECTS+=("$object"); done < <(find "$BUILD/$module.build" -name '*.o' -print0)
done

build() {  # name, entry point file, codec source folders...
  local name=$1 entry=$2; shift 2
  local sources=()
  for folder in "$@"; do sources+=(Sources/DICOM/"$folder"/*.swift); done
  # shellcheck disable=SC2086
  swiftc -sanitize=fuzzer,address -parse-as-library -module-name DICOMFuzz -swift-version 6 -O -g \
    -I $BUILD/Modules -Xcc -fmodule-map-file=Sources/CZlib/module.modulemap $MODULEMAPS \
    "${sources[@]}" Sources/DICOM/Implementation.swift "$entry" "${OBJECTS[@]}" -lz -o "$OUT/$name" 2>&1 \
    | { grep -v "warning: Cannot export local symbol" || true; }
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "build of $name failed" >&2; return 1; }
  echo "built $OUT/$name"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(dataset-fuzzer association-fuzzer)
for target in "${targets[@]}"; do
  case $target in
    dataset-fuzzer) build dataset-fuzzer Fuzz/DataSetReaderFuzzer.swift DataSet Generated JSON Part10 Metadata ;;
    association-fuzzer) build association-fuzzer Fuzz/AssociationFuzzer.swift UL DIMSE DataSet Generated JSON Part10 Metadata ;;
    *) echo "unknown fuzzer $target (dataset-fuzzer, association-fuzzer)" >&2; exit 2 ;;
  esac
done
