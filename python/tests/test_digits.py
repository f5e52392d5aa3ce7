"""The digits model: data, split, training, prediction and weights in and out."""

import numpy as np
import pytest

import embedgrad
from embedgrad import digits


@pytest.fixture(scope="module")
def trained():
    m = digits.Model(seed=42)
    history = m.train()
    return m, history


def test_load_matches_the_data_set():
    x, y = digits.load()
    assert x.shape == (1797, 64) and x.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert x.min() == 0.0 and x.max() == 1.0
    # Features are grey levels p / 16 with p in 0..=16.
    assert np.array_equal(x * 16, np.round(x * 16))
    assert set(np.unique(y)) == set(range(10))
    # Each digit has about 180 images.
    assert np.bincount(y).min() > 170


def test_split_is_the_crates_fixed_partition():
    train, test = digits.split()
    assert len(train) == digits.TRAIN == 1437
    assert len(test) == digits.TEST == 360
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(1797))
    again = digits.split()
    assert np.array_equal(train, again[0]) and np.array_equal(test, again[1])


def test_weights_have_pytorch_names_and_layout():
    m = digits.Model()
    assert m.names() == ["0.weight", "0.bias", "2.weight", "2.bias"]
    w = m.get_weights()
    assert [a.shape for a in w] == [(32, 64), (32,), (10, 32), (10,)]
    assert all(a.dtype == np.float32 for a in w)
    # Biases start at 0, weights do not.
    assert not w[1].any() and not w[3].any()
    assert w[0].std() > 0.05 and w[2].std() > 0.05


def test_seed_decides_the_initial_weights():
    a, b, c = digits.Model(seed=42), digits.Model(seed=42), digits.Model(seed=7)
    for x, y in zip(a.get_weights(), b.get_weights()):
        assert np.array_equal(x, y)
    assert not np.array_equal(a.get_weights()[0], c.get_weights()[0])


def test_training_reaches_95_percent_held_out(trained):
    m, history = trained
    assert len(history) == digits.EPOCHS == 20
    assert [h["epoch"] for h in history] == list(range(1, 21))
    assert history[-1]["steps"] == 20 * 90
    # The training loss falls.
    assert history[-1]["loss"] < history[0]["loss"] / 4
    ev = m.evaluate()
    assert ev["rows"] == 360
    assert ev["accuracy"] >= 0.95
    assert ev["accuracy"] == pytest.approx(history[-1]["test_accuracy"])
    assert ev["correct"] == round(ev["accuracy"] * 360)


def test_predict_agrees_with_evaluate(trained):
    m, _ = trained
    x, y = digits.load()
    _, test = digits.split()
    p = m.predict(x[test])
    assert p.dtype == np.int64 and p.shape == (360,)
    assert (p == y[test]).sum() == m.evaluate()["correct"]
    # Batching is invisible: one row at a time gives the same predictions.
    one = np.concatenate([m.predict(x[i : i + 1]) for i in test[:40]])
    assert np.array_equal(one, p[:40])
    assert m.predict(np.zeros((0, 64))).shape == (0,)


def test_predict_matches_a_numpy_forward_pass(trained):
    m, _ = trained
    x, _ = digits.load()
    w1, b1, w2, b2 = m.get_weights()
    logits = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    assert np.array_equal(m.predict(x), logits.argmax(axis=1))


def test_set_weights_round_trip(trained):
    m, _ = trained
    fresh = digits.Model(seed=1)
    fresh.set_weights(m.get_weights())
    for a, b in zip(fresh.get_weights(), m.get_weights()):
        assert np.array_equal(a, b)
    assert fresh.evaluate() == m.evaluate()
    # float64 arrays are accepted (rounded to float32).
    fresh.set_weights([a.astype(np.float64) for a in m.get_weights()])
    assert fresh.evaluate() == m.evaluate()


def test_safetensors_round_trip(trained, tmp_path):
    m, _ = trained
    data = m.to_safetensors()
    assert isinstance(data, bytes)
    n = int.from_bytes(data[:8], "little")
    assert n % 8 == 0  # header padded, data 8-byte aligned
    other = digits.Model.from_safetensors(data)
    for a, b in zip(other.get_weights(), m.get_weights()):
        assert np.array_equal(a, b)
    path = tmp_path / "digits.safetensors"
    m.save(str(path))
    assert path.read_bytes() == data
    loaded = digits.Model.load(str(path))
    assert loaded.evaluate() == m.evaluate()
    fresh = digits.Model(seed=3)
    fresh.load_safetensors(data)
    assert fresh.to_safetensors() == data


