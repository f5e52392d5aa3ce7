#!/usr/bin/env bash
# Runs the unit tests of embedgrad-core, -ops, -train and -ffi under Miri, which reports
# undefined behaviour (out-of-bounds access, use of uninitialised memory, invalid references,
# aliasing violations of the Stacked Borrows model, leaks, data races).
#
#   bash fuzz/miri.sh
#
# Installs what is missing: the nightly toolchain and its miri and rust-src components. Skips
# (exit 0, with a "SKIPPED:" line) only when the nightly toolchain cannot be installed.
#
# Two targets:
# - the host (x86_64) for core, ops and ffi: the C API's pointer checks and layout as built;
# - s390x-unknown-linux-gnu for train (and core and ops again): a big-endian 64-bit target, so
#   the little-endian checkpoint format is checked on the other byte order too. train runs only
#   there because on x86_64 libm computes square roots (Adam) with inline assembly, which Miri
#   cannot interpret; on s390x libm uses its portable code.
#
# -Zmiri-deterministic-floats: Miri otherwise adds random error to operations whose precision
# Rust leaves unspecified (powi, exp, ln, …); a few tests compare such results exactly.
#
# Tests skipped under Miri (they pass natively; here they would take far too long):
# - the --skip filters below: whole training runs (hundreds of steps each), one of which also
#   needs Adam's square root on x86_64;
# - tests marked #[cfg_attr(miri, ignore)] (the power-cut sweep, the property tests), which are
#   integration tests this script does not run anyway. A few unit tests do fewer iterations
#   under Miri (cfg!(miri)): the CRC reference and bit-flip tests of the checkpoints.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly --version >/dev/null 2>&1; then
  if ! rustup toolchain install nightly --profile minimal; then
    echo "SKIPPED: miri: the nightly toolchain cannot be installed"
    exit 0
  fi
fi
installed=$(rustup +nightly component list --installed 2>/dev/null || true)
if ! grep -q '^miri' <<<"$installed" || ! grep -q '^rust-src' <<<"$installed"; then
  rustup +nightly component add miri rust-src
fi

export MIRIFLAGS="${MIRIFLAGS:--Zmiri-deterministic-floats}"
BE=s390x-unknown-linux-gnu
SKIP_TRAIN=(--skip optimizers::tests::every_optimizer_separates_the_perceptron_blobs)
SKIP_FFI=(--skip tests::mlp_xor_through_the_c_api_matches_the_rust_trainer
  --skip tests::momentum_nesterov_and_adam_match_embedgrad_train)

started=$SECONDS
run() {
  echo "== cargo +nightly miri test $*"
  cargo +nightly miri test "$@"
}
run -p embedgrad-core --lib
run -p embedgrad-ops --lib
if [ -d ffi ]; then
  run -p embedgrad-ffi --lib -- "${SKIP_FFI[@]}"
fi
run --target "$BE" -p embedgrad-train --lib -- "${SKIP_TRAIN[@]}"
echo "miri: no undefined behaviour found ($((SECONDS - started)) s)"
