#!/usr/bin/env bash
# Runs each fuzz target briefly from its committed seed corpus (debug assertions and overflow
# checks on, AddressSanitizer on). Fails on the first crash, and prints executions per target.
#
#   bash fuzz/ci.sh            # 20 s per target
#   FUZZ_SECONDS=600 bash fuzz/ci.sh
#
# Installs what is missing: the nightly toolchain and cargo-fuzz. Skips (exit 0, with a
# "SKIPPED:" line) only when the nightly toolchain cannot be installed.
set -euo pipefail
cd "$(dirname "$0")"
SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
TARGETS=${FUZZ_TARGETS:-"graph checkpoint c_api safetensors job_line"}

if ! cargo +nightly --version >/dev/null 2>&1; then
  if ! rustup toolchain install nightly --profile minimal; then
    echo "SKIPPED: fuzzing: the nightly toolchain cannot be installed"
    exit 0
  fi
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi

total_runs=0
for t in $TARGETS; do
  work=$(mktemp -d)
  log=$(mktemp)
  echo "== fuzz $t (${SECONDS_PER_TARGET}s, seeds: corpus/$t)"
  status=0
  # The first corpus directory collects new inputs: a scratch one, so corpus/ stays as committed.
  cargo +nightly fuzz run --debug-assertions "$t" "$work" "corpus/$t" -- \
    -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$log"
    echo "FAILED: fuzz target $t crashed (the input is in fuzz/artifacts/$t/)"
    exit 1
  fi
  echo "fuzz $t: ${runs:-?} executions, 0 crashes"
  total_runs=$((total_runs + ${runs:-0}))
  rm -rf "$work" "$log"
done
echo "fuzz: ${total_runs} executions over [${TARGETS}], 0 crashes"
