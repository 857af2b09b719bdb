#!/usr/bin/env bash
# Cross-check ringworker-bench against wrk on the hyper-hello baseline.
# Server pinned to CPU 0, load generators to CPU 1; runs are interleaved
# (wrk, rwb, wrk, rwb, ...) so machine noise hits both alike.
#
#   bench/scripts/validate-loadgen.sh [RUNS] [DURATION_S]
#
# Needs: wrk (apt-get install wrk), taskset, and a release build:
#   cargo build --release -p ringworker-bench
set -euo pipefail
RUNS=${1:-3}
DUR=${2:-5}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/release}
PORT=${PORT:-8081}
URL=http://127.0.0.1:$PORT/

taskset -c 0 "$BIN/hyper-hello" --listen 127.0.0.1:$PORT --threads 1 &
SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  curl -s -o /dev/null "$URL" && break
  sleep 0.1
done

cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$SRV/stat"; }
hz=$(getconf CLK_TCK)
median() { sort -g | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

HERE=$(cd "$(dirname "$0")" && pwd)
wrk_rps=() rwb_rps=() wrk_cpu=() rwb_cpu=() p16_rps=() wrk16_rps=()
for i in $(seq "$RUNS"); do
  # wrk has no warm-up option: give it the same 1 s of untimed load first.
  taskset -c 1 wrk -t1 -c64 -d1s "$URL" >/dev/null
  t0=$(cpu_ticks)
  out=$(taskset -c 1 wrk -t1 -c64 -d${DUR}s "$URL")
  t1=$(cpu_ticks)
  rps=$(awk '/Requests\/sec/ { print $2 }' <<<"$out")
  reqs=$(awk '/requests in/ { print $1 }' <<<"$out")
  cpu=$(awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.2f", d / hz * 1e6 / n }')
  wrk_rps+=("$rps") wrk_cpu+=("$cpu")
  echo "run $i wrk:  $rps req/s, server $cpu us/req"

  j=$(taskset -c 1 "$BIN/ringworker-bench" http --url "$URL" --connections 64 \
      --duration ${DUR}s --warmup 1s --cpu-pid $SRV --json)
  rps=$(grep -o '"rps":[0-9.]*' <<<"$j" | cut -d: -f2)
  cpu=$(grep -o '"server_cpu_us_per_req":[0-9.]*' <<<"$j" | cut -d: -f2)
  rwb_rps+=("$rps") rwb_cpu+=("$cpu")
  echo "run $i rwb:  $rps req/s, server $cpu us/req  $j"

  taskset -c 1 wrk -t1 -c64 -d1s -s "$HERE/wrk-pipeline16.lua" "$URL" >/dev/null
  rps=$(taskset -c 1 wrk -t1 -c64 -d${DUR}s -s "$HERE/wrk-pipeline16.lua" "$URL" |
        awk '/Requests\/sec/ { print $2 }')
  wrk16_rps+=("$rps")
  echo "run $i wrk pipeline 16: $rps req/s"

  j=$(taskset -c 1 "$BIN/ringworker-bench" http --url "$URL" --connections 64 \
      --duration ${DUR}s --warmup 1s --pipeline 16 --json)
  rps=$(grep -o '"rps":[0-9.]*' <<<"$j" | cut -d: -f2)
  p16_rps+=("$rps")
  echo "run $i rwb --pipeline 16: $rps req/s  $j"
done

echo
echo "median wrk            : $(printf '%s\n' "${wrk_rps[@]}" | median) req/s, server $(printf '%s\n' "${wrk_cpu[@]}" | median) us/req"
echo "median ringworker-bench: $(printf '%s\n' "${rwb_rps[@]}" | median) req/s, server $(printf '%s\n' "${rwb_cpu[@]}" | median) us/req"
echo "median wrk pipeline 16 : $(printf '%s\n' "${wrk16_rps[@]}" | median) req/s"
echo "median rwb pipeline 16 : $(printf '%s\n' "${p16_rps[@]}" | median) req/s"
