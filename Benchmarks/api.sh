#!/usr/bin/env bash
# requests/s and p99 latency of GET /v1/studies (filters + paging) with 100,000 studies /
# 1,000,000 instances in PostgreSQL, measured with wrk at 200 concurrent connections.
#
#   scripts/bench api [--studies N] [--series-per-study N] [--instances-per-series N] [--duration S] [--connections N]
#                     [--binary PATH]
#   BENCH_API_PERF=/tmp/api.perf.data scripts/bench api    # also a perf CPU profile of the service under wrk
#
# --binary runs that release binary instead of building .build/release/dicom-ingest (to compare a kept
# "before" binary with the current one, run after run).
#
# Starts its own PostgreSQL (scripts/services), seeds the catalog tables directly with generate_series
# (what the ingest would have written), runs the release binary against it and drives it with wrk.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
studies=100000; series_per_study=2; instances_per_series=5; duration=20; connections=200; binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --studies) studies=$2; shift 2 ;;
    --series-per-study) series_per_study=$2; shift 2 ;;
    --instances-per-series) instances_per_series=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

state=$(mktemp -d /tmp/bench-api.XXXXXX)
chmod 755 "$state"
pid=""
cleanup() {
  # The service first (bounded: SIGKILL after 30 s), then its database.
  if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  "$root/scripts/services" stop "$state/svc" >/dev/null 2>&1; rm -rf "$state"
}
trap cleanup EXIT INT TERM

if [ -z "$binary" ]; then
  swift build -c release --product dicom-ingest 2>&1 | tail -1
  binary="$root/.build/release/dicom-ingest"
fi
"$root/scripts/services" start "$state/svc" >/dev/null
# shellcheck disable=SC1091
source "$state/svc/env"
port=$(python3 "$root/scripts/lib/free_port.py")
token=bench-$RANDOM$RANDOM
DICOM_INGEST_DATABASE_URL=$TEST_POSTGRES_URL DICOM_INGEST_HTTP_HOST=127.0.0.1 DICOM_INGEST_HTTP_PORT=$port \
  DICOM_INGEST_ADMIN_TOKENS=$token DICOM_INGEST_DATA_DIR=$state/data LOG_LEVEL=WARNING \
  "$binary" serve >"$state/service.log" 2>&1 &
pid=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

echo "seeding $studies studies × $series_per_study series × $instances_per_series instances"
seed_start=$(date +%s)
PGPASSWORD=secret psql -q "$TEST_POSTGRES_URL" <<SQL
INSERT INTO studies (study_instance_uid, patient_id, patient_name, patient_name_lower, patient_birth_date, study_date,
                     study_time, study_description, accession_number, modalities, series_count, instance_count,
                     total_bytes, first_received_at, last_received_at)
SELECT '1.2.826.0.1.3680043.8.498.1.' || g, 'PID' || (g % 40000), 'DOE^JOHN' || (g % 40000),
       lower('DOE^JOHN' || (g % 40000)), '19700101', to_char(date '2024-01-01' + (g % 730), 'YYYYMMDD'), '120000',
       'Study ' || g, 'ACC' || g, CASE WHEN g % 3 = 0 THEN 'CT' WHEN g % 3 = 1 THEN 'MR' ELSE 'CT\MR' END,
       $series_per_study, $series_per_study * $instances_per_series, $series_per_study * $instances_per_series * 524288,
       timestamptz '2025-01-01' + g * interval '1 second', timestamptz '2025-01-01' + g * interval '1 second'
FROM generate_series(1, $studies) AS g;
INSERT INTO series (series_instance_uid, study_instance_uid, modality, series_number, series_description,
                    instance_count, total_bytes, first_received_at, last_received_at)
SELECT '1.2.826.0.1.3680043.8.498.2.' || g || '.' || s, '1.2.826.0.1.3680043.8.498.1.' || g,
       CASE WHEN g % 3 = 0 THEN 'CT' WHEN g % 3 = 1 THEN 'MR' WHEN s = 1 THEN 'CT' ELSE 'MR' END, s, 'Series ' || s,
       $instances_per_series, $instances_per_series * 524288,
       timestamptz '2025-01-01' + g * interval '1 second', timestamptz '2025-01-01' + g * interval '1 second'
FROM generate_series(1, $studies) AS g, generate_series(1, $series_per_study) AS s;
INSERT INTO instances (sop_instance_uid, sop_class_uid, series_instance_uid, study_instance_uid, instance_number,
                       transfer_syntax_uid, size_bytes, stored_bytes, object_uri, metadata_uri, sha256, listener_id,
                       association_id, calling_ae_title, called_ae_title, peer_address, received_at,
                       last_received_at, receive_count, patient_id, patient_name, study_date, accession_number,
                       series_number, modality)
