#!/usr/bin/env bash
# The forwarder's own CPU per spooled instance, apart from the receive (method: bench_lib/forward_cost.py):
# N ct spooled while the bucket is missing, then the service restarted with it present drains them.
#   scripts/bench forward [--ct N] [--runs R] [--perf] [--binary BIN] [--workdir DIR]
# Needs the release build (swift build -c release --static-swift-stdlib --product dicom-ingest), DCMTK,
# PostgreSQL and moto as for the receiver benchmark; --perf needs linux-perf.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/Benchmarks"
PYTHONPATH="$root/Benchmarks" exec python3 -m bench_lib.forward_cost "$@"
