#!/usr/bin/env bash
# The listener alone (listener-bench: DIMSE runtime + discarding sink) against DCMTK
# storescp writing to tmpfs, receiving the same corpus from DCMTK storescu over 1 and 4 associations,
# interleaved A B A B in the same run.
#
#   scripts/bench listener [CORPUS_DIR] [RUNS]     # default: the receiver benchmark's ct corpus, 3 runs
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
corpus=${1:-/tmp/dicom-ingest-bench/corpus/ct-600x512x512x1}
runs=${2:-3}
command -v bc >/dev/null || { apt-get update -qq && apt-get install -y -qq bc >/dev/null; }
[ -d "$corpus" ] || { echo "no corpus at $corpus: run scripts/bench --quick first, or pass a folder of .dcm files"; exit 1; }
swift build -c release --product listener-bench --package-path "$root" 2>&1 | tail -1
bench="$root/.build/release/listener-bench"
free_port() { python3 "$root/scripts/lib/free_port.py"; }
mapfile -t files < <(find "$corpus" -name '*.dcm' | sort)
count=${#files[@]}
bytes=$(du -cb "${files[@]}" | tail -1 | cut -f1)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf /dev/shm/bench-listener; }
trap cleanup EXIT INT TERM

send() {  # port associations -> seconds
  local port=$1 n=$2 start end i
  start=$(date +%s.%N)
  for ((i = 0; i < n; i++)); do
    TCP_NODELAY=1 /usr/bin/storescu -R -xe "127.0.0.1" "$port" $(printf '%s\n' "${files[@]}" | awk -v n="$n" -v i="$i" 'NR % n == i') >/dev/null 2>&1 &
  done
  wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

run_receiver() {  # name associations -> seconds
  local name=$1 n=$2 port secs
  port=$(free_port)
  if [ "$name" = listener ]; then
    "$bench" "$port" & pid=$!
  else
    rm -rf /dev/shm/bench-listener; mkdir -p /dev/shm/bench-listener
    TCP_NODELAY=1 /usr/bin/storescp --fork +xa -od /dev/shm/bench-listener "$port" & pid=$!
  fi
  for _ in $(seq 1 50); do /usr/bin/echoscu 127.0.0.1 "$port" >/dev/null 2>&1 && break; sleep 0.1; done
  secs=$(send "$port" "$n")
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""
  echo "$secs"
}

echo "corpus: $count files, $((bytes / 1000000)) MB ($corpus); $runs runs per cell, interleaved"
printf '| associations | listener-bench inst/s (median) | storescp tmpfs inst/s (median) | ratio |\n|---:|---:|---:|---:|\n'
for n in 1 4; do
  a=(); b=()
  for ((r = 0; r < runs; r++)); do
    a+=("$(run_receiver listener "$n")")
    b+=("$(run_receiver storescp "$n")")
  done
  ma=$(printf '%s\n' "${a[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  mb=$(printf '%s\n' "${b[@]}" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  ia=$(echo "$count / $ma" | bc -l); ib=$(echo "$count / $mb" | bc -l)
  printf '| %d | %.1f | %.1f | %.2f× |\n' "$n" "$ia" "$ib" "$(echo "$ia / $ib" | bc -l)"
done
