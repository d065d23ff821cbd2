#!/bin/bash
# Builds the libFuzzer target for the DICOM data set reader (see Fuzz/README.md).
# Uses NIOCore as built by `swift build --target DICOM` (debug) and compiles the codec sources it needs
# together with the fuzzer, with -sanitize=fuzzer,address. Output: ${FUZZ_OUT:-/tmp/dicom-fuzz}/dataset-fuzzer
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${FUZZ_OUT:-/tmp/dicom-fuzz}
BUILD=.build/x86_64-unknown-linux-gnu/debug
mkdir -p "$OUT"
[ -d "$BUILD/NIOCore.build" ] || swift build --target DICOM

SOURCES=$(ls Sources/DICOM/DataSet/*.swift Sources/DICOM/Generated/*.swift Sources/DICOM/JSON/*.swift \
              Sources/DICOM/Part10/*.swift Sources/DICOM/Metadata/*.swift Sources/DICOM/Implementation.swift)
MODULEMAPS=$( (ls $BUILD/CNIO*.build/module.modulemap; echo .build/checkouts/swift-atomics/Sources/_AtomicsShims/include/module.modulemap) 2>/dev/null \
              | sed 's/^/-Xcc -fmodule-map-file=/')
OBJECTS=()
for module in NIOCore DequeModule InternalCollectionsUtilities ContainersPreview BasicContainers _NIODataStructures _NIOBase64 NIOConcurrencyHelpers CNIOLinux CNIOAtomics Atomics _AtomicsShims CNIODarwin CNIOWindows CNIOWASI; do
  [ -d "$BUILD/$module.build" ] || continue
  while IFS= read -r -d '' object; do OBJECTS+=("$object"); done < <(find "$BUILD/$module.build" -name '*.o' -print0)
done

swiftc -sanitize=fuzzer,address -parse-as-library -module-name DICOMFuzz -swift-version 6 -O -g \
  -I $BUILD/Modules -Xcc -fmodule-map-file=Sources/CZlib/module.modulemap $MODULEMAPS \
  $SOURCES Fuzz/DataSetReaderFuzzer.swift "${OBJECTS[@]}" -lz -o "$OUT/dataset-fuzzer"
echo "built $OUT/dataset-fuzzer"
