#!/usr/bin/env bash
# Inserts/s of instance rows for the PostgreSQL and SQLite catalogs (recordInstance: upsert + aggregates
# + association counters, one transaction each), sequential and from 8 concurrent tasks.
#   scripts/bench catalog [COUNT]      (default 5000; needs TEST_POSTGRES_URL, e.g. `source /tmp/devsvc/env`)
# Debug build, as `swift test` builds it; the two catalogs run one after the other.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TEST_POSTGRES_URL:?set TEST_POSTGRES_URL (scripts/test starts PostgreSQL; or source /tmp/devsvc/env)}"
if ! swift build --build-tests > /tmp/bench-catalog-build.log 2>&1; then
    grep -E "error" /tmp/bench-catalog-build.log | head -20
    exit 1
fi
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
CATALOG_BENCH_COUNT="${1:-5000}" swift test --skip-build --filter "CatalogBenchmarkTests" 2>&1 | grep -E "catalog-bench|Test run"
