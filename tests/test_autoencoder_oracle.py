"""The instructor's Chapter 5 sparse autoencoder against independent oracles.

Oracles: the same cost written in TensorFlow ops (``tf.sigmoid``,
``tf.reduce_mean``, ``tf.math.log``) and differentiated by
``tf.GradientTape``; centered-difference numerical gradients of the cost;
preprocessing written out patch by patch with Python loops and
``statistics.pstdev``; SciPy's own ``check_grad`` on the flat vector the
trainer optimizes; and the mean-patch predictor as a baseline that training
must beat.
"""

import statistics

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from scipy.optimize import check_grad  # noqa: E402

from source_lib import autoencoder as ae  # noqa: E402
from source_lib.data import load_image_patches  # noqa: E402
from source_lib.gradcheck import eval_numerical_gradient, rel_error  # noqa: E402

tf = pytest.importorskip("tensorflow")

TOL = 1e-7  # the bar, against TensorFlow autodiff and numerical gradients
SEEDS = range(5)
PARAMS = ("W1", "b1", "W2", "b2")


def random_problem(seed, N=None):
    rng = np.random.default_rng(seed)
    N = N or int(rng.integers(5, 15))
    D, H = int(rng.integers(6, 20)), int(rng.integers(2, 8))
    params = {
        "W1": rng.standard_normal((H, D)) * 0.3,
        "b1": rng.standard_normal(H) * 0.3,
        "W2": rng.standard_normal((D, H)) * 0.3,
        "b2": rng.standard_normal(D) * 0.3,
    }
    X = rng.uniform(0.1, 0.9, (N, D))
    hyper = {
        "lam": float(rng.uniform(1e-3, 0.1)),
        "beta": float(rng.uniform(0.5, 3.0)),
        "rho": float(rng.uniform(0.02, 0.3)),
    }
    return params, X, hyper


def tf_cost(params, X, lam, beta, rho):
    """The chapter's cost in TensorFlow, and its gradients by autodiff."""
    v = {k: tf.Variable(params[k], dtype=tf.float64) for k in PARAMS}
    x = tf.constant(X, dtype=tf.float64)
    with tf.GradientTape() as tape:
        hidden = tf.sigmoid(tf.matmul(x, v["W1"], transpose_b=True) + v["b1"])
        output = tf.sigmoid(tf.matmul(hidden, v["W2"], transpose_b=True) + v["b2"])
        q = tf.reduce_mean(hidden, axis=0)
        kl = rho * tf.math.log(rho / q) + (1 - rho) * tf.math.log((1 - rho) / (1 - q))
        cost = (
            tf.reduce_sum(tf.reduce_mean(tf.square(output - x), axis=0)) / 2
            + lam / 2 * (tf.reduce_sum(tf.square(v["W1"])) + tf.reduce_sum(tf.square(v["W2"])))
            + beta * tf.reduce_sum(kl)
        )
    grads = tape.gradient(cost, [v[k] for k in PARAMS])
    return float(cost.numpy()), {k: g.numpy() for k, g in zip(PARAMS, grads)}


@pytest.mark.parametrize("seed", SEEDS)
def test_cost_and_gradients_match_tensorflow(seed):
    params, X, hyper = random_problem(seed)
    cost, grads = ae.sparse_autoencoder_loss(params, X, **hyper)
    tf_value, tf_grads = tf_cost(params, X, **hyper)
    assert isinstance(cost, float)
    assert rel_error(cost, tf_value) < TOL
    for k in PARAMS:
        assert grads[k].shape == params[k].shape
        assert rel_error(grads[k], tf_grads[k]) < TOL, k


@pytest.mark.parametrize("seed", SEEDS)
def test_gradients_match_numerical_gradients(seed):
    params, X, hyper = random_problem(seed)
    _, grads = ae.sparse_autoencoder_loss(params, X, **hyper)
    for k in PARAMS:

        def f(value, k=k):
            return ae.sparse_autoencoder_loss({**params, k: value}, X, **hyper)[0]

        numeric = eval_numerical_gradient(f, params[k].copy(), h=1e-5)
        # relative error of the whole gradient (Ng's check): an entry near zero
        # has round-off in its last digits, which an elementwise ratio magnifies
        error = np.linalg.norm(grads[k] - numeric) / np.linalg.norm(grads[k] + numeric)
        assert error < TOL, k


