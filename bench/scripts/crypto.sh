#!/usr/bin/env bash
# WebCrypto throughput, side by side: ringworker, workerd, Deno and Bun
# serving the same bench/workers/crypto-bench.js (Deno and Bun through
# bench/peers/{deno,bun}-serve.js), each pinned to SERVER_CPU with every
# thread, driven by ringworker-bench from LOADGEN_CPU over 2 keep-alive
# connections (so the next request is always waiting). A request awaits N
# operations in turn; ops/s = requests/s x N, and the server's CPU time per
# operation comes from /proc/PID/stat. Rounds alternate between runtimes;
# the table gives medians (and the ratio to the fastest peer). A second
# table, ringworker alone over one connection, gives the wall time per
# operation of work it runs inline (RSA-1024 signing, PBKDF2 with 3,999
# iterations) and on the blocking pool (RSA-2048, 4,000 iterations): the
# numbers behind its off-shard thresholds.
#
#   bench/scripts/crypto.sh [ROUNDS] [DURATION]
#
# Cores (SERVER_CPU, LOADGEN_CPU) and the peers (PEERS_DIR): see
# bench/scripts/peers.sh; workerd comes from the same install
# (bench/peers/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
DURATION=${2:-3s}
. bench/scripts/peers.sh
WORKERD=$PEERS_DIR/node_modules/@cloudflare/workerd-linux-64/bin/workerd
cargo build --release -p ringworker -p ringworker-bench --bins >/dev/null 2>&1
OUT=$(mktemp)
DIR=$(mktemp -d)
cp bench/workers/crypto-bench.js "$DIR/worker.js"
PORT=18490
# op:N (operations per request: a few milliseconds of work each).
OPS="hmac:2000 sha256:8 es256_sign:200 es256_verify:100 aes_gcm:200"
OFFLOAD="rs1024_sign:10 rs256_sign:4 pbkdf2_3999:4 pbkdf2_4000:4"

start() { # name -> pid
  case $1 in
    ringworker) taskset -c $SERVER_CPU $T/ringworker serve bench/workers/crypto-bench.js --listen 127.0.0.1:$PORT \
                  --shards 1 --no-pin --cpu-limit-ms 2000 >/dev/null 2>&1 & ;;
    workerd) cat > "$DIR/config.capnp" <<CAPNP
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
      taskset -c $SERVER_CPU "$WORKERD" serve "$DIR/config.capnp" >/dev/null 2>&1 & ;;
    bun) PORT=$PORT taskset -c $SERVER_CPU "$BUN" bench/peers/bun-serve.js bench/workers/crypto-bench.js >/dev/null 2>&1 & ;;
    deno) PORT=$PORT taskset -c $SERVER_CPU "$DENO" run -A bench/peers/deno-serve.js bench/workers/crypto-bench.js >/dev/null 2>&1 & ;;
  esac
  echo $!
}

tag() { python3 -c "import json,sys; d=json.load(sys.stdin); d.update(name='$1', op='$2', n=$3, round=$4); print(json.dumps(d))" >> "$OUT"; }

for round in $(seq "$ROUNDS"); do
  for name in ringworker workerd deno bun; do
    PORT=$((PORT + 1))
    pid=$(start $name)
    wait_port $PORT
    for spec in $OPS; do
      op=${spec%%:*}; n=${spec##*:}
      taskset -c $LOADGEN_CPU $T/ringworker-bench http --url "http://127.0.0.1:$PORT/?op=$op&n=$n" -c 2 \
        -d "$DURATION" --warmup 1s --cpu-pid "$pid" --json | tag $name $op $n $round
    done
    stop "$pid"
    sleep 0.5
  done
  PORT=$((PORT + 1))
  pid=$(start ringworker)
  wait_port $PORT
  for spec in $OFFLOAD; do
    op=${spec%%:*}; n=${spec##*:}
    taskset -c $LOADGEN_CPU $T/ringworker-bench http --url "http://127.0.0.1:$PORT/?op=$op&n=$n" -c 1 \
      -d "$DURATION" --warmup 1s --cpu-pid "$pid" --json | tag offload $op $n $round
  done
  stop "$pid"
done
rm -rf "$DIR"

python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
med = lambda xs: statistics.median(xs) if xs else float("nan")
names = ['ringworker', 'workerd', 'deno', 'bun']
ops = ['hmac', 'sha256', 'es256_sign', 'es256_verify', 'aes_gcm']
label = {'hmac': 'HMAC-SHA-256 sign, 1 KiB', 'sha256': 'SHA-256 digest, 1 MiB', 'es256_sign': 'ES256 sign (P-256), 1 KiB',
         'es256_verify': 'ES256 verify (P-256), 1 KiB', 'aes_gcm': 'AES-128-GCM encrypt, 64 KiB'}
# Only runs where every request answered 200 count.
ok = lambda r: r['errors']['total'] == 0 and r['status'].get('200', 0) == r['requests'] > 0
def ops_per_s(n, op):
    return med([r['rps'] * r['n'] for r in rows if r['name'] == n and r['op'] == op and ok(r)])
def cpu_us(n, op):
    return med([r['server_cpu_us_per_req'] / r['n'] for r in rows if r['name'] == n and r['op'] == op and ok(r) and r.get('server_cpu_us_per_req') is not None])
print('| operation | ' + ' | '.join(f'{n} ops/s (CPU µs/op)' for n in names) + ' | fastest peer CPU / ringworker CPU |')
print('|---|' + '---:|' * (len(names) + 1))
for op in ops:
    v = {n: ops_per_s(n, op) for n in names}
    c = {n: cpu_us(n, op) for n in names}
    best = min(c[n] for n in names[1:])
    print(f"| {label[op]} | " + ' | '.join(f"{v[n]:,.0f} ({c[n]:,.1f})" for n in names) + f" | {best / c['ringworker']:.2f} |")
print()
print('| ringworker, one connection | where | wall µs/op | process CPU µs/op |')
print('|---|---|---:|---:|')
where = {'rs1024_sign': 'inline', 'rs256_sign': 'blocking pool', 'pbkdf2_3999': 'inline', 'pbkdf2_4000': 'blocking pool'}
for op in ['rs1024_sign', 'rs256_sign', 'pbkdf2_3999', 'pbkdf2_4000']:
    w = 1e6 / ops_per_s('offload', op)
    print(f"| {op} | {where[op]} | {w:,.0f} | {cpu_us('offload', op):,.0f} |")
print(f"\n({len({r['round'] for r in rows})} rounds, medians; raw: {sys.argv[1]})")
PY
