"""Every Rust error reaches Python as an EmbedgradError (a ValueError) with the Rust message,
and a failed call changes nothing."""

import numpy as np
import pytest

import embedgrad
from embedgrad import EmbedgradError


def test_embedgrad_error_is_a_value_error():
    assert issubclass(EmbedgradError, ValueError)


def test_graph_errors_carry_the_rust_message():
    g = embedgrad.Graph()
    x = g.placeholder(2, 3)
    w = g.variable(np.ones((3, 2)))
    with pytest.raises(EmbedgradError, match=r"^placeholder #\d+:0 was not fed$"):
        g.forward(g.matmul(x, w))
    with pytest.raises(EmbedgradError, match=r"^shape mismatch: expected 2x2, found 3x2$"):
        g.matmul(w, w)
    h = g.matmul(x, w)
    with pytest.raises(EmbedgradError, match=r"^gradient of a non-scalar \(2x2\) requested$"):
        g.backward(h)
    with pytest.raises(EmbedgradError, match=r"has no gradient \(depends on no variable\)"):
        g.grad(x)
    with pytest.raises(EmbedgradError, match=r"^non-finite value \(NaN or infinity\) in fed data for node #\d+:0$"):
        g.feed(x, np.full((2, 3), np.inf))
    with pytest.raises(EmbedgradError, match=r"^feed: shape \(3, 3\), the node is \(2, 3\)$"):
        g.feed(x, np.ones((3, 3)))
    with pytest.raises(EmbedgradError, match="needs a numeric dtype"):
        g.feed(x, np.array([["a", "b", "c"]] * 2))
    with pytest.raises(EmbedgradError, match=r"axis 2: must be None, 0 or 1"):
        g.reduce_sum(h, axis=2)


def test_foreign_nodes_are_refused():
    g1, g2 = embedgrad.Graph(), embedgrad.Graph()
    x = g1.placeholder(1, 1)
    with pytest.raises(EmbedgradError, match="belongs to another graph"):
        g2.relu(x)


def test_capacity_errors():
    assert embedgrad.Graph.capacity() == (256, 1 << 18)
    g = embedgrad.Graph()
    with pytest.raises(EmbedgradError, match="scalar"):
        g.placeholder(1024, 1024)
    assert len(g) == 0  # the graph is as it was
    for _ in range(256):
        g.placeholder(1, 1)
    with pytest.raises(EmbedgradError, match="node"):
        g.placeholder(1, 1)


def test_optimizer_settings_are_checked():
    with pytest.raises(EmbedgradError, match=r"^invalid learning_rate -1: must be finite and >= 0$"):
        embedgrad.GradientDescent(-1.0)
    with pytest.raises(EmbedgradError, match=r"^invalid beta1 1.5: must be in \[0, 1\)$"):
        embedgrad.Adam(0.1, beta1=1.5)
    with pytest.raises(EmbedgradError, match="momentum"):
        embedgrad.Momentum(0.1, momentum=1.0)


def test_a_non_finite_loss_changes_no_weight():
    g = embedgrad.Graph()
    w = g.variable(np.array([[-1.0]]))
    loss = g.reduce_sum(g.log(w))  # log of a negative number: NaN
    opt = embedgrad.Adam(0.1)
    with pytest.raises(EmbedgradError, match="non-finite"):
        opt.minimize(g, loss)
    assert g.value(w)[0, 0] == -1.0
    assert opt.steps == 0


def test_minimize_needs_a_scalar_loss():
    g = embedgrad.Graph()
    w = g.variable(np.ones((2, 2)))
    with pytest.raises(EmbedgradError, match=r"non-scalar \(2x2\)"):
        embedgrad.GradientDescent(0.1).minimize(g, g.square(w))
