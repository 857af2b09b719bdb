#!/usr/bin/env bash
# What the admin listener costs the request path (issue 26): the JS hello
# (examples/hello.js, 1 shard on SERVER_CPU) under the same closed-loop load
# (64 connections, ringworker-bench on LOADGEN_CPU), in four configurations,
# alternating, ROUNDS rounds:
#
#   base      no --admin
#   scrape    --admin, and GET /metrics once a second (curl, on LOADGEN_CPU)
#   tail      --admin, and `ringworker tail --format json > /dev/null` attached
#             (every request becomes an event; the client runs on LOADGEN_CPU)
#   tail-none --admin, and a tail client whose filter takes nothing
#             (--status 5xx: each request is still traced, no event is sent)
#
#   bench/scripts/admin-overhead.sh [ROUNDS] [DURATION_S]
#
# Prints medians per configuration: requests/s, the server's CPU per request
# (its threads' run time), the machine's busy CPU per request (/proc/stat:
# every core, the load generator and the tail client included), and the
# tail client's own CPU per request.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/scripts/lib.sh
ROUNDS=${1:-5}
DUR=${2:-10}
cargo build --release -p ringworker -p ringworker-bench >/dev/null 2>&1
OUT=$(mktemp)
PORT=18290

run() { # config
  local cfg=$1 pid admin="" side=0 extra=()
  PORT=$((PORT + 2))
  [ "$cfg" = base ] || admin="--admin 127.0.0.1:$((PORT + 1))"
  # shellcheck disable=SC2086
  pid=$(taskset -c "$SERVER_CPU" $T/ringworker serve examples/hello.js --listen 127.0.0.1:$PORT \
    --shards 1 $admin >/dev/null 2>&1 & echo $!)
  wait_port $PORT
  case $cfg in
    scrape)
      side=$(taskset -c "$LOADGEN_CPU" bash -c "while :; do curl -s -o /dev/null http://127.0.0.1:$((PORT + 1))/metrics; sleep 1; done" \
        >/dev/null 2>&1 & echo $!) ;;
    tail)
      side=$(taskset -c "$LOADGEN_CPU" $T/ringworker tail 127.0.0.1:$((PORT + 1)) --format json \
        >/dev/null 2>&1 & echo $!) ;;
    tail-none)
      side=$(taskset -c "$LOADGEN_CPU" $T/ringworker tail 127.0.0.1:$((PORT + 1)) --format json --status 5xx \
        >/dev/null 2>&1 & echo $!) ;;
  esac
  [ "$side" = 0 ] || { sleep 0.5; extra=(--cpu-pid "$side"); }
  taskset -c "$LOADGEN_CPU" $T/ringworker-bench http --url http://127.0.0.1:$PORT/ -c 64 \
    --duration "${DUR}s" --warmup 2s --cpu-pid "$pid" "${extra[@]}" --json \
    > "$OUT.run"
  # Whether the tail client was still attached when the run ended (a client
  # that falls behind is dropped, and the rest of the run pays nothing).
  local attached=None
  [ -z "$admin" ] || attached=$(curl -s http://127.0.0.1:$((PORT + 1))/stats |
    python3 -c "import json,sys; print(json.load(sys.stdin)['total']['tail_clients'])")
  python3 -c "import json,sys; d=json.load(open('$OUT.run')); d.update(config='$cfg', tail_clients=$attached); print(json.dumps(d))" >> "$OUT"
  [ "$side" = 0 ] || stop "$side"
  stop "$pid"
}

for _ in $(seq "$ROUNDS"); do
  for cfg in base scrape tail tail-none; do
    run "$cfg"
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = statistics.median
by = {}
for r in rows:
    by.setdefault(r["config"], []).append(r)
base = med([r["server_cpu_us_per_req"] for r in by["base"]])
print("| config | req/s | server CPU µs/req | vs base | machine CPU µs/req | tail client CPU µs/req | p99 µs | runs | tail attached at the end |")
print("|---|---|---|---|---|---|---|---|---|")
for cfg in ("base", "scrape", "tail", "tail-none"):
    rs = by.get(cfg, [])
    if not rs:
        continue
    cpu = med([r["server_cpu_us_per_req"] for r in rs])
    side = [r["other_cpu"][0]["cpu_us_per_req"] for r in rs if r.get("other_cpu")]
    side = f"{med(side):.2f}" if side and cfg != "scrape" else "–"
    lo, hi = min(r["server_cpu_us_per_req"] for r in rs), max(r["server_cpu_us_per_req"] for r in rs)
    print(f"| {cfg} | {med([r['rps'] for r in rs]):,.0f} | {cpu:.2f} ({lo:.2f}–{hi:.2f}) | {cpu / base:.3f}x "
          f"| {med([r['machine_cpu_us_per_req'] for r in rs]):.2f} | {side} "
          f"| {med([r['latency_us']['p99'] for r in rs]):.0f} | {len(rs)} "
          f"| {sum(1 for r in rs if r.get('tail_clients')) if cfg.startswith('tail') else '–'} |")
PY
echo
echo "raw runs: $OUT"