def test_safetensors_agrees_with_the_safetensors_package(trained):
    st = pytest.importorskip("safetensors.numpy")
    m, _ = trained
    d = st.load(m.to_safetensors())
    assert sorted(d) == sorted(m.names())
    for name, a in zip(m.names(), m.get_weights()):
        assert d[name].dtype == np.float32
        assert np.array_equal(d[name], a)
    # And a file the package writes loads into the model.
    rng = np.random.default_rng(0)
    tensors = {n: rng.standard_normal(a.shape).astype(np.float32) for n, a in d.items()}
    fresh = digits.Model()
    fresh.load_safetensors(st.save(tensors))
    for name, a in zip(fresh.names(), fresh.get_weights()):
        assert np.array_equal(a, tensors[name])


def test_set_weights_rejects_wrong_shape_naming_the_tensor():
    m = digits.Model()
    w = m.get_weights()
    before = m.to_safetensors()
    bad = [w[0].T, w[1], w[2], w[3]]
    with pytest.raises(embedgrad.EmbedgradError, match=r"0\.weight: shape \(64, 32\), the model needs \(32, 64\)"):
        m.set_weights(bad)
    with pytest.raises(embedgrad.EmbedgradError, match=r"2\.bias: shape \(11,\), the model needs \(10,\)"):
        m.set_weights([w[0], w[1], w[2], np.zeros(11, np.float32)])
    with pytest.raises(embedgrad.EmbedgradError, match="expected 4 tensors"):
        m.set_weights(w[:3])
    assert m.to_safetensors() == before  # nothing changed


def test_set_weights_rejects_nan_and_non_float():
    m = digits.Model()
    w = m.get_weights()
    before = m.to_safetensors()
    w2 = w[2].copy()
    w2[3, 4] = np.nan
    with pytest.raises(embedgrad.EmbedgradError, match=r"2\.weight: element 100 is NaN or infinite"):
        m.set_weights([w[0], w[1], w2, w[3]])
    big = w[1].astype(np.float64)
    big[0] = 1e300  # finite in float64, infinite in float32
    with pytest.raises(embedgrad.EmbedgradError, match=r"0\.bias: element 0"):
        m.set_weights([w[0], big, w[2], w[3]])
    with pytest.raises(embedgrad.EmbedgradError, match=r"0\.bias: dtype int64"):
        m.set_weights([w[0], np.zeros(32, np.int64), w[2], w[3]])
    assert m.to_safetensors() == before


def test_bad_safetensors_raise_the_rust_message():
    m = digits.Model()
    before = m.to_safetensors()
    with pytest.raises(embedgrad.EmbedgradError, match="shorter than the 8-byte header length"):
        m.load_safetensors(b"abc")
    with pytest.raises(embedgrad.EmbedgradError, match=r'tensor "2\.bias": data_offsets \[9600, 9640\] outside the 9635 bytes'):
        m.load_safetensors(before[:-5])
    with pytest.raises(embedgrad.EmbedgradError, match="truncated"):
        m.load_safetensors(before[:20])
    st = pytest.importorskip("safetensors.numpy")
    tensors = st.load(before)
    good = dict(tensors)
    tensors["0.weight"] = tensors["0.weight"].T.copy()
    with pytest.raises(embedgrad.EmbedgradError, match=r'tensor "0\.weight": shape'):
        m.load_safetensors(st.save(tensors))
    tensors = good
    del tensors["2.bias"]
    with pytest.raises(embedgrad.EmbedgradError, match=r'tensor "2\.bias": missing from the file'):
        m.load_safetensors(st.save(tensors))
    assert m.to_safetensors() == before


def test_predict_rejects_wrong_width():
    m = digits.Model()
    with pytest.raises(embedgrad.EmbedgradError, match=r"x: shape \(3, 63\), needs \(n, 64\)"):
        m.predict(np.zeros((3, 63)))
    with pytest.raises(embedgrad.EmbedgradError):
        m.predict(np.full((2, 64), np.nan))
