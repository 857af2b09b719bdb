#!/usr/bin/env bash
# Outbound fetch() as a reverse proxy (issue 7): ringworker-bench against a
# local upstream directly, and against `ringworker serve
# bench/workers/proxy.js` forwarding to the same upstream; cells alternate
# within each round, a fresh server pair per cell, medians per cell.
#
#   bench/scripts/proxy.sh [ROUNDS] [DURATION]
#
# The upstreams are the Rust examples (the cheapest servers we have):
# examples/hello ("Hello World", 11 bytes) and examples/stream with one
# 64 KiB chunk (chunked encoding). The proxy and its upstream share
# SERVER_CPU (default 0), so that core does both hops' work; the load
# generator runs on LOADGEN_CPU (default 1, the core that takes the block-device
# interrupts, see bench/scripts/lib.sh).
#
# Per cell: req/s and latency from ringworker-bench; CPU per request of the
# proxy and of the upstream over the measured window (`--cpu-pid` twice);
# from the proxy's --stats-out at exit (whole run, warm-up included): the
# upstream connections it opened per 1,000 fetches (pool reuse) and its
# isolate's GC time per request; and how much other work ran on the server
# core meanwhile (this machine is shared). 5 rounds of 5 s take ~3.5 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
DURATION=${2:-5s}
. bench/scripts/lib.sh
# (--bins too: naming an --example alone builds no binaries.)
cargo build --release -p ringworker -p ringworker-bench --bins --example hello --example stream >/dev/null 2>&1
OUT=$(mktemp)
TMP=$(mktemp -d)
PORT=18600


# core_busy CPU: that core's busy clock ticks so far (/proc/stat).
core_busy() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# proc_ticks PID...: user + system clock ticks of these processes.
proc_ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' /proc/"$p"/stat))); done; echo $t; }


# Cells: name, upstream (hello|stream), proxied (0|1), path, proxy options.
CELLS=(
  "direct-hello hello 0 /"
  "proxy-hello hello 1 /"
  "proxy-hello-pool64 hello 1 / --pool-max-idle 64"
  "proxy-buffer-pool64 hello 1 /buffer/ --pool-max-idle 64"
  "direct-64k stream 0 /"
  "proxy-64k-pool64 stream 1 / --pool-max-idle 64"
)

run() { # round name upstream proxied path [proxy options...]
  local round=$1 name=$2 up=$3 proxied=$4 path=$5 up_pid px_pid=0 url pids
  shift 5
  PORT=$((PORT + 2))
  local up_port=$PORT px_port=$((PORT + 1))
  case $up in
    hello) taskset -c "$SERVER_CPU" $T/examples/hello --listen 127.0.0.1:$up_port --shards 1 \
             2>/dev/null & ;;
    stream) taskset -c "$SERVER_CPU" $T/examples/stream --listen 127.0.0.1:$up_port --shards 1 \
              --chunks 1 --chunk-size 65536 2>/dev/null & ;;
  esac
  up_pid=$!
  wait_port $up_port
  url=http://127.0.0.1:$up_port$path
  pids=(--cpu-pid "$up_pid")
  if [ "$proxied" = 1 ]; then
    taskset -c "$SERVER_CPU" $T/ringworker serve bench/workers/proxy.js --listen 127.0.0.1:$px_port \
      --shards 1 --var UPSTREAM=http://127.0.0.1:$up_port --stats-out "$TMP/px.json" "$@" 2>/dev/null &
    px_pid=$!
    wait_port $px_port
    url=http://127.0.0.1:$px_port$path
    pids=(--cpu-pid "$px_pid" --cpu-pid "$up_pid")
  fi
  local servers=("$up_pid") c0 p0 t0 other
  [ "$px_pid" = 0 ] || servers+=("$px_pid")
  c0=$(core_busy "$SERVER_CPU") p0=$(proc_ticks "${servers[@]}") t0=$(date +%s%N)
  taskset -c "$LOADGEN_CPU" $T/ringworker-bench http --url "$url" -c 64 -d "$DURATION" --warmup 1s \
    --expect-status 200 "${pids[@]}" --json > "$TMP/bench.json"
  # Anything else that ran on the server core meanwhile, as a fraction of the run.
  other=$(python3 -c "print((($(core_busy "$SERVER_CPU") - $c0) - ($(proc_ticks "${servers[@]}") - $p0)) / $(getconf CLK_TCK) / (($(date +%s%N) - $t0) / 1e9))")
  [ "$px_pid" = 0 ] || stop "$px_pid"
  stop "$up_pid"
  python3 - "$TMP" "$name" "$round" "$proxied" "$other" >> "$OUT" <<'PY'
