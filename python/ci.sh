#!/usr/bin/env bash
# Builds and tests the embedgrad Python package: a virtual environment ($EMBEDGRAD_VENV or
# $VENV, else .venv at the repository's root, which fleet/ shares), the build and test tools,
# `pip install` of the package (maturin builds the Rust extension in release), then pytest. Idempotent (what is installed is kept; the package
# is rebuilt only when cargo sees a change), and runs from any directory.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="${EMBEDGRAD_VENV:-${VENV:-$here/../.venv}}"
python="${PYTHON:-python3}"
# The package's own target directory (the repository's workspace keeps its own).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$here/target}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
py="$venv/bin/python"
# The build backend runs the venv's `maturin` executable by name.
export PATH="$venv/bin:$PATH"

need=()
for pkg in maturin pytest numpy safetensors; do
    "$py" -m pip show -q "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    "$py" -m pip install -q "${need[@]}"
fi

# No build isolation: maturin and numpy come from the venv above, so a second run needs no
# network and reuses cargo's incremental build in $CARGO_TARGET_DIR.
"$py" -m pip install -q --no-build-isolation --force-reinstall --no-deps "$here"

cd "$here"
"$py" -m pytest -q tests "$@"
