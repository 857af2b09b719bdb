#!/usr/bin/env bash
# WebSocket echo and idle memory, side by side: ringworker serving
# examples/ws-echo.js, the Rust-only ceiling (examples/ws-echo.rs, same
# handshake, framing and session code), Bun (Bun.serve websocket) and Deno
# (Deno.upgradeWebSocket), the same `ringworker-bench ws` against each,
# servers alternating per round, medians per cell.
#
#   bench/scripts/ws.sh [ROUNDS] [DURATION] [IDLE_SOCKETS]
#
# Cores (SERVER_CPU, LOADGEN_CPU) and the Bun/Deno install (PEERS_DIR): see
# bench/scripts/peers.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
DURATION=${2:-5s}
IDLE=${3:-10000}
. bench/scripts/peers.sh
cargo build --release -p ringworker -p ringworker-bench --bins --example ws-echo >/dev/null 2>&1
OUT=$(mktemp)
PORT=18390

start() { # name -> pid
  case $1 in
    ringworker) taskset -c $SERVER_CPU $T/ringworker serve examples/ws-echo.js --listen 127.0.0.1:$PORT --shards 1 --no-pin >/dev/null 2>&1 & ;;
    rust) taskset -c $SERVER_CPU $T/examples/ws-echo --listen 127.0.0.1:$PORT --shards 1 --no-pin >/dev/null 2>&1 & ;;
    bun) PORT=$PORT taskset -c $SERVER_CPU "$BUN" bench/peers/bun-serve.js bench/peers/workload.js >/dev/null 2>&1 & ;;
    deno) PORT=$PORT taskset -c $SERVER_CPU "$DENO" run -A bench/peers/deno-serve.js bench/peers/workload.js >/dev/null 2>&1 & ;;
  esac
  echo $!
}

tag() { python3 -c "import json,sys; d=json.load(sys.stdin); d.update(name='$1', scenario='$2', round=$3); print(json.dumps(d))" >> "$OUT"; }

for round in $(seq "$ROUNDS"); do
  for name in ringworker rust bun deno; do
    for scenario in echo idle; do
      PORT=$((PORT + 1))
      pid=$(start $name)
      wait_port $PORT
      if [ $scenario = echo ]; then
        taskset -c $LOADGEN_CPU $T/ringworker-bench ws --url ws://127.0.0.1:$PORT/ -c 64 --message-bytes 32 \
          -d "$DURATION" --warmup 1s --cpu-pid "$pid" --json | tag $name echo $round
      else
        taskset -c $LOADGEN_CPU $T/ringworker-bench ws --scenario idle --url ws://127.0.0.1:$PORT/ \
          --sockets "$IDLE" --rss-pid "$pid" --json | tag $name idle $round
      fi
      stop "$pid"
      sleep 0.5
    done
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs) if xs else float("nan")
names = ['ringworker', 'rust', 'bun', 'deno']
label = {'ringworker': 'ringworker (JS)', 'rust': 'Rust ceiling', 'bun': 'Bun', 'deno': 'Deno'}
def cell(name, scen, k):
    return med([r[k] for r in rows if r['name'] == name and r['scenario'] == scen and r.get(k) is not None])
def lat(name, q):
    return med([r['latency_us'][q] for r in rows if r['name'] == name and r['scenario'] == 'echo'])
base = cell('ringworker', 'echo', 'server_cpu_us_per_round_trip')
print(f"{'server':<17}{'rt/s':>9}{'p50 us':>8}{'p99 us':>8}{'us CPU/rt':>10}{'vs rw':>7}{'srv load':>9}{'lg load':>8}{'B/idle ws':>10}")
for n in names:
    c = cell(n, 'echo', 'server_cpu_us_per_round_trip')
    print(f"{label[n]:<17}{cell(n,'echo','round_trips_per_s'):>9.0f}{lat(n,'p50'):>8.0f}{lat(n,'p99'):>8.0f}{c:>10.2f}{c/base:>7.2f}"
          f"{cell(n,'echo','server_cpu_util')*100:>8.0f}%{cell(n,'echo','loadgen_cpu_util')*100:>7.0f}%{cell(n,'idle','bytes_per_socket'):>10.0f}")
alive = [f"{r['name']}:{r['sample_alive']}/{r['sample']}" for r in rows if r['scenario'] == 'idle' and r['sample_alive'] != r['sample']]
print(f"({len({r['round'] for r in rows})} rounds; medians; idle sockets that stopped echoing: {alive or 'none'}; raw: {sys.argv[1]})")
PY