import json, os, sys
tmp, name, rnd, proxied = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1"
b = json.load(open(f"{tmp}/bench.json"))
row = dict(name=name, round=rnd, rps=b["rps"], p50=b["latency_us"]["p50"], p99=b["latency_us"]["p99"],
           errors=b["errors"]["total"], loadgen=b["loadgen_cpu_util"], other=max(float(sys.argv[5]), 0.0))
if proxied:
    px = json.load(open(f"{tmp}/px.json"))["shards"][0]
    out = px["outbound"]
    row.update(px_cpu=b["server_cpu_us_per_req"], px_user=b["server_cpu_user_us_per_req"],
               px_sys=b["server_cpu_sys_us_per_req"], px_util=b["server_cpu_util"],
               up_cpu=b["other_cpu"][0]["cpu_us_per_req"], up_util=b["other_cpu"][0]["cpu_util"],
               gc_us=px["v8"]["gc_total_us"] / max(px["requests"], 1),
               connects_per_k=1000 * out["connects"] / max(out["requests"], 1),
               fetch_failed=out["failed"], retries=out["retries"])
else:
    row.update(px_cpu=0.0, px_user=0.0, px_sys=0.0, px_util=0.0, up_cpu=b["server_cpu_us_per_req"],
               up_util=b["server_cpu_util"], gc_us=0.0, connects_per_k=0.0, fetch_failed=0, retries=0)
print(json.dumps(row))
PY
  rm -f "$TMP"/*.json
  sleep 0.3
}

for round in $(seq "$ROUNDS"); do
  for cell in "${CELLS[@]}"; do
    # shellcheck disable=SC2086
    run "$round" $cell
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
names = list(dict.fromkeys(r["name"] for r in rows))
med = lambda n, k: statistics.median(r[k] for r in rows if r["name"] == n)
print("| cell | req/s | p50 µs | p99 µs | proxy CPU µs/req (user + sys) | upstream CPU µs/req | server core busy | upstream connects / 1k fetches | proxy GC µs/req | errors |")
print("|---|---|---|---|---|---|---|---|---|---|")
for n in names:
    errs = sum(r["errors"] for r in rows if r["name"] == n)
    print(f"| {n} | {med(n,'rps'):,.0f} | {med(n,'p50'):,.0f} | {med(n,'p99'):,.0f} | "
          f"{med(n,'px_cpu'):.2f} ({med(n,'px_user'):.1f} + {med(n,'px_sys'):.1f}) | {med(n,'up_cpu'):.2f} | "
          f"{med(n,'px_util') + med(n,'up_util'):.2f} | {med(n,'connects_per_k'):.1f} | {med(n,'gc_us'):.2f} | {errs} |")
print()
for proxied, direct in [("proxy-hello", "direct-hello"), ("proxy-hello-pool64", "direct-hello"),
                        ("proxy-buffer-pool64", "direct-hello"), ("proxy-64k-pool64", "direct-64k")]:
    if proxied in names and direct in names:
        print(f"{proxied} vs {direct}: req/s {med(proxied,'rps')/med(direct,'rps'):.2f}x, "
              f"p99 {med(proxied,'p99')/med(direct,'p99'):.2f}x, "
              f"proxy CPU {med(proxied,'px_cpu')/med(direct,'up_cpu'):.2f}x the direct upstream's")
print()
print("per run (req/s | proxy CPU µs/req | other work on the server core, % | fetches that failed, i.e. were aborted when the load generator left at the end):")
for n in names:
    rs = sorted((r for r in rows if r["name"] == n), key=lambda r: r["round"])
    print(f"  {n}: " + " ".join(f"{r['rps']:,.0f}" for r in rs) + " | " + " ".join(f"{r['px_cpu']:.2f}" for r in rs)
          + " | " + " ".join(f"{100 * r['other']:.0f}" for r in rs) + " | " + " ".join(str(r["fetch_failed"]) for r in rs))
print(f"({len({r['round'] for r in rows})} rounds; medians; raw: {sys.argv[1]})")
PY
rm -rf "$TMP"
