"""The instructor's Chapter 1 functions against independent oracles.

Oracles: TensorFlow autodiff of the same computations written in TensorFlow,
centered-difference numerical gradients, and the published numbers of the
classic seeded example.
"""

import numpy as np
import pytest

from source_lib import feedforward as ff
from source_lib.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array, rel_error

tf = pytest.importorskip("tensorflow")

SEEDS = range(5)


def random_net(rng, single):
    N, D, H = (int(v) for v in rng.integers(2, 9, 3))
    C = None if single else int(rng.integers(2, 6))
    w = {"W1": rng.standard_normal((H, D)), "b1": rng.standard_normal(H)}
    if single:
        w["W2"], w["b2"] = rng.standard_normal(H), float(rng.standard_normal())
        Y_T = rng.random(N)
    else:
        w["W2"], w["b2"] = rng.standard_normal((C, H)), rng.standard_normal(C)
        Y_T = rng.random((N, C))
    return rng.standard_normal((N, D)), Y_T, w


def tf_network(X, Y_T, w):
    """Loss and gradients of the two-layer sigmoid network, by TensorFlow autodiff."""
    tw = {k: tf.Variable(np.asarray(v, dtype=np.float64)) for k, v in w.items()}
    with tf.GradientTape() as tape:
        Z1 = tf.matmul(tf.constant(X), tw["W1"], transpose_b=True) + tw["b1"]
        H = tf.sigmoid(Z1)
        if w["W2"].ndim == 1:
            Z2 = tf.linalg.matvec(H, tw["W2"]) + tw["b2"]
        else:
            Z2 = tf.matmul(H, tw["W2"], transpose_b=True) + tw["b2"]
        Y = tf.sigmoid(Z2)
        loss = tf.reduce_sum((Y - Y_T) ** 2) / (2 * X.shape[0])
    grads = tape.gradient(loss, tw)
    return float(loss), {k: g.numpy() for k, g in grads.items()}, Y.numpy()


def test_classic_seeded_example():
    np.random.seed(0)
    W1 = np.random.randn(3, 2)
    b1 = np.zeros(3)
    W2 = np.random.randn(3)
    b2 = 0
    X = np.random.rand(1000, 2)
    Y = np.random.randint(0, 2, 1000)
    grads, loss = ff.back_propagation(X, Y, {"W1": W1, "b1": b1, "W2": W2, "b2": b2})
    assert loss == pytest.approx(0.133248, abs=5e-7)
    np.testing.assert_allclose(grads["b1"], [0.00492577, -0.00058023, -0.00065977], atol=5e-9)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("single", [True, False])
def test_network_matches_tensorflow(seed, single):
    rng = np.random.default_rng(seed)
    X, Y_T, w = random_net(rng, single)
    loss_tf, grads_tf, Y_tf = tf_network(X, Y_T, w)
    Y, Z2, H, Z1 = ff.forward_propagation(X, w)
    assert rel_error(Y, Y_tf) < 1e-12
    assert ff.mse_loss(Y, Y_T) == pytest.approx(loss_tf, rel=1e-12)
    grads, loss = ff.back_propagation(X, Y_T, w)
    assert loss == pytest.approx(loss_tf, rel=1e-12)
    for k in ("W1", "b1", "W2", "b2"):
        assert np.shape(grads[k]) == np.shape(w[k]), k
        assert rel_error(grads[k], grads_tf[k]) < 1e-9, k


@pytest.mark.parametrize("seed", SEEDS)
def test_network_numerical_gradients(seed):
    rng = np.random.default_rng(100 + seed)
    X, Y_T, w = random_net(rng, single=bool(seed % 2))
    grads, _ = ff.back_propagation(X, Y_T, w)
    for k in ("W1", "b1", "W2"):

        def f(_):
            return ff.mse_loss(ff.forward_propagation(X, w)[0], Y_T)

        assert rel_error(grads[k], eval_numerical_gradient(f, w[k])) < 1e-7, k


