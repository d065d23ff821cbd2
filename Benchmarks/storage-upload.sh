#!/usr/bin/env bash
# Upload throughput and memory of the 200 MiB streamed S3 upload (multipart, default 5 MiB parts, 64 KiB writes),
# against the moto emulator: runs S3MemoryTests (which streams the upload in a child process) RUNS times and
# prints the figures it reports (wall time, MiB/s, process RSS baseline/peak/growth).
#
#   scripts/services start /tmp/devsvc && source /tmp/devsvc/env   # or an env with TEST_S3_* set
#   scripts/bench storage-upload [RUNS]
#
# The figures include moto (a Python server on the same 2 cores), so they bound our client from below;
# the RSS growth is what the issue's "≤ ~3 parts" limit is about.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
: "${TEST_S3_ENDPOINT:?TEST_S3_ENDPOINT not set: start moto with scripts/services start DIR and source DIR/env}"
swift build --build-tests >/dev/null
for i in $(seq 1 "$runs"); do
  swift test --skip-build --filter 'S3MemoryTests' 2>&1 \
    | grep -E '^bench:|✘' | sed "s/^/run $i: /"
done
