"""Makes windows.i8, labels.u8 and subjects.u8 from seglearn's watch data set.

    python3 make.py seglearn-1.2.5-py3-none-any.whl [OUT_DIR]

Needs numpy. Reads `seglearn/data/watch_dataset.npy` straight from the wheel (a pickled dict:
np.load with allow_pickle, so run it on the wheel from PyPI only), cuts every recording into
the same number of fixed windows, quantises them to int8, writes the files and prints what the
Rust tests check (sizes, FNV-1a 64 checksums, sums, class counts, the first window).
"""

import hashlib
import io
import sys
import zipfile

import numpy as np

MEMBER = "seglearn/data/watch_dataset.npy"
TIMESTEPS = 64  # 2.56 s at 25 Hz
WINDOWS = 7  # windows per recording, evenly spaced from its start to its end
CHANNELS = 6  # ax, ay, az, wx, wy, wz
RAW_PER_UNIT = [16, 16, 16, 4, 4, 4]  # accelerometer 1/16 per step, gyroscope 1/4


def fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main() -> None:
    wheel = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else "."
    raw = zipfile.ZipFile(wheel).read(MEMBER)
    print(f"sha256  {hashlib.sha256(raw).hexdigest()}  watch_dataset.npy")
    d = np.load(io.BytesIO(raw), allow_pickle=True).item()
    assert d["X_labels"] == ["ax", "ay", "az", "wx", "wy", "wz"], d["X_labels"]
    assert d["y_labels"] == ["PEN", "ABD", "FEL", "IR", "ER", "TRAP", "ROW"], d["y_labels"]
    series, y, subject = d["X"], d["y"], d["subject"]
    assert len(series) == len(y) == len(subject) == 140

    per_unit = np.array(RAW_PER_UNIT, dtype=np.float64)
    windows, labels, subjects = [], [], []
    worst = np.zeros(CHANNELS)
    for x, label, s in zip(series, y, subject):
        assert x.ndim == 2 and x.shape[1] == CHANNELS and x.dtype == np.float64
        # 50 Hz to 25 Hz: the mean of each pair of samples (an odd last sample is dropped).
        n = len(x) // 2
        x25 = (x[0 : 2 * n : 2] + x[1 : 2 * n : 2]) / 2
        length = len(x25)
        assert length >= WINDOWS * TIMESTEPS  # so the windows do not overlap
        for k in range(WINDOWS):
            start = k * (length - TIMESTEPS) // (WINDOWS - 1)
            w = x25[start : start + TIMESTEPS]
            q = np.rint(w * per_unit)  # round half to even
            assert np.abs(q).max() <= 127  # no value is clipped
            worst = np.maximum(worst, np.abs(q / per_unit - w).max(axis=0))
            windows.append(q.astype(np.int8))
            labels.append(int(label))
            subjects.append(int(s))
    windows = np.stack(windows)  # samples × time × channel: row r holds x[t][c] at t*6 + c
    labels = np.array(labels, dtype=np.uint8)
    subjects = np.array(subjects, dtype=np.uint8)

    files = {
        "windows.i8": windows.tobytes(),
        "labels.u8": labels.tobytes(),
        "subjects.u8": subjects.tobytes(),
    }
    for name, data in files.items():
        with open(f"{out}/{name}", "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes, fnv1a64 0x{fnv1a(data):016x}, "
              f"sha256 {hashlib.sha256(data).hexdigest()}")
    print("shape", windows.shape)
    print("sum of windows", int(windows.astype(np.int64).sum()),
          "sum of |windows|", int(np.abs(windows.astype(np.int64)).sum()))
    print("min per channel", windows.min(axis=(0, 1)).tolist())
    print("max per channel", windows.max(axis=(0, 1)).tolist())
    print("largest |raw/per_unit - source| per channel", worst.tolist())
    print("class counts", np.bincount(labels, minlength=7).tolist())
    print("subject counts", np.bincount(subjects, minlength=11).tolist())
    print("first window (label", labels[0], "subject", subjects[0], "):")
    print(windows[0].reshape(-1).tolist())
    print("first 16 source samples at 50 Hz (recording 0):")
    for row in series[0][:16]:
        print("    [" + ", ".join(f"{v:.6f}" for v in row) + "],")


if __name__ == "__main__":
    main()
