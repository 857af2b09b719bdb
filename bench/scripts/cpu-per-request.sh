#!/usr/bin/env bash
# Server CPU time per request under wrk: the server on CPU 0, wrk on CPU 1,
# user + system time read from /proc/PID/stat around the measured window.
#
#   bench/scripts/cpu-per-request.sh PORT SECONDS SERVER_CMD...
#   e.g. bench/scripts/cpu-per-request.sh 18090 4 target/release/examples/hello --listen 127.0.0.1:18090 --shards 1
set -euo pipefail
PORT=$1 SECS=$2
shift 2
taskset -c 0 "$@" 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
sleep 0.5
taskset -c 1 wrk -t1 -c64 -d1s "http://127.0.0.1:$PORT/" >/dev/null   # warm-up
read -r u0 s0 < <(awk '{print $14, $15}' /proc/$PID/stat)
OUT=$(taskset -c 1 wrk -t1 -c64 -d"${SECS}s" "http://127.0.0.1:$PORT/")
read -r u1 s1 < <(awk '{print $14, $15}' /proc/$PID/stat)
REQS=$(awk '/requests in/ {print $1}' <<<"$OUT")
TICK=$(getconf CLK_TCK)
python3 -c "
u, s, n, t = $((u1 - u0)), $((s1 - s0)), $REQS, $TICK
print(f'{n/$SECS:,.0f} req/s  cpu {(u+s)/t/n*1e6:.2f} us/req  (user {u/t/n*1e6:.2f}, system {s/t/n*1e6:.2f})')"
