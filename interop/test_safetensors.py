"""Weights between embedgrad and the Python ecosystem, through safetensors files.

A model shaped as PyTorch's ``nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))``
is written by numpy (and by torch, when it is installed) and run by ``embedgrad-sim predict``,
and the other way round: weights trained by ``embedgrad-sim train digits --save`` are read by
numpy (and torch) and give the outputs embedgrad gives.
"""

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
SIM = os.environ.get("EMBEDGRAD_SIM", str(ROOT / "target" / "release" / "embedgrad-sim"))
PIXELS = np.fromfile(ROOT / "data" / "digits" / "pixels.u8", dtype=np.uint8).reshape(-1, 64)
ROWS = 64

try:
    import torch
    from safetensors.torch import load_file as torch_load, save_file as torch_save
except ImportError:  # torch is optional: the numpy tests always run
    torch = None


def sim(*args):
    out = subprocess.run([SIM, *args], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    return out.stdout


def predict(path, precision="f32"):
    lines = sim("predict", "digits", "--weights", str(path), "--rows", str(ROWS),
                "--precision", precision).splitlines()
    return np.array([json.loads(l)["logits"] for l in lines], dtype=np.float64)


def forward(t, dtype=np.float64):
    """The network in numpy: PyTorch's layout, y = x W^T + b."""
    x = PIXELS[:ROWS].astype(dtype) / 16
    h = np.maximum(x @ t["0.weight"].astype(dtype).T + t["0.bias"].astype(dtype), 0)
    return h @ t["2.weight"].astype(dtype).T + t["2.bias"].astype(dtype)


def relative(a, b):
    """The largest difference in a row over that row's largest magnitude."""
    return float(np.max(np.abs(a - b).max(axis=1) / np.abs(b).max(axis=1)))


def random_state(seed, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return {
        "0.weight": (rng.standard_normal((32, 64)) * 0.2).astype(dtype),
        "0.bias": (rng.standard_normal(32) * 0.1).astype(dtype),
        "2.weight": (rng.standard_normal((10, 32)) * 0.3).astype(dtype),
        "2.bias": (rng.standard_normal(10) * 0.1).astype(dtype),
    }


def test_numpy_weights_run_in_embedgrad(tmp_path):
    state = random_state(1)
    path = tmp_path / "numpy.safetensors"
    save_file(state, str(path))
    want = forward(state)
    assert relative(predict(path, "f32"), want) <= 1e-6
    assert relative(predict(path, "f64"), want) <= 1e-12


@pytest.mark.parametrize("dtype", [np.float16, np.float64])
def test_other_dtypes_are_converted(tmp_path, dtype):
    state = random_state(2, dtype)
    path = tmp_path / "other.safetensors"
    save_file(state, str(path))
    assert relative(predict(path, "f64"), forward(state)) <= 1e-12


def test_embedgrad_weights_run_in_numpy(tmp_path):
    path = tmp_path / "trained.safetensors"
    sim("train", "digits", "--save", str(path))
    state = load_file(str(path))
    assert {k: v.shape for k, v in state.items()} == {
        "0.weight": (32, 64), "0.bias": (32,), "2.weight": (10, 32), "2.bias": (10,)}
    assert all(v.dtype == np.float32 for v in state.values())
    got = predict(path, "f32")
    assert relative(got, forward(state)) <= 1e-6
    labels = np.fromfile(ROOT / "data" / "digits" / "labels.u8", dtype=np.uint8)[:ROWS]
    assert (forward(state).argmax(axis=1) == labels).mean() > 0.9


def test_a_damaged_file_is_refused_with_the_tensor_named(tmp_path):
    path = tmp_path / "bad.safetensors"
    state = random_state(3)
    state["2.bias"] = np.zeros(11, dtype=np.float32)
    save_file(state, str(path))
    out = subprocess.run([SIM, "eval", "digits", "--weights", str(path)],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 1
    assert '"2.bias"' in out.stderr and "[11]" in out.stderr


@pytest.mark.skipif(torch is None, reason="torch is not installed")
def test_torch_round_trip(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    path = tmp_path / "torch.safetensors"
    torch_save(model.state_dict(), str(path))
    x = torch.tensor(PIXELS[:ROWS], dtype=torch.float32) / 16
    with torch.no_grad():
        want = model(x).double().numpy()
    assert relative(predict(path, "f32"), want) <= 1e-6

    trained = tmp_path / "trained.safetensors"
    sim("train", "digits", "--save", str(trained))
    model.load_state_dict(torch_load(str(trained)), strict=True)
    with torch.no_grad():
        got = model(x).double().numpy()
    assert relative(predict(trained, "f32"), got) <= 1e-6
