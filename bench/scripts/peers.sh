# Sourced by the side-by-side scripts (disconnect.sh, ws.sh): Bun and Deno
# as bench/peers/setup.sh installs them (pinned versions, from npm) into
# $PEERS_DIR (default: setup.sh's ~/.cache/ringworker-peers), on first use;
# and lib.sh (cores, wait_port, stop).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PEERS_DIR=${PEERS_DIR:-${RINGWORKER_PEERS:-$HOME/.cache/ringworker-peers}}
if [ ! -x "$PEERS_DIR/node_modules/@oven/bun-linux-x64/bin/bun" ] ||
   [ ! -x "$PEERS_DIR/node_modules/@deno/linux-x64-glibc/deno" ]; then
  "$(dirname "${BASH_SOURCE[0]}")/../peers/setup.sh" "$PEERS_DIR" >/dev/null
fi
BUN=$PEERS_DIR/node_modules/@oven/bun-linux-x64/bin/bun
DENO=$PEERS_DIR/node_modules/@deno/linux-x64-glibc/deno
