#!/usr/bin/env bash
# Two ringworker binaries serving examples/hello.js, side by side in
# alternating rounds: requests/s, the server's CPU per request (from
# /proc/PID/stat, in ringworker-bench's report) and the whole machine's
# busy CPU per request (/proc/stat). The server runs on SERVER_CPU, the load
# generator on LOADGEN_CPU (bench/scripts/lib.sh). Medians at the end.
#
#   bench/scripts/hello-before-after.sh BEFORE_BIN AFTER_BIN [ROUNDS] [SECONDS]
#   e.g. bench/scripts/hello-before-after.sh /tmp/rw-6db6548 target/release/ringworker 5 10
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/scripts/lib.sh
BEFORE=$1 AFTER=$2 ROUNDS=${3:-5} SECS=${4:-10}
PORT=18321
busy() { awk '/^cpu / {print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8}' /proc/stat; }
declare -A RPS CPU MACHINE
for r in $(seq "$ROUNDS"); do
  for which in before after; do
    bin=$BEFORE; [ $which = after ] && bin=$AFTER
    taskset -c "$SERVER_CPU" "$bin" serve examples/hello.js --listen 127.0.0.1:$PORT --shards 1 --no-pin 2>/dev/null &
    pid=$!
    wait_port $PORT
    read -r b0 t0 < <(busy)
    out=$(taskset -c "$LOADGEN_CPU" $T/ringworker-bench http --url http://127.0.0.1:$PORT/ \
      --connections 64 --duration "${SECS}s" --warmup 2s --cpu-pid $pid --json)
    read -r b1 t1 < <(busy)
    stop $pid
    rps=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['rps'])" "$out")
    cpu=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['server_cpu_us_per_req'])" "$out")
    # (The machine's busy time covers the warm-up too: ratio of busy ticks to
    # requests over the measured window, scaled by the window's share.)
    machine=$(python3 -c "
import json,sys,os
d=json.loads(sys.argv[1]); hz=os.sysconf('SC_CLK_TCK')
busy=($b1-$b0)/hz; n=d['rps']*($SECS+2)
print(f'{busy/n*1e6:.2f}')" "$out")
    echo "round $r $which: $rps req/s, server $cpu us/req, machine $machine us/req"
    RPS[$which]+="$rps "; CPU[$which]+="$cpu "; MACHINE[$which]+="$machine "
  done
done
python3 - "${RPS[before]}" "${RPS[after]}" "${CPU[before]}" "${CPU[after]}" "${MACHINE[before]}" "${MACHINE[after]}" <<'PY'
import statistics, sys
v = [list(map(float, a.split())) for a in sys.argv[1:]]
m = [statistics.median(x) for x in v]
print(f"median req/s:               before {m[0]:,.0f}  after {m[1]:,.0f}  ratio {m[1]/m[0]:.3f}")
print(f"median server CPU us/req:   before {m[2]:.2f}  after {m[3]:.2f}  ratio {m[3]/m[2]:.3f}")
print(f"median machine CPU us/req:  before {m[4]:.2f}  after {m[5]:.2f}  ratio {m[5]/m[4]:.3f}")
PY
