#!/usr/bin/env bash
# Two ringworker binaries side by side on the JS hello and the JSON cell of
# bench/peers/workload.js (GET / and POST /json, 64 connections), rounds
# alternating A and B, the server on SERVER_CPU and ringworker-bench on
# LOADGEN_CPU. Prints one line per run (req/s, server CPU per request, the
# whole machine's busy CPU per request as ringworker-bench reads it from
# /proc/stat) and the median ratio B/A.
#
#   bench/scripts/ab-hello-json.sh BINARY_A BINARY_B [ROUNDS=5] [SECONDS=5]
#   e.g. bench/scripts/ab-hello-json.sh /tmp/ringworker-main target/release/ringworker
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/scripts/lib.sh
A=$1 B=$2 ROUNDS=${3:-5} SECS=${4:-5}
BENCH=${BENCH:-$T/ringworker-bench}
PORT=18177
OUT=$(mktemp)
JSON='{"id":42,"items":[{"sku":"a","price":3.5,"qty":2},{"sku":"b","price":1.25,"qty":4}]}'

run() { # label binary cell
  local label=$1 bin=$2 cell=$3 pid
  taskset -c "$SERVER_CPU" "$bin" serve bench/peers/workload.js --listen 127.0.0.1:$PORT --shards 1 >/dev/null 2>&1 &
  pid=$!
  wait_port $PORT
  local args=(--url "http://127.0.0.1:$PORT/" --connections 64 --duration "${SECS}s" --warmup 1s --cpu-pid "$pid" --json)
  if [ "$cell" = json ]; then
    args=(--url "http://127.0.0.1:$PORT/json" -m POST --body "$JSON" -H 'Content-Type: application/json'
      --connections 64 --duration "${SECS}s" --warmup 1s --cpu-pid "$pid" --json)
  fi
  local r
  r=$(taskset -c "$LOADGEN_CPU" "$BENCH" http "${args[@]}")
  stop "$pid"
  python3 - "$label" "$cell" "$r" <<'PY' | tee -a "$OUT"
import json, sys
label, cell, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f"{label} {cell} {r['rps']:.0f} req/s server {r.get('server_cpu_us_per_req') or 0:.2f} us/req "
      f"machine {r.get('machine_cpu_us_per_req') or 0:.2f} us/req")
PY
}

for round in $(seq "$ROUNDS"); do
  for cell in hello json; do
    if [ $((round % 2)) = 1 ]; then run A "$A" $cell; run B "$B" $cell; else run B "$B" $cell; run A "$A" $cell; fi
  done
done

python3 - "$OUT" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for cell in ("hello", "json"):
    for i, what in ((2, "req/s"), (5, "server us/req"), (8, "machine us/req")):
        a = [float(r[i]) for r in rows if r[0] == "A" and r[1] == cell]
        b = [float(r[i]) for r in rows if r[0] == "B" and r[1] == cell]
        if a and b:
            print(f"{cell:5} {what:15} A median {statistics.median(a):10.2f}  B median {statistics.median(b):10.2f}  B/A {statistics.median(b) / statistics.median(a):.3f}")
PY
rm -f "$OUT"
