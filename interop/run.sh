#!/usr/bin/env bash
# Weights between embedgrad and Python (numpy, safetensors; torch when it is installed):
# builds embedgrad-sim, makes a virtual environment with what the tests need, runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p embedgrad-host-sim
venv="${EMBEDGRAD_VENV:-target/interop-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install -q --disable-pip-version-check numpy safetensors pytest
EMBEDGRAD_SIM="$PWD/target/release/embedgrad-sim" "$venv/bin/python" -m pytest -q interop
