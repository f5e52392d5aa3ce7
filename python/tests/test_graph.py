"""Generic graphs: forward values against numpy, gradients against finite differences, and
optimizer steps."""

import numpy as np
import pytest

import embedgrad


def finite_difference_check(g, loss, variables, h=1e-5, rtol=1e-7, atol=1e-9):
    """Compares backward's gradient of every variable entry with a central difference."""
    g.backward(loss)
    analytic = [g.grad(v) for v in variables]
    for v, grad in zip(variables, analytic):
        w = g.value(v)
        numeric = np.zeros_like(w)
        for i in np.ndindex(w.shape):
            p = w.copy()
            p[i] += h
            g.assign(v, p)
            up = g.forward(loss)[0, 0]
            p[i] -= 2 * h
            g.assign(v, p)
            down = g.forward(loss)[0, 0]
            numeric[i] = (up - down) / (2 * h)
        g.assign(v, w)
        assert np.abs(grad).max() > 1e-3  # a real gradient, not two zeros agreeing
        np.testing.assert_allclose(grad, numeric, rtol=rtol, atol=atol)
    return analytic


def test_forward_matches_numpy():
    rng = np.random.default_rng(1)
    xv, wv, bv = rng.standard_normal((4, 3)), rng.standard_normal((3, 5)), rng.standard_normal((1, 5))
    g = embedgrad.Graph()
    x = g.placeholder(4, 3)
    w = g.variable(wv)
    b = g.variable(bv)
    assert x.shape == (4, 3) and w.shape == (3, 5)
    z = g.add(g.matmul(x, w), b)
    g.feed(x, xv)
    ref = g.forward(z)
    np.testing.assert_allclose(ref, xv @ wv + bv, rtol=1e-13, atol=1e-15)
    # Element-wise ops of the graph's own z: exact up to the math library's rounding.
    np.testing.assert_allclose(g.forward(g.sigmoid(z)), 1 / (1 + np.exp(-ref)), rtol=1e-14)
    np.testing.assert_allclose(g.forward(g.tanh(z)), np.tanh(ref), rtol=1e-14)
    np.testing.assert_allclose(g.forward(g.relu(z)), np.maximum(ref, 0), rtol=0)
    e = np.exp(ref - ref.max(axis=1, keepdims=True))
    np.testing.assert_allclose(g.forward(g.softmax(z)), e / e.sum(axis=1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(g.forward(g.reduce_sum(z)), [[ref.sum()]], rtol=1e-14)
    np.testing.assert_allclose(g.forward(g.reduce_sum(z, axis=0)), ref.sum(axis=0, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(g.forward(g.reduce_sum(z, axis=1)), ref.sum(axis=1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(g.forward(g.mean(z, axis=0)), ref.mean(axis=0, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(g.forward(g.square(z)), ref**2, rtol=1e-14)
    np.testing.assert_allclose(g.forward(g.negative(z)), -ref, rtol=0)
    np.testing.assert_allclose(g.forward(g.scale(z, 2.5)), 2.5 * ref, rtol=1e-15)
    np.testing.assert_allclose(g.forward(g.exp(z)), np.exp(ref), rtol=1e-14)
    np.testing.assert_allclose(g.forward(g.log(g.exp(z))), ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g.forward(g.subtract(z, b)), xv @ wv, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g.forward(g.multiply(z, z)), ref * ref, rtol=1e-14)
    np.testing.assert_allclose(g.forward(g.leaky_relu(z, 0.1)), np.where(ref > 0, ref, 0.1 * ref), rtol=1e-15)
    np.testing.assert_allclose(g.forward(g.reshape(z, 5, 4)), ref.reshape(5, 4), rtol=0)
    np.testing.assert_allclose(g.forward(g.slice_cols(z, 1, 2)), ref[:, 1:3], rtol=0)
    t = g.constant(np.ones((4, 5)))
    np.testing.assert_allclose(g.forward(g.mse(z, t)), [[((ref - 1) ** 2).mean()]], rtol=1e-14)


def test_gradients_equal_finite_differences_softmax_classifier():
    rng = np.random.default_rng(2)
    g = embedgrad.Graph()
    x = g.placeholder(6, 3)
    labels = g.placeholder(6, 1)
    w = g.variable(rng.standard_normal((3, 4)))
    b = g.variable(rng.standard_normal((1, 4)))
    h = g.tanh(g.add(g.matmul(x, w), b))
    loss = g.sparse_softmax_cross_entropy(h, labels)
    g.feed(x, rng.standard_normal((6, 3)))
    g.feed(labels, np.array([[0], [1], [2], [3], [1], [0]]))
    finite_difference_check(g, loss, [w, b])


def test_gradients_equal_finite_differences_tutorial_loss():
    # The tutorial's five-op cross-entropy: -sum(sum(c * log(softmax(xW + b)), axis=1)).
    rng = np.random.default_rng(3)
    g = embedgrad.Graph()
    x = g.constant(rng.standard_normal((5, 2)))
    c = g.constant(np.eye(3)[[0, 1, 2, 1, 0]])
    w = g.variable(rng.standard_normal((2, 3)))
    b = g.variable(rng.standard_normal((1, 3)))
    p = g.softmax(g.add(g.matmul(x, w), b))
    loss = g.negative(g.reduce_sum(g.reduce_sum(g.multiply(c, g.log(p)), axis=1)))
    grads = finite_difference_check(g, loss, [w, b])
    # The same loss fused.
    fused = g.softmax_cross_entropy(g.add(g.matmul(x, w), b), c)
    np.testing.assert_allclose(g.forward(fused), g.forward(loss), rtol=1e-13)
    g.backward(fused)
    np.testing.assert_allclose(g.grad(w), grads[0], rtol=1e-12, atol=1e-14)


def test_gradients_equal_finite_differences_more_ops():
    rng = np.random.default_rng(4)
    g = embedgrad.Graph()
    a = g.variable(rng.uniform(0.5, 1.5, (3, 4)))
    col = g.variable(rng.standard_normal((3, 1)))
    s = g.variable(np.array([[0.7]]))
    t = g.constant(rng.standard_normal((3, 4)))
    z = g.subtract(g.multiply(g.sigmoid(a), g.exp(g.scale(a, 0.3))), col)
    z = g.add(g.square(g.log(a)), g.multiply(z, g.add(t, s)))
    loss = g.add(g.mse(z, t), g.mean(g.relu(g.leaky_relu(z, 0.2)), axis=None))
    loss = g.add(loss, g.sigmoid_binary_cross_entropy(z, g.constant(np.full((3, 4), 0.25))))
    finite_difference_check(g, loss, [a, col, s])


def test_gradient_of_a_node_used_twice_adds_both():
    g = embedgrad.Graph()
    w = g.variable(np.array([[3.0]]))
    loss = g.multiply(w, w)
    g.backward(loss)
    assert g.grad(w)[0, 0] == 6.0


def test_gradient_descent_step_is_exact_and_lowers_the_loss():
    g = embedgrad.Graph()
    w = g.variable(np.array([[1.0, -2.0]]))
    loss = g.reduce_sum(g.square(w))
    opt = embedgrad.GradientDescent(0.1)
    assert opt.minimize(g, loss) == 5.0  # the loss before the update
    np.testing.assert_allclose(g.value(w), [[0.8, -1.6]], rtol=1e-15)
    assert g.forward(loss)[0, 0] < 5.0


def test_momentum_and_adam_match_the_rust_examples():
    g = embedgrad.Graph()
    w = g.variable(np.array([[1.0]]))
    loss = g.reduce_sum(g.square(w))
    m = embedgrad.Momentum(0.1, 0.9)
    m.minimize(g, loss)
    assert abs(g.value(w)[0, 0] - 0.8) < 1e-15
    m.minimize(g, loss)
    assert abs(g.value(w)[0, 0] - 0.46) < 1e-15

    g = embedgrad.Graph()
    w = g.variable(np.array([[1.0, -2.0]]))
    loss = g.reduce_sum(g.square(w))
    adam = embedgrad.Adam(0.1)
    adam.minimize(g, loss)
    np.testing.assert_allclose(g.value(w), [[0.9, -1.9]], atol=1e-8)
    assert adam.steps == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda: embedgrad.GradientDescent(0.05),
        lambda: embedgrad.Momentum(0.02, momentum=0.9),
        lambda: embedgrad.Momentum(0.02, momentum=0.9, nesterov=True),
        lambda: embedgrad.Adam(0.05, beta1=0.9, beta2=0.99, eps=1e-8),
    ],
)
def test_optimizers_fit_a_linear_regression(make):
    rng = np.random.default_rng(5)
    xv = rng.standard_normal((32, 3))
    true_w = np.array([[1.0], [-2.0], [0.5]])
    yv = xv @ true_w + 0.3
    g = embedgrad.Graph()
    x, y = g.placeholder(32, 3), g.placeholder(32, 1)
    w, b = g.variable(np.zeros((3, 1))), g.variable(np.zeros((1, 1)))
    loss = g.mse(g.add(g.matmul(x, w), b), y)
    g.feed(x, xv)
    g.feed(y, yv)
    opt = make()
    losses = [opt.minimize(g, loss) for _ in range(300)]
    assert losses[1] < losses[0]
    assert losses[-1] < 1e-3 * losses[0]
    np.testing.assert_allclose(g.value(w), true_w, atol=0.05)
    np.testing.assert_allclose(g.value(b), [[0.3]], atol=0.05)


def test_frozen_variables_do_not_move():
    g = embedgrad.Graph()
    w = g.variable(np.array([[1.0]]))
    f = g.variable(np.array([[2.0]]))
    g.set_trainable(f, False)
    loss = g.reduce_sum(g.square(g.multiply(w, f)))
    embedgrad.GradientDescent(0.01).minimize(g, loss)
    assert g.value(f)[0, 0] == 2.0
    assert g.value(w)[0, 0] < 1.0
