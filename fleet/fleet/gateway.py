"""The gateway: hands a round to the Cortex-M4F firmware in QEMU and takes its weights back.

The device is the ``fleet_client`` firmware (``firmware/boards/src/bin/fleet_client.rs``),
run in QEMU's mps2-an386 board with semihosting, in a directory of its own that stands for
the device's storage and survives from round to round:

- ``job.txt``: ``client clients round [cut_after_epoch]``, one line;
- ``global.safetensors``: the global model (f32, PyTorch's layout) the round starts from;
- ``local.safetensors``, ``summary.txt``: what the device writes back (``rows=… steps=…
  loss=… epochs=a..b``);
- ``flash.bin``: the device's flash, where it checkpoints after every local epoch.

A power cut (``cut_after_epoch``) stops the device right after a checkpoint (exit status 3).
The gateway then either powers it up again, and the firmware resumes from the checkpoint and
finishes the round — giving, bit for bit, the weights of an uninterrupted round — or, for a
device that stays off, reports the round as failed; in the next round the device starts from
the new global model (a checkpoint of an earlier round is stale, and the firmware ignores it).

Safetensors is the wire format both ways; the few lines that write and read it are here so that
the gateway checks what the device sends before anything else sees it.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from fleet import task

#: Exit status of the firmware after an injected power cut.
POWER_CUT = 3
#: Seconds one QEMU run of a round may take.
QEMU_TIMEOUT = 600


@dataclass
class DeviceResult:
    """What the device returned for a round."""

    weights: dict[str, np.ndarray]
    rows: int
    steps: int
    loss: float
    epochs: str
    power_cuts: int


def write_safetensors(tensors: Mapping[str, np.ndarray]) -> bytes:
    """The tensors as a safetensors file (f32, little-endian, in the given order)."""
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        data = np.ascontiguousarray(a, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def read_safetensors(data: bytes) -> dict[str, np.ndarray]:
    """The f32 tensors of a safetensors file; ``ValueError`` naming what is wrong."""
    if len(data) < 8:
        raise ValueError(f"safetensors: {len(data)} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"safetensors: header of {n} bytes in a file of {len(data)}")
    header = json.loads(data[8 : 8 + n])
    body = data[8 + n :]
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info.get("dtype") != "F32":
            raise ValueError(f"tensor {name!r}: dtype {info.get('dtype')!r}, expected 'F32'")
        start, end = info["data_offsets"]
        shape = tuple(int(s) for s in info["shape"])
        if not 0 <= start <= end <= len(body) or end - start != 4 * int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"tensor {name!r}: data_offsets {[start, end]} do not fit shape {list(shape)}")
        out[name] = np.frombuffer(body[start:end], dtype="<f4").reshape(shape).astype(np.float32)
    return out


def qemu_command(elf: str) -> list[str]:
    """The QEMU command that runs the firmware (the board firmware/ci.sh runs it on)."""
    return [
        "qemu-system-arm",
        "-machine",
        "mps2-an386",
        "-nographic",
        "-semihosting-config",
        "enable=on,target=native",
        "-kernel",
        elf,
    ]


def _run(elf: str, device_dir: Path, job: str, tag: str) -> int:
    (device_dir / "job.txt").write_text(job + "\n", encoding="ascii")
    for name in ("local.safetensors", "summary.txt"):
        (device_dir / name).unlink(missing_ok=True)
    with open(device_dir / "uart.raw", "wb") as raw, open(device_dir / "qemu.err", "wb") as err:
        proc = subprocess.run(
            qemu_command(str(Path(elf).resolve())),
            cwd=device_dir,
            stdin=subprocess.DEVNULL,
            stdout=raw,
            stderr=err,
            timeout=QEMU_TIMEOUT,
            check=False,
        )
    log = device_dir / "device.log"
    if shutil.which("defmt-print"):
        with open(device_dir / "uart.raw", "rb") as raw, open(log, "wb") as out:
            subprocess.run(["defmt-print", "-e", str(elf)], stdin=raw, stdout=out, stderr=subprocess.STDOUT, check=False)
        shutil.copyfile(log, device_dir / f"{tag}.log")  # every power-up's log is kept
    return proc.returncode


def _tail(device_dir: Path) -> str:
    for name in ("device.log", "qemu.err"):
        p = device_dir / name
        if p.exists() and p.stat().st_size:
            return " | ".join(p.read_text(errors="replace").strip().splitlines()[-3:])
    return "no output"


def train_on_device(
    elf: str,
    device_dir: Path,
    client: int,
    clients: int,
    rnd: int,
    weights: Mapping[str, np.ndarray],
    cut: bool = False,
    stay_off: bool = False,
) -> DeviceResult:
    """Runs round ``rnd`` (0-based) of client ``client`` on the firmware; raises
    ``RuntimeError`` with the device's last log lines when the device fails or stays off."""
    if not elf or not Path(elf).is_file():
        raise RuntimeError(f"firmware-elf {elf!r}: no such file (build fleet_client first)")
    problem = task.check_arrays(dict(weights))
    if problem:
        raise RuntimeError(f"global model refused before it reached the device: {problem}")
    device_dir.mkdir(parents=True, exist_ok=True)
    (device_dir / "global.safetensors").write_bytes(write_safetensors({n: weights[n] for n in task.TENSORS}))
    job = f"{client} {clients} {rnd}"
    cuts = 0
    if cut or stay_off:
        rc = _run(elf, device_dir, job + " 2", f"round-{rnd + 1}-cut")
        log = device_dir / "device.log"
        said = log.read_text(errors="replace") if log.exists() else ""
        # Exit status 3 is also a fault's: only the log line tells a power cut from a crash.
        if rc != POWER_CUT or (shutil.which("defmt-print") and "POWER CUT" not in said):
            raise RuntimeError(f"device {client}: expected a power cut (exit {POWER_CUT}), got exit {rc}: {_tail(device_dir)}")
        cuts = 1
        if stay_off:
            raise RuntimeError(f"device {client} lost power after local epoch 2 of round {rnd + 1} and stayed off")
    rc = _run(elf, device_dir, job, f"round-{rnd + 1}")
    if rc != 0:
        raise RuntimeError(f"device {client}: exit status {rc}: {_tail(device_dir)}")
    summary = dict(
        kv.split("=", 1) for kv in (device_dir / "summary.txt").read_text().split() if "=" in kv
    )
    trained = read_safetensors((device_dir / "local.safetensors").read_bytes())
    problem = task.check_arrays(trained)
    if problem:
        raise RuntimeError(f"device {client} sent weights that cannot be averaged: {problem}")
    return DeviceResult(
        weights=trained,
        rows=int(summary.get("rows", 0)),
        steps=int(summary.get("steps", 0)),
        loss=float(summary.get("loss", "nan")),
        epochs=summary.get("epochs", "?"),
        power_cuts=cuts,
    )
