"""A baseline on the files make.py wrote: nearest centroid and logistic regression on simple
per-channel statistics of each window (mean, standard deviation, minimum, maximum, mean
absolute difference of successive steps), on the crate's fixed split and leaving each subject
out in turn.

    python3 baseline.py [DIR]

Needs numpy. The split is `exercises::split`'s: the row numbers 0..980 shuffled by
Fisher-Yates with SplitMix64(SPLIT_SEED) (as `embedgrad_train::data::shuffle`), the last 196
held out.
"""

import sys

import numpy as np

SAMPLES, TIMESTEPS, CHANNELS, CLASSES = 980, 64, 6, 7
TEST = 196
SPLIT_SEED = 0x5170_0980
RAW_PER_UNIT = np.array([16, 16, 16, 4, 4, 4], dtype=np.float64)
M64 = (1 << 64) - 1


class SplitMix64:
    def __init__(self, seed: int) -> None:
        self.state = seed & M64

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & M64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        zone = M64 - (M64 % n)
        while True:
            v = self.next_u64()
            if v < zone:
                return v % n


def split() -> tuple[np.ndarray, np.ndarray]:
    rng, idx = SplitMix64(SPLIT_SEED), list(range(SAMPLES))
    for i in range(SAMPLES - 1, 0, -1):
        j = rng.below(i + 1)
        idx[i], idx[j] = idx[j], idx[i]
    return np.array(idx[: SAMPLES - TEST]), np.array(idx[SAMPLES - TEST :])


def features(w: np.ndarray) -> np.ndarray:
    d = np.abs(np.diff(w, axis=1)).mean(1)
    return np.concatenate([w.mean(1), w.std(1), w.min(1), w.max(1), d], axis=1)


def standardise(f: np.ndarray, ft: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mu, sd = f.mean(0), f.std(0) + 1e-9
    return (f - mu) / sd, (ft - mu) / sd


def centroid(f, y, ft):
    f, ft = standardise(f, ft)
    c = np.stack([f[y == k].mean(0) for k in range(CLASSES)])
    return ((ft[:, None, :] - c[None]) ** 2).sum(2).argmin(1)


def logistic(f, y, ft, steps=3000, lr=0.1, l2=1e-3):
    f, ft = standardise(f, ft)
    w, b, onehot = np.zeros((f.shape[1], CLASSES)), np.zeros(CLASSES), np.eye(CLASSES)[y]
    for _ in range(steps):
        z = f @ w + b
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(f)
        w -= lr * (f.T @ g + l2 * w)
        b -= lr * g.sum(0)
    return (ft @ w + b).argmax(1)


def main() -> None:
    at = sys.argv[1] if len(sys.argv) > 1 else "."
    raw = np.fromfile(f"{at}/windows.i8", dtype=np.int8).reshape(SAMPLES, TIMESTEPS, CHANNELS)
    y = np.fromfile(f"{at}/labels.u8", dtype=np.uint8).astype(np.int64)
    subject = np.fromfile(f"{at}/subjects.u8", dtype=np.uint8)
    f = features(raw / RAW_PER_UNIT)
    train, test = split()
    print("held-out class counts", np.bincount(y[test], minlength=CLASSES).tolist())
    print("first held-out rows", test[:8].tolist())
    for name, fit in (("nearest centroid", centroid), ("logistic regression", logistic)):
        acc = (fit(f[train], y[train], f[test]) == y[test]).mean()
        loso = [
            (fit(f[subject != s], y[subject != s], f[subject == s]) == y[subject == s]).mean()
            for s in range(1, 11)
        ]
        print(f"{name}: fixed split {acc:.4f}; leave one subject out: mean {np.mean(loso):.4f}, "
              f"per subject {np.round(loso, 3).tolist()}")


if __name__ == "__main__":
    main()
