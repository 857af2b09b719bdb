#!/usr/bin/env bash
# Actor benchmarks (issue 8), ringworker only (no peer runs Durable Objects
# outside workerd; bench/RESULTS.md says what each figure means):
#
#   bench/scripts/actors.sh [ROUNDS] [DURATION] [SOCKETS] [WAKES]
#
# Per round:
# - actor requests/s on one shard: `ringworker-bench http` at 64 connections
#   on GET /rpc/<name> (an RPC call that reads and writes the actor's
#   storage) and GET /fetch/<name> (the same through the actor's fetch()),
#   over 1 actor and over 1,000 actors, with the server's CPU per request;
#   the plain JS hello (examples/hello.js) in the same round for scale;
# - hibernation: SOCKETS WebSockets over 100 rooms (actors) that hibernate
#   (window 100 ms), the server's RSS growth per socket (from a fresh server,
#   and its anonymous memory past the first 1 % of the sockets), then WAKES messages
#   that each wake a hibernated room, each followed by one to the awake room
#   (round trips from the client).
# Server on SERVER_CPU, load generator on LOADGEN_CPU (bench/scripts/lib.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
DURATION=${2:-5s}
SOCKETS=${3:-10000}
WAKES=${4:-1000}
. bench/scripts/lib.sh
cargo build --release -p ringworker -p ringworker-bench --bins >/dev/null 2>&1
ulimit -n 65536 2>/dev/null || true
OUT=$(mktemp)
STATE=$(mktemp -d)
LOGS=$(mktemp)
PORT=18990


serve() { # script -> pid (the actor bindings unless the script is the hello)
  local actors=()
  [ "$1" = examples/hello.js ] ||
    actors=(--actor COUNTER=Counter --actor ROOM=Room --actor-storage "$STATE/$PORT" --hibernate-after-ms 100)
  taskset -c "$SERVER_CPU" $T/ringworker serve "$1" --listen 127.0.0.1:$PORT --shards 1 --no-pin \
    "${actors[@]}" >/dev/null 2>"$LOGS.$PORT" &
  echo $!
}


tag() { python3 -c "import json,sys; d=json.load(sys.stdin); d.update(cell='$1', round=$2); print(json.dumps(d))" >> "$OUT"; }

for round in $(seq "$ROUNDS"); do
  for cell in hello rpc-1 fetch-1 rpc-1000; do
    PORT=$((PORT + 1))
    case $cell in
      hello) pid=$(serve examples/hello.js); path=/ ;;
      rpc-1) pid=$(serve bench/workers/actors.js); path=/rpc/one ;;
      fetch-1) pid=$(serve bench/workers/actors.js); path=/fetch/one ;;
      rpc-1000) pid=$(serve bench/workers/actors.js); path=/rpc-any/1000 ;;
    esac
    wait_port $PORT
    args=(--url "http://127.0.0.1:$PORT$path" -c 64 -d "$DURATION" --warmup 1s --cpu-pid "$pid" --json)
    taskset -c "$LOADGEN_CPU" $T/ringworker-bench http "${args[@]}" | tag "$cell" "$round"
    stop "$pid"
  done
  PORT=$((PORT + 1))
  pid=$(serve bench/workers/actors.js)
  wait_port $PORT
  taskset -c "$LOADGEN_CPU" $T/ringworker-bench ws --scenario hibernate \
    --url "ws://127.0.0.1:$PORT/room/{room}" --sockets "$SOCKETS" --rooms 100 --rss-pid "$pid" \
    --settle 1500ms --wakes "$WAKES" --idle 150ms --json | tag hibernate "$round"
  stop "$pid"
done
rm -rf "$STATE"
cat "$LOGS".* | grep -E "ERROR|WARN" | sed -E 's/^.*(ERROR|WARN)/\1/' | sort | uniq -c | sort -rn | head -5 || true
rm -f "$LOGS".*

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs) if xs else float("nan")
def g(cell, *path):
    vals = []
    for r in rows:
        if r['cell'] != cell: continue
        v = r
        for p in path:
            v = v.get(p) if isinstance(v, dict) else None
        if v is not None: vals.append(v)
    return med(vals)
print(f"{'cell':<10}{'req/s':>10}{'p50 ms':>8}{'p99 ms':>8}{'us CPU/req':>11}{'errors':>8}")
for c in ['hello', 'rpc-1', 'fetch-1', 'rpc-1000']:
    print(f"{c:<10}{g(c,'rps'):>10.0f}{g(c,'latency_us','p50')/1000:>8.2f}{g(c,'latency_us','p99')/1000:>8.2f}{g(c,'server_cpu_us_per_req'):>11.1f}{g(c,'errors','total'):>8.0f}")
print(f"hibernate: {g('hibernate','sockets'):.0f} sockets, {g('hibernate','bytes_per_socket'):.0f} B/socket RSS from a fresh server, "
      f"{g('hibernate','marginal_bytes_per_socket'):.0f} B/socket anonymous past the first 1 %; "
      f"wake round trip p50 {g('hibernate','wake_us','p50'):.0f} us p99 {g('hibernate','wake_us','p99'):.0f} us; "
      f"awake p50 {g('hibernate','awake_us','p50'):.0f} us p99 {g('hibernate','awake_us','p99'):.0f} us")
print(f"({len({r['round'] for r in rows})} rounds; medians; raw: {sys.argv[1]})")
PY
