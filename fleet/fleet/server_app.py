"""The fleet's ServerApp: Flower's FedAvg over the clients' replies, the global model measured on
the held-out rows after every round, and the run written down (results.json, accuracy.svg).

Before FedAvg averages a round, every reply is checked (``task.check_arrays`` and
``task.check_metrics``): a client that returns a NaN, an infinity, a tensor of the wrong shape
or dtype, a missing tensor or no row count is left out of the average and logged, and the round
goes on with the rest. A client whose reply is an error (it dropped out, lost power) is counted
and logged by FedAvg itself.
"""

from __future__ import annotations

import json
import time
from logging import INFO, WARNING
from pathlib import Path
from typing import Iterable

from flwr.app import Array, ArrayRecord, ConfigRecord, Context, Message, MetricRecord
from flwr.common.logger import log
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg

from fleet import task

app = ServerApp()


class CheckedFedAvg(FedAvg):
    """Flower's FedAvg, given only the replies that can be averaged.

    Also counts, per round, the bytes of the model sent to the clients and received from them
    (the ArrayRecords' serialised size), and which replies were rejected and why.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.rounds: dict[int, dict] = {}

    def _round(self, server_round: int) -> dict:
        return self.rounds.setdefault(
            server_round,
            {"sent_bytes": 0, "received_bytes": 0, "clients": 0, "ok": 0, "failed": [], "rejected": []},
        )

    def configure_train(self, server_round: int, arrays: ArrayRecord, config: ConfigRecord, grid: Grid):
        messages = list(super().configure_train(server_round, arrays, config, grid))
        r = self._round(server_round)
        r["clients"] = len(messages)
        r["sent_bytes"] = len(messages) * arrays.count_bytes()
        r["started"] = time.perf_counter()
        return messages

    def aggregate_train(self, server_round: int, replies: Iterable[Message]):
        r = self._round(server_round)
        kept = []
        for msg in replies:
            node = msg.metadata.src_node_id
            if msg.has_error():
                r["failed"].append({"node": node, "reason": _reason(msg.error.reason)})
                kept.append(msg)  # FedAvg logs it and leaves it out
                continue
            content = msg.content
            problem = None
            received = 0
            arrays = {}
            for rec in content.array_records.values():
                received += rec.count_bytes()
                for name in rec.keys():
                    arrays[name] = rec[name].numpy()
            r["received_bytes"] += received
            metrics = next(iter(content.metric_records.values()), {})
            problem = task.check_arrays(arrays) or task.check_metrics(metrics)
            client = metrics.get("client", "?")
            if problem:
                log(WARNING, "round %s: rejected the reply of client %s (node %s): %s", server_round, client, node, problem)
                r["rejected"].append({"client": client, "node": node, "reason": problem})
                continue
            r["ok"] += 1
            if metrics.get("firmware"):
                r.setdefault("devices", []).append(
                    {"client": client, "rows": metrics.get(task.WEIGHT_KEY), "power_cuts": metrics.get("power-cuts", 0)}
                )
            kept.append(msg)
        arrays, metrics = super().aggregate_train(server_round, kept)
        r["train_seconds"] = time.perf_counter() - r.pop("started", time.perf_counter())
        return arrays, metrics


def _reason(text: str) -> str:
    """The client's own message out of an error reply (the simulation engine wraps it in the
    traceback of its actor)."""
    if "Message: " in text:
        text = text.rsplit("Message: ", 1)[1]
    return text.strip().rstrip("'>").strip()


def _centralised_reference() -> list[tuple[int, float]]:
    """Held-out accuracy per epoch of the same model trained centrally on the union of the
    shards (embedgrad's digits recipe)."""
    import embedgrad

    model = embedgrad.digits.Model(seed=42)
    history = model.train()
    out = []
    for i, h in enumerate(history, start=1):
        acc = h.get("test_accuracy", h.get("accuracy"))
        if acc is not None:
            out.append((int(h.get("epoch", i)), float(acc)))
    return out


@app.main()
def main(grid: Grid, context: Context) -> None:
    import embedgrad

    cfg = context.run_config
    rounds = int(cfg["num-server-rounds"])
    out_dir = Path(str(cfg.get("out-dir", "")) or "fleet-out").expanduser().resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    task.parse_faults(str(cfg.get("faults", "")))  # a bad spec fails here, before any round

    # Every round trains on the whole fleet: with `num-clients` set, the first round waits until
    # that many SuperNodes have connected (they start one by one on the deployment engine).
    nodes = int(cfg.get("num-clients", 0)) or len(list(grid.get_node_ids()))
    strategy = CheckedFedAvg(
        fraction_train=1.0,
        fraction_evaluate=0.0,  # the server measures the global model itself, below
        min_train_nodes=max(1, nodes),
        min_available_nodes=max(1, nodes),
    )
    model = embedgrad.digits.Model(seed=42)  # the fleet's initial weights (fleet::INITIAL_SEED)
    names = list(task.TENSORS)
    initial = ArrayRecord({n: Array(a) for n, a in zip(names, model.get_weights())})

    accuracy: dict[int, dict] = {}

    def evaluate(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        model.set_weights([arrays[n].numpy() for n in names])
        ev = model.evaluate()
        accuracy[server_round] = {"accuracy": float(ev["accuracy"]), "loss": float(ev["loss"])}
        return MetricRecord({"accuracy": float(ev["accuracy"]), "loss": float(ev["loss"])})

    started = time.perf_counter()
    result = strategy.start(
        grid=grid,
        initial_arrays=initial,
        num_rounds=rounds,
        timeout=float(cfg.get("round-timeout", 600.0)),
        evaluate_fn=evaluate,
    )
    wall = time.perf_counter() - started
    reference = _centralised_reference()

    table = []
    for rnd in range(0, rounds + 1):
        row = {"round": rnd, **accuracy.get(rnd, {})}
        row.update({k: v for k, v in strategy.rounds.get(rnd, {}).items()})
        table.append(row)
    summary = {
        "clients": nodes,
        "rounds": rounds,
        "wall_seconds": wall,
        "final_accuracy": accuracy.get(rounds, {}).get("accuracy"),
        "first_round_at_95": next((r["round"] for r in table if r.get("accuracy", 0) >= 0.95), None),
        "centralised": [{"epoch": e, "accuracy": a} for e, a in reference],
        "rounds_table": table,
    }
    (out_dir / "results.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    fed = [(r["round"], r["accuracy"]) for r in table if "accuracy" in r]
    (out_dir / "accuracy.svg").write_text(task.accuracy_svg(fed, reference), encoding="utf-8")
    log(INFO, "")
    log(INFO, "round  accuracy  sent B  received B  ok  failed  rejected")
    for r in table:
        log(
            INFO,
            "%5d  %8.4f  %6d  %10d  %2d  %6d  %8d",
            r["round"],
            r.get("accuracy", float("nan")),
            r.get("sent_bytes", 0),
            r.get("received_bytes", 0),
            r.get("ok", 0),
            len(r.get("failed", [])),
            len(r.get("rejected", [])),
        )
    log(INFO, "wall time %.1f s; results in %s", wall, out_dir)
    del result
