#!/usr/bin/env bash
# gzip encoders on the benchmark's pixel data: zlib levels 1/5/6, ISA-L igzip levels 0-3 (streaming, as the
# service uses them) and libdeflate 1/6 (whole-buffer only, for scale). CPU MB/s on one core and ratio.
#
#   scripts/bench gzip [--workdir DIR]     (default /tmp/dicom-ingest-bench; corpora are generated, never committed)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
workdir=/tmp/dicom-ingest-bench
[ "${1:-}" = "--workdir" ] && workdir=$2
missing=()
[ -f /usr/include/isa-l/igzip_lib.h ] || missing+=(libisal-dev)
[ -f /usr/include/libdeflate.h ] || missing+=(libdeflate-dev)
[ -f /usr/include/zlib.h ] || missing+=(zlib1g-dev)
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
fi
mkdir -p "$workdir"
gcc -O2 -o "$workdir/gzip_codecs" "$root/Benchmarks/GzipCodecs/gzip_codecs.c" -lz -lisal -ldeflate
dirs=$(cd "$root/Benchmarks/bench_lib" && python3 -c "
from pathlib import Path
import corpus
for s in (corpus.ct_spec(50), corpus.mr_spec(200)):
    print(corpus.ensure(s, Path('$workdir'), log=lambda *a: None).directory)
")
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
printf '%-10s %-8s %5s %12s %7s\n' corpus encoder level "MB/s (CPU)" ratio
for d in $dirs; do
  name=$(basename "$d" | cut -d- -f1-2 | sed 's/-[0-9].*//')
  # One core: the figure is CPU time, so another process on the other core does not count against it.
  taskset -c "$(( $(nproc) - 1 ))" "$workdir/gzip_codecs" "$d"/*.dcm | while read -r enc level mbs ratio; do
    printf '%-10s %-8s %5s %12s %7s\n' "$name" "$enc" "$level" "$mbs" "$ratio"
  done
done