def test_every_term_of_the_cost_counts():
    """Each term, switched off, removes exactly its value computed separately."""
    params, X, hyper = random_problem(7)
    lam, beta, rho = hyper["lam"], hyper["beta"], hyper["rho"]
    full = ae.sparse_autoencoder_loss(params, X, **hyper)[0]
    no_decay = ae.sparse_autoencoder_loss(params, X, 0.0, beta, rho)[0]
    reconstruction = ae.sparse_autoencoder_loss(params, X, 0.0, 0.0, rho)[0]
    decay = lam / 2 * sum(float(np.sum(params[k] ** 2)) for k in ("W1", "W2"))
    q = ae.hidden_activations(params, X).mean(axis=0)
    sparsity = beta * sum(rho * np.log(rho / qj) + (1 - rho) * np.log((1 - rho) / (1 - qj)) for qj in q)
    errors = ae.reconstruct(params, X) - X
    assert full - no_decay == pytest.approx(decay, rel=1e-9)
    assert no_decay - reconstruction == pytest.approx(sparsity, rel=1e-9)
    assert reconstruction == pytest.approx(np.sum(errors**2) / (2 * len(X)), rel=1e-12)


def test_trainer_optimizes_the_vector_whose_gradient_scipy_checks():
    params, X, hyper = random_problem(3)
    H, D = params["W1"].shape
    theta = ae.params_to_vector(params)
    assert np.array_equal(ae.params_to_vector(ae.vector_to_params(theta, H, D)), theta)

    def f(t):
        return ae.sparse_autoencoder_loss(ae.vector_to_params(t, H, D), X, **hyper)[0]

    def g(t):
        return ae.params_to_vector(ae.sparse_autoencoder_loss(ae.vector_to_params(t, H, D), X, **hyper)[1])

    assert check_grad(f, g, theta, epsilon=1e-6) / np.linalg.norm(g(theta)) < 1e-6


def test_initialization_range():
    p = ae.initialize_parameters(25, 64, seed=1)
    r = np.sqrt(6 / (25 + 64 + 1))
    assert p["W1"].shape == (25, 64) and p["W2"].shape == (64, 25)
    assert np.abs(p["W1"]).max() <= r and np.abs(p["W1"]).max() > 0.9 * r
    assert not p["b1"].any() and not p["b2"].any()


def preprocess_by_loops(patches):
    """Each step of Task 5.1 written out pixel by pixel."""
    rows = []
    for patch in patches:
        grey = [0.2126 * px[0] + 0.7152 * px[1] + 0.0722 * px[2] for line in patch for px in line]
        mean = sum(grey) / len(grey)
        rows.append([g - mean for g in grey])
    limit = 3 * statistics.pstdev([v for row in rows for v in row])
    return np.array(
        [[0.1 + 0.8 * (min(max(v, -limit), limit) + limit) / (2 * limit) for v in row] for row in rows]
    )


@pytest.mark.parametrize("seed", range(3))
def test_preprocessing_matches_a_loop_oracle(seed):
    rng = np.random.default_rng(seed)
    patches = rng.uniform(0, 1, (12, 4, 5, 3)) * rng.uniform(0.05, 0.3, (12, 1, 1, 1))
    patches[0] = rng.integers(0, 2, (4, 5, 3))  # a high-contrast patch that gets clipped
    X = ae.preprocess_patches(patches)
    assert X.shape == (12, 20)
    np.testing.assert_allclose(X, preprocess_by_loops(patches), rtol=1e-12, atol=1e-12)
    assert X.min() >= 0.1 - 1e-12 and X.max() <= 0.9 + 1e-12
    assert np.isclose(X.min(), 0.1) and np.isclose(X.max(), 0.9)  # patch 0 is clipped


def test_patches_are_reproducible_and_shaped():
    a = load_image_patches(200, 16, seed=5)
    b = load_image_patches(200, 16, seed=5)
    c = load_image_patches(200, 16, seed=6)
    assert a.shape == (200, 16, 16, 3) and a.dtype == np.float64
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert 0 <= a.min() and a.max() <= 1


def test_training_beats_the_mean_patch():
    """A small run on real patches: reconstructions well below the mean patch's error."""
    X = ae.preprocess_patches(load_image_patches(2000, 8, seed=0))
    params, history = ae.train_autoencoder(X, 25, lam=3e-4, beta=3.0, rho=0.01, max_iter=100)
    baseline = float(np.mean((X - X.mean(axis=0)) ** 2))
    assert ae.reconstruction_error(params, X) < 0.8 * baseline
    assert history.ndim == 1 and 1 <= len(history) <= 100
    assert history[-1] < 0.5 * history[0]
    assert history[-1] == pytest.approx(ae.sparse_autoencoder_loss(params, X, 3e-4, 3.0, 0.01)[0], rel=1e-10)
