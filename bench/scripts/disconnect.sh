#!/usr/bin/env bash
# Side-by-side disconnect detection: ringworker vs Bun vs Deno serving the same
# script (bench/workers/disconnect.js), the same ringworker-bench `disconnect`
# scenario against each, runtimes alternating per round, medians per cell.
#
#   bench/scripts/disconnect.sh [ROUNDS] [COUNT] ["CONCURRENCIES"] [IGNORE_COUNT]
#
# Cores (SERVER_CPU, LOADGEN_CPU) and the Bun/Deno install (PEERS_DIR): see
# bench/scripts/peers.sh.
# Each cell: COUNT disconnects, half FIN half RST ("mixed"), then an
# "ignore" run of IGNORE_COUNT (default 500) where the script swallows the
# disconnect and keeps its 5 ms interval; its column is the server CPU over
# the second after every client left and the grace period passed.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
COUNT=${2:-10000}
read -r -a CONCS <<< "${3:-4 16}"
IGNORE_COUNT=${4:-500}
. bench/scripts/peers.sh
cargo build --release -p ringworker -p ringworker-bench >/dev/null 2>&1
W=bench/workers/disconnect.js
OUT=$(mktemp)
PORT=18290

start() { # name -> pid
  case $1 in
    ringworker) taskset -c $SERVER_CPU $T/ringworker serve $W --listen 127.0.0.1:$PORT --shards 1 --no-pin >/dev/null 2>&1 & ;;
    bun) PORT=$PORT taskset -c $SERVER_CPU "$BUN" bench/peers/bun-serve.js $W >/dev/null 2>&1 & ;;
    deno) PORT=$PORT taskset -c $SERVER_CPU "$DENO" run -A bench/peers/deno-serve.js $W >/dev/null 2>&1 & ;;
  esac
  echo $!
}

for round in $(seq "$ROUNDS"); do
  for name in ringworker bun deno; do
    for c in "${CONCS[@]}"; do
      PORT=$((PORT + 1))
      pid=$(start $name)
      wait_port $PORT
      for variant in "" "ignore"; do
        url="http://127.0.0.1:$PORT/"; n=$COUNT
        [ -n "$variant" ] && url="$url?ignore" && n=$IGNORE_COUNT
        taskset -c $LOADGEN_CPU $T/ringworker-bench disconnect --url "$url" -n "$n" -c "$c" \
          --mode mixed --cpu-pid "$pid" --json \
          | python3 -c "import json,sys; d=json.load(sys.stdin); d.update(name='$name', conc=$c, variant='${variant:-plain}', round=$round); print(json.dumps(d))" >> "$OUT"
      done
      stop "$pid"
      sleep 0.3
    done
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs) if xs else float("nan")
print(f"{'runtime':<11}{'c':>3} {'p50 ms':>8}{'p90 ms':>8}{'p99 ms':>8}{'max ms':>8}{'missed':>7}{'us/disc':>9}{'load':>6}{'ignore: after ms/s':>20}")
for c in sorted({r['conc'] for r in rows}):
    for name in ['ringworker', 'bun', 'deno']:
        p = [r for r in rows if r['name'] == name and r['conc'] == c and r['variant'] == 'plain']
        i = [r for r in rows if r['name'] == name and r['conc'] == c and r['variant'] == 'ignore']
        if not p: continue
        g = lambda k, rs=p: med([r[k] for r in rs if r.get(k) is not None])
        print(f"{name:<11}{c:>3} {g('p50_ms'):>8.3f}{g('p90_ms'):>8.3f}{g('p99_ms'):>8.3f}{g('max_ms'):>8.3f}{g('missed'):>7.0f}{g('server_cpu_us_per_disconnect'):>9.0f}{g('server_load')*100:>5.0f}%{g('idle_cpu_ms', i):>20.1f}")
print(f"({len({r['round'] for r in rows})} rounds; medians of per-run percentiles; raw: {sys.argv[1]})")
PY
