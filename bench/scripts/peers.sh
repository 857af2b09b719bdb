# Sourced by the side-by-side scripts (disconnect.sh, ws.sh): Bun and Deno
# from npm (@oven/bun-linux-x64, @deno/linux-x64-glibc), installed into
# $PEERS_DIR/node_modules on first use; the cores for server and load
# generator; and helpers to wait for and stop a server.
#
# SERVER_CPU (default 0) runs the server, all its threads; LOADGEN_CPU
# (default 1) the load generator. On the project's VMs CPU 1 takes every
# block-device interrupt (/proc/interrupts: virtio1-req), which puts spikes
# into whatever runs there, so by default the server gets the quiet core.
PEERS_DIR=${PEERS_DIR:-bench/peers}
SERVER_CPU=${SERVER_CPU:-0}
LOADGEN_CPU=${LOADGEN_CPU:-1}
if [ ! -x "$PEERS_DIR/node_modules/@oven/bun-linux-x64/bin/bun" ] ||
   [ ! -x "$PEERS_DIR/node_modules/@deno/linux-x64-glibc/deno" ]; then
  (cd "$PEERS_DIR" && npm install --no-save --no-audit --no-fund --no-package-lock \
     @oven/bun-linux-x64 @deno/linux-x64-glibc >/dev/null)
fi
BUN=$PEERS_DIR/node_modules/@oven/bun-linux-x64/bin/bun
DENO=$PEERS_DIR/node_modules/@deno/linux-x64-glibc/deno
T=target/release

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s at most).
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# stop PID: stops a server and reaps it.
stop() {
  kill "$1"
  wait "$1" 2>/dev/null || true
}
