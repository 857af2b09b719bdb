#!/usr/bin/env bash
# Side-by-side: examples/hello (ringworker) vs hyper-hello (tokio + hyper), same
# load generator, runs alternating between the two, medians per cell.
#
#   bench/scripts/hello-vs-hyper.sh [ROUNDS] [DURATION_S]
#
# One shard / one tokio thread: server on CPU 0, ringworker-bench on CPU 1.
# Two shards / two tokio threads: the server may use CPUs 0-1 and the load
# generator shares CPU 1 (this machine has two cores), so read the 2-shard rows
# as "same conditions for both", not as a scaling figure. The shards run
# unpinned there (--no-pin): a shard pinned to the load generator's core would
# be starved while its SO_REUSEPORT share of the connections waits on it.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
DUR=${2:-5}
cargo build --release --bins --examples -p ringworker -p ringworker-bench >/dev/null 2>&1
T=target/release
OUT=$(mktemp)
PORT=18190

run() { # name shards pipeline conns
  local name=$1 shards=$2 pl=$3 conns=$4 cpus pid
  cpus=$([ "$shards" = 1 ] && echo 0 || echo 0,1)
  PORT=$((PORT + 1))
  if [ "$name" = ringworker ]; then
    local pin=""; [ "$shards" = 1 ] || pin=--no-pin
    taskset -c "$cpus" $T/examples/hello --listen 127.0.0.1:$PORT --shards "$shards" $pin 2>/dev/null &
  else
    taskset -c "$cpus" $T/hyper-hello --listen 127.0.0.1:$PORT --threads "$shards" &
  fi
  pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.1; done
  taskset -c 1 $T/ringworker-bench http --url http://127.0.0.1:$PORT/ -c "$conns" \
    --pipeline "$pl" --duration "${DUR}s" --warmup 1s --cpu-pid $pid --json \
    | python3 -c "import json,sys; d=json.load(sys.stdin); d.update(name='$name', shards=$shards); print(json.dumps(d))" >> "$OUT"
  kill $pid; wait $pid 2>/dev/null || true
  sleep 0.3
}

for _ in $(seq "$ROUNDS"); do
  for cfg in "1 1 64" "1 16 64" "2 1 256"; do
    set -- $cfg
    run ringworker "$1" "$2" "$3"
    run hyper "$1" "$2" "$3"
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def med(xs): return statistics.median(xs)
cells = {}
for r in rows:
    cells.setdefault((r["shards"], r["pipeline"], r["connections"]), {}).setdefault(r["name"], []).append(r)
print("| shards | pipeline | conns | server | req/s (median) | server CPU µs/req | p50 µs | p99 µs | loadgen CPU | runs |")
print("|---|---|---|---|---|---|---|---|---|---|")
for key in sorted(cells):
    meds = {}
    for name in ("ringworker", "hyper"):
        rs = cells[key].get(name, [])
        if not rs: continue
        m = dict(rps=med([r["rps"] for r in rs]), cpu=med([r["server_cpu_us_per_req"] for r in rs]),
                 p50=med([r["latency_us"]["p50"] for r in rs]), p99=med([r["latency_us"]["p99"] for r in rs]),
                 lg=med([r["loadgen_cpu_util"] for r in rs]))
        meds[name] = m
        print(f"| {key[0]} | {key[1]} | {key[2]} | {name} | {m['rps']:,.0f} | {m['cpu']:.2f} | {m['p50']:.0f} | {m['p99']:.0f} | {m['lg']:.2f} | {len(rs)} |")
    if len(meds) == 2:
        a, b = meds["ringworker"], meds["hyper"]
        print(f"| {key[0]} | {key[1]} | {key[2]} | **ratio** | **{a['rps']/b['rps']:.2f}x** | **{b['cpu']/a['cpu']:.2f}x** (hyper/ringworker) | | | | |")
PY
echo
echo "raw runs: $OUT"
