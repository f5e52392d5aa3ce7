"""Graph.dense: the Rust initialisers, and a small network trained with it."""

import numpy as np
import pytest

import embedgrad
from embedgrad import digits


def test_dense_draws_the_weights_the_digits_model_draws():
    # digits::build draws its first layer He-uniform from SplitMix64(seed), before a relu.
    g = embedgrad.Graph()
    x = g.placeholder(4, 64)
    y, w, b = g.dense(x, 32, "relu", seed=42)
    assert w.shape == (64, 32) and b.shape == (1, 32) and y.shape == (4, 32)
    first = digits.Model(seed=42).get_weights()[0]  # PyTorch layout, [32, 64]
    np.testing.assert_allclose(g.value(w), first.T.astype(np.float64), rtol=1e-6)
    assert not g.value(b).any()
    bound = np.sqrt(6 / 64)
    assert np.abs(g.value(w)).max() <= bound


def test_dense_forward_is_activation_of_affine():
    rng = np.random.default_rng(0)
    g = embedgrad.Graph()
    x = g.placeholder(5, 3)
    xv = rng.standard_normal((5, 3))
    g.feed(x, xv)
    for act, f in [
        ("identity", lambda z: z),
        ("sigmoid", lambda z: 1 / (1 + np.exp(-z))),
        ("tanh", np.tanh),
        ("relu", lambda z: np.maximum(z, 0)),
    ]:
        y, w, b = g.dense(x, 4, act, init="xavier_normal", seed=3)
        g.assign(b, rng.standard_normal((1, 4)))
        ref = f(xv @ g.value(w) + g.value(b))
        np.testing.assert_allclose(g.forward(y), ref, rtol=1e-12, atol=1e-14)
    with pytest.raises(embedgrad.EmbedgradError, match='activation "softplus"'):
        g.dense(x, 4, "softplus")
    with pytest.raises(embedgrad.EmbedgradError, match='init "zeros"'):
        g.dense(x, 4, init="zeros")


def test_a_two_layer_network_learns_xor():
    g = embedgrad.Graph()
    x = g.placeholder(4, 2)
    labels = g.placeholder(4, 1)
    h, _, _ = g.dense(x, 8, "tanh", seed=1)
    logits, _, _ = g.dense(h, 2, seed=2)
    loss = g.sparse_softmax_cross_entropy(logits, labels)
    g.feed(x, [[0, 0], [0, 1], [1, 0], [1, 1]])
    g.feed(labels, [[0], [1], [1], [0]])
    opt = embedgrad.Adam(0.05)
    losses = [opt.minimize(g, loss) for _ in range(500)]
    assert losses[-1] < 0.01 * losses[0]
    assert np.array_equal(g.forward(logits).argmax(axis=1), [0, 1, 1, 0])
