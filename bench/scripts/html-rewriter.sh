#!/usr/bin/env bash
# HTMLRewriter on a ~100 KiB page (bench/workers/html-rewriter.js), ringworker
# beside workerd (the only peer that has HTMLRewriter), in one run: rounds
# alternate the two runtimes, a fresh server per cell, each pinned to
# SERVER_CPU with the load generator on LOADGEN_CPU (bench/scripts/lib.sh);
# medians per cell. workerd comes from bench/peers/setup.sh.
#
#   bench/scripts/html-rewriter.sh [ROUNDS] [DURATION] [CONNECTIONS]
#
# Per cell: req/s, p50/p99, the server's CPU per request (/proc/PID/stat,
# from ringworker-bench --cpu-pid) and the whole machine's busy CPU per
# request (/proc/stat), and how much other work ran on the server core.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-5}
DURATION=${2:-5s}
CONNS=${3:-8}
. bench/scripts/lib.sh
PEERS=${RINGWORKER_PEERS:-$HOME/.cache/ringworker-peers}
WORKERD=$PEERS/node_modules/@cloudflare/workerd-linux-64/bin/workerd
[ -x "$WORKERD" ] || { echo "workerd not found: run bench/peers/setup.sh" >&2; exit 1; }
cargo build --release -p ringworker -p ringworker-bench --bins >/dev/null 2>&1
OUT=$(mktemp)
TMP=$(mktemp -d)
PORT=18700
cp bench/workers/html-rewriter.js "$TMP/worker.js"

core_busy() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
all_busy() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
proc_ticks() { awk '{print $14 + $15}' /proc/"$1"/stat; }

run() { # round runtime path
  local round=$1 rt=$2 path=$3 pid c0 a0 p0 t0 other machine
  PORT=$((PORT + 1))
  case $rt in
    ringworker)
      taskset -c "$SERVER_CPU" $T/ringworker serve "$TMP/worker.js" --listen 127.0.0.1:$PORT \
        --shards 1 --no-pin 2>/dev/null &
      pid=$! ;;
    workerd)
      cat > "$TMP/config.capnp" <<CAPNP
using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .worker) ],
  sockets = [ (name = "http", address = "127.0.0.1:$PORT", http = (), service = "main") ],
);
const worker :Workerd.Worker = (
  modules = [ (name = "worker.js", esModule = embed "worker.js") ],
  compatibilityDate = "2025-01-01",
);
CAPNP
      taskset -c "$SERVER_CPU" "$WORKERD" serve "$TMP/config.capnp" 2>/dev/null &
      pid=$! ;;
  esac
  wait_port $PORT
  c0=$(core_busy "$SERVER_CPU") a0=$(all_busy) p0=$(proc_ticks "$pid") t0=$(date +%s%N)
  taskset -c "$LOADGEN_CPU" $T/ringworker-bench http --url "http://127.0.0.1:$PORT$path" -c "$CONNS" \
    -d "$DURATION" --warmup 1s --expect-status 200 --cpu-pid "$pid" --json > "$TMP/bench.json"
  other=$(python3 -c "print((($(core_busy "$SERVER_CPU") - $c0) - ($(proc_ticks "$pid") - $p0)) / $(getconf CLK_TCK) / (($(date +%s%N) - $t0) / 1e9))")
  machine=$(( $(all_busy) - a0 ))
  stop "$pid"
  python3 - "$TMP/bench.json" "$rt" "$path" "$round" "$other" "$machine" "$(getconf CLK_TCK)" "$DURATION" >> "$OUT" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
rt, path, rnd, other, machine, hz = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
reqs = max(b["requests"], 1)
print(json.dumps(dict(cell=f"{rt} {path}", round=rnd, rps=b["rps"], p50=b["latency_us"]["p50"],
    p99=b["latency_us"]["p99"], cpu=b["server_cpu_us_per_req"], errors=b["errors"]["total"],
    machine=machine / hz * 1e6 / reqs, other=max(other, 0.0))))
PY
  sleep 0.3
}

for round in $(seq "$ROUNDS"); do
  for rt in ringworker workerd; do
    run "$round" "$rt" /
    run "$round" "$rt" /plain
  done
done

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cells = list(dict.fromkeys(r["cell"] for r in rows))
med = lambda c, k: statistics.median(r[k] for r in rows if r["cell"] == c)
print("| cell | req/s | p50 µs | p99 µs | server CPU µs/req | machine busy µs/req (incl. load generator) | other work on the server core | errors |")
print("|---|---|---|---|---|---|---|---|")
for c in cells:
    print(f"| {c} | {med(c,'rps'):,.0f} | {med(c,'p50'):,.0f} | {med(c,'p99'):,.0f} | {med(c,'cpu'):,.1f} | "
          f"{med(c,'machine'):,.1f} | {100*med(c,'other'):.0f} % | {sum(r['errors'] for r in rows if r['cell'] == c)} |")
print()
for path in ["/", "/plain"]:
    a, b = f"ringworker {path}", f"workerd {path}"
    if a in cells and b in cells:
        print(f"{path}: ringworker/workerd server CPU per request {med(a,'cpu')/med(b,'cpu'):.2f}x, req/s {med(a,'rps')/med(b,'rps'):.2f}x")
print(f"rewriting alone (/ minus /plain), server CPU µs/req: ringworker {med('ringworker /','cpu')-med('ringworker /plain','cpu'):.1f}, "
      f"workerd {med('workerd /','cpu')-med('workerd /plain','cpu'):.1f}")
print(f"({len({r['round'] for r in rows})} rounds; medians; raw: {sys.argv[1]})")
PY
rm -rf "$TMP"
