#!/usr/bin/env bash
# The whole receiver: dicom-ingest against DCMTK storescp and the pynetdicom + boto3 reference design,
# with one command. Installs its peers when missing (apt: dcmtk, postgresql; pip: pydicom, pynetdicom, boto3,
# moto[server], psycopg[binary], numpy), generates deterministic corpora under --workdir (default
# /tmp/dicom-ingest-bench, never committed), runs every cell, prints the table and rewrites the figures
# section of BENCHMARKS.md.
#
#   scripts/bench            # default sizes (< 20 min): ct 600 x 0.5 MB, mr-small 2000 x 40 KB, big 3 x 150 MB
#   scripts/bench --quick    # smoke run (~3 min): small corpora, one run per cell
#   scripts/bench --instructions   # callgrind instructions per instance (50 ct, 200 mr-small; ~10 min)
#   scripts/bench --s3-latency 0,50,150   # S3 responses held back N ms: reference vs stored vs spooled ack
#   scripts/bench --catalog-latency 0,1   # PostgreSQL responses held back N ms: fs, stored and spooled
#   scripts/bench --help     # sizes, runs, receivers, variants, scaling, budget
#
# dicom-ingest is measured from .build/release/dicom-ingest, built here first unless --no-build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

build=1
args=()
for a in "$@"; do
  case "$a" in
    --no-build) build=0; export BENCH_NO_BUILD=1 ;;
    --no-install) export BENCH_NO_INSTALL=1 ;;
    *) args+=("$a") ;;
  esac
done

if [ -z "${BENCH_NO_INSTALL:-}" ]; then
  missing=()
  [ -x /usr/bin/storescu ] && [ -x /usr/bin/storescp ] || missing+=(dcmtk)
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
  command -v runuser >/dev/null || missing+=(util-linux)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "bench: apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! python3 -c "import pydicom, pynetdicom, boto3, moto, psycopg, numpy" 2>/dev/null; then
    echo "bench: pip install pydicom pynetdicom boto3 moto[server] psycopg[binary] numpy"
    python3 -m pip install -q --disable-pip-version-check "pydicom==3.0.2" pynetdicom boto3 "moto[server]" \
      "psycopg[binary]" numpy 2>&1 | grep -v "Running pip as the 'root' user" || true
  fi
fi

if [ "$build" = 1 ] && [ -f Package.swift ]; then
  # Statically linked Swift runtime, as the container image ships it (and valgrind 3.19 cannot load the
  # shared lib_FoundationICU.so of Swift 6.3; the static binary runs under it).
  echo "bench: swift build -c release --static-swift-stdlib --product dicom-ingest"
  if ! swift build -c release --static-swift-stdlib --product dicom-ingest 2>&1 | tail -3; then
    echo "bench: release build failed; dicom-ingest cells will report the missing binary" >&2
  fi
fi

export PYTHONPATH="$root/Benchmarks${PYTHONPATH:+:$PYTHONPATH}"
for a in ${args[@]+"${args[@]}"}; do
  case "$a" in
    --s3-latency | --s3-latency=*)
      exec python3 -c 'import sys; from bench_lib import latency; sys.exit(latency.main(sys.argv[1:]))' "${args[@]}" ;;
    --catalog-latency | --catalog-latency=*)
      exec python3 -c 'import sys; from bench_lib import catalog_latency as c; sys.exit(c.main(sys.argv[1:]))' \
        "${args[@]}" ;;
  esac
  if [ "$a" = "--instructions" ]; then
    command -v valgrind >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; }
    exec python3 -c 'import sys; from bench_lib import instructions; sys.exit(instructions.main(sys.argv[1:]))' "${args[@]}"
  fi
done
exec python3 -m bench_lib.main ${args[@]+"${args[@]}"}
