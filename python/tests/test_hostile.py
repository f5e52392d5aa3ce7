"""Odd inputs raise ordinary exceptions (EmbedgradError, or TypeError/OverflowError from the
argument conversion), never a Rust panic (pyo3's PanicException, a BaseException)."""

import numpy as np
import pytest

import embedgrad
from embedgrad import digits

EmbedgradError = embedgrad.EmbedgradError


def raises_cleanly(f, *exc):
    exc = exc or (EmbedgradError,)
    try:
        f()
    except exc:
        return
    except BaseException as e:  # a panic would land here
        pytest.fail(f"{type(e).__name__}: {e}")
    pytest.fail("no exception")


def test_graph_hostile_inputs():
    g = embedgrad.Graph()
    x = g.placeholder(2, 3)
    raises_cleanly(lambda: g.placeholder(0, 3))
    raises_cleanly(lambda: g.placeholder(70000, 1))
    raises_cleanly(lambda: g.placeholder(-1, 3), OverflowError, TypeError)
    raises_cleanly(lambda: g.variable(np.zeros((0, 3))))
    raises_cleanly(lambda: g.variable(np.zeros((2, 2, 2))))
    raises_cleanly(lambda: g.variable(np.array([1.0, np.nan])))
    raises_cleanly(lambda: g.constant(np.array(["x"])))
    raises_cleanly(lambda: g.constant(object()))
    raises_cleanly(lambda: g.feed(x, []))
    raises_cleanly(lambda: g.feed(x, np.zeros((3, 2))))
    raises_cleanly(lambda: g.reshape(x, 0, 0))
    raises_cleanly(lambda: g.reshape(x, 4, 4))
    raises_cleanly(lambda: g.slice_cols(x, 2, 5))
    raises_cleanly(lambda: g.slice_cols(x, 70000, 1))
    raises_cleanly(lambda: g.assign(x, np.zeros((2, 3))))  # not a variable
    raises_cleanly(lambda: g.softmax_cross_entropy(x, g.placeholder(3, 2)))
    raises_cleanly(lambda: g.sparse_softmax_cross_entropy(x, g.placeholder(2, 2)))
    raises_cleanly(lambda: g.dense(x, 0))
    raises_cleanly(lambda: embedgrad.Momentum(float("nan")))
    raises_cleanly(lambda: embedgrad.Adam(0.1, eps=float("inf")))


def test_digits_hostile_inputs():
    m = digits.Model()
    raises_cleanly(lambda: m.predict(np.zeros((5, 64, 1))))
    raises_cleanly(lambda: m.predict(np.zeros(64)))
    raises_cleanly(lambda: m.set_weights(None), TypeError)
    raises_cleanly(lambda: m.set_weights("abcd"))
    raises_cleanly(lambda: m.set_weights([None] * 4))
    raises_cleanly(lambda: m.load_safetensors(b""))
    raises_cleanly(lambda: m.load_safetensors(b"\xff" * 64))
    raises_cleanly(lambda: m.load_safetensors((8).to_bytes(8, "little") + b"{}      "))
    raises_cleanly(lambda: m.load("/nonexistent/w.safetensors"), OSError)
    raises_cleanly(lambda: digits.Model(seed=-1), OverflowError)
    c = digits.FleetClient(0)
    raises_cleanly(lambda: c.fit(-1), OverflowError)
    raises_cleanly(lambda: c.fit(0, learning_rate=-1.0))
    raises_cleanly(lambda: c.fit(0, learning_rate=1e30))  # the weights overflow
    raises_cleanly(lambda: digits.FleetClient(3, clients=2))


def test_huge_learning_rate_is_refused_and_changes_nothing():
    c = digits.FleetClient(0)
    before = c.to_safetensors()
    with pytest.raises(EmbedgradError):
        c.fit(0, epochs=1, learning_rate=1e30)
    # The step that overflows is refused; the steps before it stand (a round is not atomic).
    # What is left must still be finite.
    assert all(np.isfinite(w).all() for w in c.get_weights())
    c.load_safetensors(before)
    assert c.to_safetensors() == before
