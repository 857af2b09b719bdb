#!/usr/bin/env bash
# Builds the fuzz targets with the instrumentation `cargo fuzz build -s none`
# uses (SanitizerCoverage through stable `-C` flags: no nightly, no
# cargo-fuzz needed) and runs each one with libFuzzer.
#
#   fuzz/run.sh [--seconds N | --runs N] [--jobs N] [TARGET ...]
#
# Defaults: every target, 60 seconds each. New inputs go to
# fuzz/target/corpus/TARGET (the committed seeds in fuzz/corpus/TARGET are
# read, not written); a crash is saved in fuzz/artifacts/TARGET/ and makes
# this script fail. The last lines of each run (libFuzzer's stats:
# executions, speed, coverage) are printed.
set -euo pipefail
cd "$(dirname "$0")"

TARGETS=(http_head chunked ws_frame ws_utf8 wrangler_toml stored_value storage_keys)
limit=(-max_total_time=60)
jobs=()
picked=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) limit=(-max_total_time="$2"); shift 2 ;;
    --runs) limit=(-runs="$2"); shift 2 ;;
    --jobs) jobs=(-fork="$2"); shift 2 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) picked+=("$1"); shift ;;
  esac
done
[ ${#picked[@]} -gt 0 ] || picked=("${TARGETS[@]}")

triple=$(rustc -vV | sed -n 's/^host: //p')
# The flags of `cargo fuzz build --sanitizer none` (cargo-fuzz 0.13), which
# are all stable; without a sanitizer, Rust's own checks (bounds, overflow
# with debug assertions) are what finds bugs.
export RUSTFLAGS="-Cpasses=sancov-module \
 -Cllvm-args=-sanitizer-coverage-level=4 \
 -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
 -Cllvm-args=-sanitizer-coverage-pc-table \
 -Cllvm-args=-sanitizer-coverage-trace-compares \
 -Cllvm-args=-sanitizer-coverage-stack-depth \
 -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
 --cfg fuzzing -Cdebug-assertions"
bins=()
for t in "${picked[@]}"; do bins+=(--bin "$t"); done
cargo build --release --target "$triple" "${bins[@]}"

status=0
for t in "${picked[@]}"; do
  mkdir -p "target/corpus/$t" "artifacts/$t"
  echo "== $t: ${limit[*]} ${jobs[*]}"
  if ! "target/$triple/release/$t" "target/corpus/$t" "corpus/$t" \
      "${limit[@]}" "${jobs[@]}" -artifact_prefix="artifacts/$t/" \
      -print_final_stats=1 >"target/$t.log" 2>&1; then
    echo "$t: FAILED (see fuzz/target/$t.log and fuzz/artifacts/$t/)"
    status=1
  fi
  grep -E "^(#[0-9]+|stat::number_of_executed_units|stat::average_exec_per_sec|Done)|ERROR|panicked" "target/$t.log" | tail -4
done
exit $status