SELECT '1.2.826.0.1.3680043.8.498.3.' || g || '.' || s || '.' || i, '1.2.840.10008.5.1.4.1.1.2',
       '1.2.826.0.1.3680043.8.498.2.' || g || '.' || s, '1.2.826.0.1.3680043.8.498.1.' || g, i,
       '1.2.840.10008.1.2.1', 524288, 524288, 's3://bench/DICOM/' || g || '.' || s || '.' || i || '.dcm', NULL,
       md5(g::text || s || i) || md5(i::text || s || g), '00000000-0000-0000-0000-000000000001',
       '00000000-0000-0000-0000-000000000002', 'MODALITY' || (g % 10), 'STORESCP', '127.0.0.1:40000',
       timestamptz '2025-01-01' + g * interval '1 second', timestamptz '2025-01-01' + g * interval '1 second', 1,
       'PID' || (g % 40000), 'DOE^JOHN' || (g % 40000), to_char(date '2024-01-01' + (g % 730), 'YYYYMMDD'),
       'ACC' || g, s, CASE WHEN g % 3 = 0 THEN 'CT' ELSE 'MR' END
FROM generate_series(1, $studies) AS g, generate_series(1, $series_per_study) AS s,
     generate_series(1, $instances_per_series) AS i;
ANALYZE;
SQL
echo "seeded in $(( $(date +%s) - seed_start )) s"

# Request mix: first pages with each filter, and deep pages reached by following nextCursor.
base="http://127.0.0.1:$port"
urls=("/v1/studies?limit=100" "/v1/studies?modality=CT&limit=100" "/v1/studies?studyDate=20240101-20240131&limit=100"
      "/v1/studies?patientName=DOE%5EJOHN12*&limit=50" "/v1/studies?patientId=PID1234" "/v1/studies?accessionNumber=ACC777"
      "/v1/studies?callingAETitle=MODALITY3&limit=100" "/v1/studies?receivedFrom=2025-01-01T10:00:00Z&receivedTo=2025-01-02T00:00:00Z&limit=100")
cursor=""
for _ in $(seq 1 20); do
  page=$(curl -sf -H "Authorization: Bearer $token" "$base/v1/studies?limit=100${cursor:+&cursor=$cursor}")
  cursor=$(printf '%s' "$page" | python3 -c 'import json,sys,urllib.parse; c=json.load(sys.stdin)["nextCursor"]; print(urllib.parse.quote(c or "", safe=""))')
  [ -n "$cursor" ] || break
  urls+=("/v1/studies?limit=100&cursor=$cursor")
done
lua="$state/mix.lua"
{
  echo "local paths = {"
  for u in "${urls[@]}"; do printf '  "%s",\n' "$u"; done
  echo "}"
  cat <<LUA
local i = 0
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Authorization"] = "Bearer $token" })
end
LUA
} >"$lua"
for u in "${urls[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base$u")
  [ "$code" = 200 ] || { echo "warm-up $u answered $code"; exit 1; }
done
echo "wrk: $connections connections, 2 threads, ${duration}s, ${#urls[@]} URLs in rotation"
# CPU seconds (user+system) of the service and of every PostgreSQL process, before and after wrk: the
# per-request CPU cost of each side, which bounds requests/s on this machine whatever the latency target.
cpu_of() { awk '{t += $14 + $15} END {printf "%.2f", t / 100}' "$@" 2>/dev/null || echo 0; }
# Only this benchmark's cluster (its postmaster and the postmaster's children): other PostgreSQL
# clusters of the same user may be running tests on the machine.
postmaster=$(head -1 "$TEST_PG_DATA/postmaster.pid")
pg_stats() { for p in "$postmaster" $(pgrep -P "$postmaster"); do echo "/proc/$p/stat"; done; }
svc_cpu0=$(cpu_of "/proc/$pid/stat"); pg_cpu0=$(cpu_of $(pg_stats))
perf_pid=""
if [ -n "${BENCH_API_PERF:-}" ] && command -v perf >/dev/null; then
  # Optional CPU profile of the service while wrk runs: BENCH_API_PERF=/path/to/perf.data
  perf record -e cpu-clock -F 499 -g -p "$pid" -o "$BENCH_API_PERF" >/dev/null 2>&1 &
  perf_pid=$!
fi
wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$lua" "$base" | tee "$state/wrk.txt"
if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" 2>/dev/null || true; fi
svc_cpu1=$(cpu_of "/proc/$pid/stat"); pg_cpu1=$(cpu_of $(pg_stats))
rss=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
echo "service peak RSS: $((rss / 1024)) MiB"
requests=$(awk '/requests in/ {print $1}' "$state/wrk.txt")
python3 - "$requests" "$svc_cpu0" "$svc_cpu1" "$pg_cpu0" "$pg_cpu1" <<'PY'
import sys
n, s0, s1, p0, p1 = (float(x) for x in sys.argv[1:])
if n > 0:
    print(f"CPU per request: service {1000 * (s1 - s0) / n:.2f} ms, PostgreSQL {1000 * (p1 - p0) / n:.2f} ms "
          f"(over {int(n)} requests)")
PY
