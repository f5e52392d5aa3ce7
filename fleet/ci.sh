#!/usr/bin/env bash
# The fleet's checks: the app's unit tests, an end-to-end run on Flower's simulation engine
# with every fault injected, one on its deployment engine (a SuperLink and SuperNodes as
# separate processes on 127.0.0.1), and, when QEMU is installed, a fleet with the Cortex-M4F
# firmware as one of its clients, power cuts included, checked against a host client.
#
# Expects embedgrad's Python package in $EMBEDGRAD_VENV (fleet/run.sh installs it otherwise).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV="${EMBEDGRAD_VENV:-$ROOT/.venv}"
export EMBEDGRAD_VENV="$VENV"
OUT="${FLEET_CI_OUT:-$ROOT/target/fleet-ci}"
rm -rf "$OUT"
mkdir -p "$OUT"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
PY="$VENV/bin/python"
"$PY" -c 'import flwr, numpy, pytest' 2>/dev/null || "$PY" -m pip install -q "flwr[simulation]==1.42.0" numpy pytest

echo "fleet: unit tests"
(cd fleet && PYTHONPATH="$ROOT/fleet" "$PY" -m pytest -q tests)

# `check <results.json> <python expression over r (the rounds' table) and s (the summary)>`
check() {
    local file=$1 expr=$2
    "$PY" - "$file" "$expr" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
r = {row["round"]: row for row in s["rounds_table"]}
ok = eval(sys.argv[2], {"r": r, "s": s, "len": len, "all": all, "any": any})
print(("ok:   " if ok else "FAIL: ") + sys.argv[2])
sys.exit(0 if ok else 1)
EOF
}

echo "fleet: simulation engine, 4 clients, 3 rounds, a dropout and two malformed replies"
fleet/run.sh --clients 4 --rounds 3 --faults "drop:1@2,nan:2@2,shape:3@3" --out "$OUT/sim" --timeout 900 \
    >"$OUT/sim.log" 2>&1 || { tail -n 40 "$OUT/sim.log"; exit 1; }
R="$OUT/sim/results.json"
check "$R" 'r[1]["ok"] == 4 and r[1]["rejected"] == [] and r[1]["failed"] == []'
check "$R" 'r[2]["ok"] == 2 and len(r[2]["failed"]) == 1 and "dropped out" in r[2]["failed"][0]["reason"]'
check "$R" 'len(r[2]["rejected"]) == 1 and "non-finite" in r[2]["rejected"][0]["reason"]'
check "$R" 'r[3]["ok"] == 3 and "expected shape [10], found [9]" in r[3]["rejected"][0]["reason"]'
check "$R" 'r[3]["accuracy"] > r[0]["accuracy"] + 0.4'
check "$R" 'all(r[k]["sent_bytes"] > 4 * 9640 for k in (1, 2, 3))'
test -s "$OUT/sim/accuracy.svg"

echo "fleet: deployment engine, a SuperLink and 3 SuperNodes on 127.0.0.1, 2 rounds"
fleet/run.sh deployment --clients 3 --rounds 2 --out "$OUT/deploy" --timeout 600 \
    >"$OUT/deploy.log" 2>&1 || { tail -n 40 "$OUT/deploy.log"; exit 1; }
R="$OUT/deploy/results.json"
check "$R" 'all(r[k]["ok"] == 3 for k in (1, 2)) and r[2]["accuracy"] > r[0]["accuracy"] + 0.3'

if command -v qemu-system-arm >/dev/null && rustup target list --installed | grep -qx thumbv7em-none-eabihf; then
    echo "fleet: the Cortex-M4F firmware as client 1 of 3: a power cut it resumes from, one it stays off for"
    fleet/run.sh --clients 3 --rounds 3 --firmware 1 --faults "cut:1@1,cut-off:1@2" --out "$OUT/firmware" \
        --timeout 1500 >"$OUT/firmware.log" 2>&1 || { tail -n 40 "$OUT/firmware.log"; exit 1; }
    R="$OUT/firmware/results.json"
    check "$R" 'r[1]["ok"] == 3 and r[3]["ok"] == 3'
    check "$R" 'r[1]["devices"] == [{"client": 1, "rows": r[1]["devices"][0]["rows"], "power_cuts": 1}]'
    check "$R" 'r[2]["ok"] == 2 and "stayed off" in r[2]["failed"][0]["reason"] and "devices" not in r[2]'
    check "$R" 'r[3]["devices"][0]["power_cuts"] == 0'
    D="$OUT/firmware/devices/device-1"
    grep -q "POWER CUT after epoch 2" "$D/round-1-cut.log"
    grep -q "RESUME round 0 of client 1 after epoch 2" "$D/round-1.log"
    grep -q "POWER CUT after epoch 2" "$D/round-2-cut.log"
    grep -q "of another job: ignored, fresh start" "$D/round-3.log"
    echo "ok:   the device resumed round 1 after its power cut, and started round 3 afresh"
    # The device's last round against a host client given the same global model and shard.
    "$PY" - "$OUT/firmware/devices/device-1" <<'EOF'
import sys
from pathlib import Path
import numpy as np
import embedgrad
sys.path.insert(0, "fleet")
from fleet import gateway, task
d = Path(sys.argv[1])
job = (d / "job.txt").read_text().split()
client, clients, rnd = int(job[0]), int(job[1]), int(job[2])
glob = gateway.read_safetensors((d / "global.safetensors").read_bytes())
dev = gateway.read_safetensors((d / "local.safetensors").read_bytes())
host = embedgrad.digits.FleetClient(client, clients)
host.set_weights([glob[n] for n in task.TENSORS])
host.fit(rnd)
diff = max(float(np.max(np.abs(h - dev[n]))) for n, h in zip(task.TENSORS, host.get_weights()))
moved = max(float(np.max(np.abs(dev[n] - glob[n]))) for n in task.TENSORS)
print(f"firmware vs host, client {client} round {rnd + 1}: max |dw| = {diff:.3g} (the round moved weights by up to {moved:.3g})")
sys.exit(0 if diff <= 1e-4 and moved > 1e-3 else 1)
EOF
else
    echo "fleet: SKIP the firmware client (needs qemu-system-arm and the thumbv7em-none-eabihf target)"
fi
echo "fleet: all checks passed"