def test_sigmoid_and_grad_match_tensorflow():
    z = np.concatenate([np.linspace(-30, 30, 101), [-1000.0, 1000.0]])
    tz = tf.Variable(z)
    with tf.GradientTape() as tape:
        s = tf.sigmoid(tz)
    g = tape.gradient(s, tz).numpy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # stable: no overflow
        out = ff.sigmoid(z)
        grad = ff.sigmoid_grad(z)
    assert rel_error(out, s.numpy()) < 1e-12
    assert np.max(np.abs(grad - g)) < 1e-15


@pytest.mark.parametrize("seed", SEEDS)
def test_affine_relu_match_tensorflow(seed):
    rng = np.random.default_rng(seed)
    N, d1, d2, M = (int(v) for v in rng.integers(2, 7, 4))
    x, w, b = rng.standard_normal((N, d1, d2)), rng.standard_normal((d1 * d2, M)), rng.standard_normal(M)
    x.flat[::4] = 0.0
    dout = rng.standard_normal((N, M))
    tx, tw, tb = tf.Variable(x), tf.Variable(w), tf.Variable(b)
    with tf.GradientTape(persistent=True) as tape:
        a = tf.matmul(tf.reshape(tx, (N, -1)), tw) + tb
        r = tf.nn.relu(tx)
        la = tf.reduce_sum(a * dout)
        lr = tf.reduce_sum(r * x[::-1])
    out, cache = ff.affine_forward(x, w, b)
    assert rel_error(out, a.numpy()) < 1e-12
    for mine, theirs in zip(ff.affine_backward(dout, cache), tape.gradient(la, [tx, tw, tb])):
        assert mine.shape == theirs.shape
        assert rel_error(mine, theirs.numpy()) < 1e-12
    rout, rcache = ff.relu_forward(x)
    assert rel_error(rout, r.numpy()) < 1e-15
    # TensorFlow's ReLU gradient is 0 at x == 0, as the docstring says.
    assert rel_error(ff.relu_backward(x[::-1], rcache), tape.gradient(lr, tx).numpy()) < 1e-15


@pytest.mark.parametrize("seed", SEEDS)
def test_softmax_loss_matches_tensorflow(seed):
    rng = np.random.default_rng(seed)
    N, C = (int(v) for v in rng.integers(2, 12, 2))
    x = rng.standard_normal((N, C)) * (1 if seed % 2 else 300)
    y = rng.integers(0, C, N)
    tx = tf.Variable(x)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=tx))
    mine, dx = ff.softmax_loss(x, y)
    assert mine == pytest.approx(float(loss), rel=1e-12, abs=1e-300)
    assert rel_error(dx, tape.gradient(loss, tx).numpy()) < 1e-9


def test_layers_numerical_gradients():
    rng = np.random.default_rng(7)
    x, w, b = rng.standard_normal((4, 3, 2)), rng.standard_normal((6, 5)), rng.standard_normal(5)
    dout = rng.standard_normal((4, 5))
    _, cache = ff.affine_forward(x, w, b)
    dx, dw, db = ff.affine_backward(dout, cache)
    assert (
        rel_error(dx, eval_numerical_gradient_array(lambda v: ff.affine_forward(v, w, b)[0], x, dout)) < 1e-8
    )
    assert (
        rel_error(dw, eval_numerical_gradient_array(lambda v: ff.affine_forward(x, v, b)[0], w, dout)) < 1e-8
    )
    assert (
        rel_error(db, eval_numerical_gradient_array(lambda v: ff.affine_forward(x, w, v)[0], b, dout)) < 1e-8
    )
    scores, labels = rng.standard_normal((6, 4)), rng.integers(0, 4, 6)
    _, dscores = ff.softmax_loss(scores, labels)
    numeric = eval_numerical_gradient(lambda v: ff.softmax_loss(v, labels)[0], scores)
    assert rel_error(dscores, numeric) < 1e-7
