"""What the server and the clients share: the model's tensors, the checks of a reply, faults,
and the picture of a run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import numpy as np

#: The digits model's tensors, named and laid out as the state dict of PyTorch's
#: ``nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))`` — the names and layout of
#: embedgrad's safetensors files, so that a global model is a file PyTorch loads as it is.
TENSORS: dict[str, tuple[int, ...]] = {
    "0.weight": (32, 64),
    "0.bias": (32,),
    "2.weight": (10, 32),
    "2.bias": (10,),
}

#: The key under which a reply carries the number of rows it trained on (FedAvg's weight).
WEIGHT_KEY = "num-examples"


def check_arrays(arrays: Mapping[str, np.ndarray]) -> str | None:
    """Why a client's weights cannot be averaged, or ``None`` when they can.

    Refused: a missing or unexpected tensor, a wrong shape or dtype, any NaN or infinity.
    The message names the tensor and what was expected and found.
    """
    names = list(arrays.keys())
    if sorted(names) != sorted(TENSORS):
        missing = sorted(set(TENSORS) - set(names))
        extra = sorted(set(names) - set(TENSORS))
        return f"tensors: expected {sorted(TENSORS)}, missing {missing}, unexpected {extra}"
    for name, shape in TENSORS.items():
        a = arrays[name]
        if tuple(a.shape) != shape:
            return f"tensor {name!r}: expected shape {list(shape)}, found {list(a.shape)}"
        if a.dtype != np.float32:
            return f"tensor {name!r}: expected dtype float32, found {a.dtype}"
        bad = int(np.size(a) - np.count_nonzero(np.isfinite(a)))
        if bad:
            first = np.argwhere(~np.isfinite(a))[0].tolist()
            return f"tensor {name!r}: {bad} non-finite values (the first at {first})"
    return None


def check_metrics(metrics: Mapping[str, object]) -> str | None:
    """Why a client's metrics cannot weight its update, or ``None`` when they can."""
    n = metrics.get(WEIGHT_KEY)
    if not isinstance(n, (int, float)) or isinstance(n, bool) or not math.isfinite(n) or n <= 0:
        return f"metric {WEIGHT_KEY!r}: expected a positive number, found {n!r}"
    return None


@dataclass(frozen=True)
class Fault:
    """One injected fault: ``kind`` happens to client ``client`` in round ``round``."""

    kind: str
    client: int
    round: int


FAULT_KINDS = ("drop", "nan", "shape", "cut", "cut-off")


def parse_faults(spec: str) -> list[Fault]:
    """Parses ``kind:client@round,…`` (see pyproject.toml); raises ``ValueError`` naming the
    entry that is wrong."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        try:
            kind, rest = item.split(":", 1)
            client, rnd = rest.split("@", 1)
            fault = Fault(kind.strip(), int(client), int(rnd))
        except ValueError:
            raise ValueError(f"fault {item!r}: expected kind:client@round") from None
        if fault.kind not in FAULT_KINDS:
            raise ValueError(f"fault {item!r}: kind must be one of {', '.join(FAULT_KINDS)}")
        if fault.client < 0 or fault.round < 1:
            raise ValueError(f"fault {item!r}: client must be >= 0 and round >= 1")
        out.append(fault)
    return out


def faults_for(faults: Iterable[Fault], client: int, rnd: int) -> set[str]:
    """The kinds of fault that hit ``client`` in round ``rnd``."""
    return {f.kind for f in faults if f.client == client and f.round == rnd}


def parse_ids(spec: str) -> set[int]:
    """``"3, 5"`` → ``{3, 5}``; raises ``ValueError`` naming a bad entry."""
    ids = set()
    for item in filter(None, (s.strip() for s in spec.split(","))):
        try:
            ids.add(int(item))
        except ValueError:
            raise ValueError(f"client id {item!r}: expected an integer") from None
    return ids


def accuracy_svg(
    federated: Sequence[tuple[int, float]],
    centralised: Sequence[tuple[int, float]],
    goal: float = 0.95,
    title: str = "digits: held-out accuracy",
) -> str:
    """A line chart of held-out accuracy: the global model after each round of federated
    averaging, and centralised training on the union of the shards after each epoch."""
    w, h, left, right, top, bottom = 640, 400, 60, 20, 40, 50
    xs = [x for x, _ in federated] + [x for x, _ in centralised] + [1]
    x_max = max(xs)
    y_min = 0.0

    def px(x: float) -> float:
        return left + (w - left - right) * x / max(x_max, 1)

    def py(y: float) -> float:
        return top + (h - top - bottom) * (1.0 - (y - y_min) / (1.0 - y_min))

    def path(points: Sequence[tuple[int, float]]) -> str:
        return " ".join(f"{'M' if i == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for i, (x, y) in enumerate(points))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{w / 2}" y="22" text-anchor="middle" font-size="15">{title}</text>',
    ]
    for i in range(11):
        y = i / 10
        parts.append(
            f'<line x1="{left}" x2="{w - right}" y1="{py(y):.1f}" y2="{py(y):.1f}" '
            f'stroke="#e5e5e5"/><text x="{left - 6}" y="{py(y) + 4:.1f}" text-anchor="end">{y:.1f}</text>'
        )
    step = max(1, round(x_max / 10))
    for x in range(0, x_max + 1, step):
        parts.append(f'<text x="{px(x):.1f}" y="{h - bottom + 16}" text-anchor="middle">{x}</text>')
    parts.append(
        f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">'
        "round (federated) / epoch (centralised)</text>"
    )
    parts.append(
        f'<line x1="{left}" x2="{w - right}" y1="{py(goal):.1f}" y2="{py(goal):.1f}" '
        f'stroke="#999" stroke-dasharray="5,4"/><text x="{w - right - 4}" y="{py(goal) + 14:.1f}" '
        f'text-anchor="end" fill="#666">goal {goal:.0%}</text>'
    )
    lx = left + (w - left - right) * 0.4
    for points, colour, label, dy in (
        (centralised, "#888888", "centralised (union of the shards)", 0),
        (federated, "#d9480f", "federated: global model (FedAvg)", 16),
    ):
        if points:
            parts.append(f'<path d="{path(points)}" fill="none" stroke="{colour}" stroke-width="2"/>')
            for x, y in points:
                parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{colour}"/>')
            parts.append(
                f'<line x1="{lx}" x2="{lx + 24}" y1="{py(0.3) + dy - 4:.1f}" y2="{py(0.3) + dy - 4:.1f}" '
                f'stroke="{colour}" stroke-width="2"/>'
                f'<text x="{lx + 30}" y="{py(0.3) + dy:.1f}" fill="{colour}">{label}</text>'
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
