# Sourced by the side-by-side scripts (disconnect.sh, ws.sh): Bun and Deno
# from npm (@oven/bun-linux-x64, @deno/linux-x64-glibc), installed into
# $PEERS_DIR/node_modules on first use; and lib.sh (cores, wait_port, stop).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PEERS_DIR=${PEERS_DIR:-bench/peers}
if [ ! -x "$PEERS_DIR/node_modules/@oven/bun-linux-x64/bin/bun" ] ||
   [ ! -x "$PEERS_DIR/node_modules/@deno/linux-x64-glibc/deno" ]; then
  (cd "$PEERS_DIR" && npm install --no-save --no-audit --no-fund --no-package-lock \
     @oven/bun-linux-x64 @deno/linux-x64-glibc >/dev/null)
fi
BUN=$PEERS_DIR/node_modules/@oven/bun-linux-x64/bin/bun
DENO=$PEERS_DIR/node_modules/@deno/linux-x64-glibc/deno
