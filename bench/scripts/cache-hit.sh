#!/usr/bin/env bash
# What a Cache API hit costs (bench/workers/cache-hit.js): a 1 KiB response
# made per request (/plain) against the same response from caches.default
# (/hit), with one shard (every hit in the shard's own partition) and with
# two shards on the same core (the key lives in one partition: requests
# that land on the other shard are answered by message); and, with one
# shard, the on-disk tier (`--cache-dir`): a hit from the memory tier in
# front of it, and a disk hit (`--cache-mb 0`: every hit reads the entry's
# file on the shard's blocking pool; the file stays in the page cache).
# Cells alternate within each round; the server is pinned to SERVER_CPU,
# the load generator to LOADGEN_CPU (bench/scripts/lib.sh); medians.
#
#   bench/scripts/cache-hit.sh [ROUNDS] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
DURATION=${2:-5s}
. bench/scripts/lib.sh
cargo build --release -p ringworker -p ringworker-bench --bins >/dev/null 2>&1
OUT=$(mktemp)
TMP=$(mktemp -d)
PORT=18800

run() { # round shards path label [server flags...]
  local round=$1 shards=$2 path=$3 label=$4 pid
  shift 4
  PORT=$((PORT + 1))
  rm -rf "$TMP/cache-dir"
  taskset -c "$SERVER_CPU" $T/ringworker serve bench/workers/cache-hit.js --listen 127.0.0.1:$PORT \
    --shards "$shards" --no-pin "$@" 2>/dev/null &
  pid=$!
  wait_port $PORT
  taskset -c "$LOADGEN_CPU" $T/ringworker-bench http --url "http://127.0.0.1:$PORT$path" -c 64 \
    -d "$DURATION" --warmup 1s --expect-status 200 --cpu-pid "$pid" --json > "$TMP/bench.json"
  stop "$pid"
  python3 - "$TMP/bench.json" "$shards shard(s) $path$label" "$round" >> "$OUT" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
print(json.dumps(dict(cell=sys.argv[2], round=int(sys.argv[3]), rps=b["rps"], p50=b["latency_us"]["p50"],
    p99=b["latency_us"]["p99"], cpu=b["server_cpu_us_per_req"], machine=b.get("machine_cpu_us_per_req") or 0,
    errors=b["errors"]["total"])))
PY
  sleep 0.3
}

for round in $(seq "$ROUNDS"); do
  for shards in 1 2; do
    run "$round" "$shards" /plain ""
    run "$round" "$shards" /hit ""
  done
  run "$round" 1 /hit " --cache-dir (memory hit)" --cache-dir "$TMP/cache-dir"
  run "$round" 1 /hit " --cache-dir --cache-mb 0 (disk hit)" --cache-dir "$TMP/cache-dir" --cache-mb 0
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cells = list(dict.fromkeys(r["cell"] for r in rows))
med = lambda c, k: statistics.median(r[k] for r in rows if r["cell"] == c)
print("| cell | req/s | p50 µs | p99 µs | server CPU µs/req | machine busy µs/req | errors |")
print("|---|---|---|---|---|---|---|")
for c in cells:
    print(f"| {c} | {med(c,'rps'):,.0f} | {med(c,'p50'):,.0f} | {med(c,'p99'):,.0f} | {med(c,'cpu'):.2f} | "
          f"{med(c,'machine'):.2f} | {sum(r['errors'] for r in rows if r['cell'] == c)} |")
for s in ["1", "2"]:
    h, p = f"{s} shard(s) /hit", f"{s} shard(s) /plain"
    if h in cells and p in cells:
        print(f"{s} shard(s): a hit costs {med(h,'cpu') - med(p,'cpu'):+.2f} µs of server CPU over making the response")
m, d = "1 shard(s) /hit", "1 shard(s) /hit --cache-dir --cache-mb 0 (disk hit)"
if m in cells and d in cells:
    print(f"a disk hit costs {med(d,'cpu') - med(m,'cpu'):+.2f} µs of server CPU over a memory hit "
          f"({med(d,'cpu') / med(m,'cpu'):.2f}x)")
print(f"({len({r['round'] for r in rows})} rounds; medians; raw: {sys.argv[1]})")
PY
rm -rf "$TMP"
