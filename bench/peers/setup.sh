#!/usr/bin/env bash
# Installs the peer runtimes for `ringworker-bench compare`, from the npm
# registry only, into a cache folder outside git (default
# ~/.cache/ringworker-peers; or $RINGWORKER_PEERS, or the first argument):
#   workerd  @cloudflare/workerd-linux-64 (Cloudflare's runtime binary)
#   Deno     @deno/linux-x64-glibc
#   Bun      @oven/bun-linux-x64 (its binary is in the package; no
#            postinstall download: scripts are not run)
#   ws       for the Node adapter (Node itself is the system's `node`)
# Versions are pinned here and written to DIR/versions.txt, which the
# report's header prints.
set -euo pipefail
DIR=${1:-${RINGWORKER_PEERS:-$HOME/.cache/ringworker-peers}}
WORKERD=1.20261117.1
DENO=2.9.6
BUN=1.4.5
WS=8.23.0
mkdir -p "$DIR"
cd "$DIR"
cat > package.json <<JSON
{
  "name": "ringworker-peers",
  "private": true,
  "dependencies": {
    "@cloudflare/workerd-linux-64": "$WORKERD",
    "@deno/linux-x64-glibc": "$DENO",
    "@oven/bun-linux-x64": "$BUN",
    "ws": "$WS"
  }
}
JSON
npm install --ignore-scripts --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null
{
  echo "workerd $("$DIR/node_modules/@cloudflare/workerd-linux-64/bin/workerd" --version 2>&1 | head -1)"
  echo "deno $("$DIR/node_modules/@deno/linux-x64-glibc/deno" --version | head -1)"
  echo "bun $("$DIR/node_modules/@oven/bun-linux-x64/bin/bun" --version)"
  echo "node $(node --version) (ws $WS)"
} > versions.txt
cat versions.txt
echo "peers installed in $DIR"
