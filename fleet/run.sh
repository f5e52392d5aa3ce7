#!/usr/bin/env bash
# The fleet demo: embedgrad's digits model trained by a fleet of clients through Flower.
#
#   fleet/run.sh                       Flower's simulation engine: 10 clients, 20 rounds
#   fleet/run.sh deployment            Flower's deployment engine: a SuperLink and one SuperNode
#                                      per client, as separate processes on 127.0.0.1
#   options (either engine):
#     --clients N --rounds N           fleet size and rounds (10, 20)
#     --faults SPEC                    e.g. "drop:2@3,nan:5@4,shape:6@4" (see pyproject.toml)
#     --firmware IDS                   these clients are the Cortex-M4F firmware in QEMU
#                                      (builds firmware/'s fleet_client; e.g. --firmware 3)
#     --out DIR                        results.json, accuracy.svg, logs (default target/fleet)
#     --timeout S                      stop the run after S seconds (default 1800)
#
# Installs what it needs into a virtual environment ($EMBEDGRAD_VENV, default .venv at the
# repository's root): Flower, numpy, and embedgrad's Python package built from python/.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

engine=simulation
clients=10 rounds=20 faults="" firmware="" out="$ROOT/target/fleet" limit=1800
if [[ $# -gt 0 && $1 != --* ]]; then engine=$1; shift; fi
while [[ $# -gt 0 ]]; do
    case $1 in
        --clients) clients=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --faults) faults=$2; shift 2 ;;
        --firmware) firmware=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --timeout) limit=$2; shift 2 ;;
        *) echo "fleet/run.sh: unknown argument '$1' (see the comment at the top)" >&2; exit 2 ;;
    esac
done
case $engine in simulation | deployment) ;; *)
    echo "fleet/run.sh: engine '$engine': expected 'simulation' or 'deployment'" >&2; exit 2 ;;
esac
[[ $clients =~ ^[1-9][0-9]*$ ]] || { echo "fleet/run.sh: --clients '$clients': expected a positive integer" >&2; exit 2; }
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "fleet/run.sh: --rounds '$rounds': expected a positive integer" >&2; exit 2; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"

# --- the environment -------------------------------------------------------------------------
VENV="${EMBEDGRAD_VENV:-$ROOT/.venv}"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -c 'import flwr, numpy' 2>/dev/null || "$PY" -m pip install -q "flwr[simulation]==1.42.0" numpy
"$PY" -c 'import embedgrad' 2>/dev/null || {
    echo "fleet: building embedgrad's Python package (pip install ./python)"
    "$PY" -m pip install -q ./python
}
export PATH="$VENV/bin:$PATH"
# embedgrad is not on PyPI: the apps run in this environment, not in one Flower would build.
export FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION=1
export FLWR_HOME="$out/flwr-home"
# A run is a new fleet: new devices (their flash included) and a fresh Flower home.
rm -rf "$FLWR_HOME" "$out/devices"
mkdir -p "$FLWR_HOME"

elf=""
if [[ -n $firmware ]]; then
    echo "fleet: building the fleet_client firmware (Cortex-M4F)"
    (cd firmware && cargo build -q --release --bin fleet_client --target thumbv7em-none-eabihf)
    elf="$ROOT/firmware/target/thumbv7em-none-eabihf/release/fleet_client"
    command -v qemu-system-arm >/dev/null || { echo "fleet: qemu-system-arm is needed for --firmware" >&2; exit 1; }
fi

run_config="num-server-rounds=$rounds num-clients=$clients out-dir='$out' faults='$faults' firmware-clients='$firmware' firmware-elf='$elf'"
pids=()
cleanup() {
    # The local SuperLink `flwr run` starts for a simulation keeps running: stop it too, and
    # every SuperExec a SuperLink or SuperNode of this run started.
    local p
    pids+=($(pgrep -f "flower-superlink.*$FLWR_HOME" || true))
    for p in "${pids[@]}"; do
        pkill -f "flower-superexec.*--parent-pid $p\b" 2>/dev/null || true
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap cleanup EXIT
started=$SECONDS

if [[ $engine == simulation ]]; then
    echo "fleet: Flower simulation, $clients clients, $rounds rounds -> $out"
    timeout "$limit" flwr run fleet --stream \
        --federation-config "num-supernodes=$clients" \
        --run-config "$run_config" 2>&1 | tee "$out/flwr.log"
else
    base=${FLEET_PORT_BASE:-19090}
    echo "fleet: Flower deployment engine on 127.0.0.1:$base-$((base + clients)), $clients SuperNodes, $rounds rounds -> $out"
    # One HTTP port serves the SuperLink's Fleet, Control and Runtime APIs.
    flower-superlink --insecure --isolation subprocess --host 127.0.0.1 --port "$base" \
        >"$out/superlink.log" 2>&1 &
    pids+=($!)
    wait_port() {
        local t
        for ((t = 0; t < 120; t++)); do
            (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
            sleep 0.5
        done
        echo "fleet: nothing listens on 127.0.0.1:$1 after 60 s; logs in $out" >&2
        return 1
    }
    wait_port "$base"
    for ((i = 0; i < clients; i++)); do
        flower-supernode --insecure --superlink "127.0.0.1:$base" \
            --node-config "partition-id=$i num-partitions=$clients" --port "$((base + 1 + i))" \
            >"$out/supernode-$i.log" 2>&1 &
        pids+=($!)
    done
    cat >"$FLWR_HOME/config.toml" <<EOF
[superlink]
default = "fleet"

[superlink.fleet]
address = "127.0.0.1:$base"
insecure = true
EOF
    timeout "$limit" flwr run fleet fleet --stream --run-config "$run_config" 2>&1 | tee "$out/flwr.log"
fi
status=${PIPESTATUS[0]}
[[ $status -eq 0 ]] || { echo "fleet: flwr run failed (exit $status); logs in $out" >&2; exit "$status"; }
[[ -s "$out/results.json" ]] || { echo "fleet: the run wrote no results.json; logs in $out" >&2; exit 1; }
echo "fleet: done in $((SECONDS - started)) s: $out/results.json, $out/accuracy.svg"
