"""The fleet's ClientApp: one device of the fleet.

Each SuperNode is one client (``partition-id`` of ``num-partitions``). A host client trains its
shard with embedgrad's ``digits.FleetClient`` — the Rust ``embedgrad_data::digits::fleet``
client, the code the firmware runs; a client listed in ``firmware-clients`` is the Cortex-M4F
firmware in QEMU, reached through its gateway (``fleet.gateway``). Either way the reply is the
trained weights, named as PyTorch's state dict, and the rows trained on (FedAvg's weight).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from flwr.app import Array, ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from fleet import task

app = ClientApp()

# One embedgrad client per (partition, fleet size) and process: building its graph and shard
# costs a few milliseconds, and keeping it lets a long-lived SuperNode skip that each round.
_CLIENTS: dict[tuple[int, int], object] = {}


def _client(pid: int, n: int):
    import embedgrad

    key = (pid, n)
    if key not in _CLIENTS:
        _CLIENTS[key] = embedgrad.digits.FleetClient(pid, n)
    return _CLIENTS[key]


def _out_dir(context: Context) -> Path:
    out = str(context.run_config.get("out-dir", "")) or "fleet-out"
    return Path(out).expanduser().resolve()


@app.train()
def train(msg: Message, context: Context) -> Message:
    pid = int(context.node_config["partition-id"])
    n = int(context.node_config["num-partitions"])
    cfg = context.run_config
    rnd = int(msg.content["config"]["server-round"])
    faults = task.faults_for(task.parse_faults(str(cfg.get("faults", ""))), pid, rnd)
    if "drop" in faults:
        # A device that vanishes mid-round: the server gets an error reply for it, and FedAvg
        # completes the round with the others.
        raise RuntimeError(f"client {pid} dropped out in round {rnd} (injected fault)")

    record = msg.content["arrays"]
    names = list(task.TENSORS)
    weights = [record[name].numpy() for name in names]
    epochs = int(cfg.get("local-epochs", 0)) or None
    lr = float(cfg.get("learning-rate", 0.0)) or None
    started = time.perf_counter()
    if pid in task.parse_ids(str(cfg.get("firmware-clients", ""))):
        from fleet import gateway

        device_root = str(cfg.get("device-dir", "")) or str(_out_dir(context) / "devices")
        result = gateway.train_on_device(
            elf=str(cfg.get("firmware-elf", "")),
            device_dir=Path(device_root) / f"device-{pid}",
            client=pid,
            clients=n,
            rnd=rnd - 1,
            weights=dict(zip(names, weights)),
            cut="cut" in faults,
            stay_off="cut-off" in faults,
        )
        trained, rows, steps, loss = result.weights, result.rows, result.steps, result.loss
        extra = {"power-cuts": result.power_cuts}
        where = "firmware"
    else:
        if epochs is not None or lr is not None:
            kwargs = {k: v for k, v in (("epochs", epochs), ("learning_rate", lr)) if v is not None}
        else:
            kwargs = {}
        c = _client(pid, n)
        c.set_weights(weights)
        summary = c.fit(rnd - 1, **kwargs)
        trained = dict(zip(names, c.get_weights()))
        rows, steps, loss = int(summary["rows"]), int(summary["steps"]), float(summary["loss"])
        extra = {"power-cuts": 0}  # every reply carries the same metrics (FedAvg averages them)
        where = "host"
    seconds = time.perf_counter() - started

    if "nan" in faults:
        trained["0.weight"] = trained["0.weight"].copy()
        trained["0.weight"][0, 0] = np.nan
    if "shape" in faults:
        trained["2.bias"] = trained["2.bias"][:-1].copy()

    arrays = ArrayRecord({name: Array(np.ascontiguousarray(a)) for name, a in trained.items()})
    metrics = MetricRecord(
        {
            task.WEIGHT_KEY: rows,
            "train-loss": loss,
            "steps": steps,
            "client": pid,
            "firmware": int(where == "firmware"),
            "train-seconds": seconds,
            **extra,
        }
    )
    return Message(content=RecordDict({"arrays": arrays, "metrics": metrics}), reply_to=msg)


@app.evaluate()
def evaluate(msg: Message, context: Context) -> Message:
    """The global model on the held-out rows, as this client computes it (the server also
    evaluates centrally; the two agree)."""
    pid = int(context.node_config["partition-id"])
    n = int(context.node_config["num-partitions"])
    record = msg.content["arrays"]
    c = _client(pid, n)
    c.set_weights([record[name].numpy() for name in task.TENSORS])
    ev = c.evaluate()
    metrics = MetricRecord(
        {task.WEIGHT_KEY: int(ev["rows"]), "accuracy": float(ev["accuracy"]), "loss": float(ev["loss"])}
    )
    return Message(content=RecordDict({"metrics": metrics}), reply_to=msg)
