"""The instructor's Chapter 4 normalization functions against independent oracles.

Oracles: the same computations written in TensorFlow ops (``tf.reduce_mean``,
``tf.math.reduce_variance`` -- biased -- ``tf.sqrt``, ``reshape``) and
differentiated by ``tf.GradientTape``; the running-statistics momentum formula
written out with explicit sums; layer norm as a cross-check of group norm with
one group; and centered-difference numerical gradients.

Every TensorFlow oracle differentiates ``sum(out * dout)`` for a random
``dout``, which is what ``*_backward(dout, cache)`` must return. The NCHW
oracles reduce over the NCHW axes directly (no transpose to NHWC), so they
do not share source_lib's transpose/reshape route.
"""

import copy

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from source_lib import normalization as nm  # noqa: E402
from source_lib.gradcheck import eval_numerical_gradient_array, rel_error  # noqa: E402

tf = pytest.importorskip("tensorflow")

TOL = 1e-7  # against TensorFlow autodiff (typically ~1e-12)
NUM_TOL = 1e-6  # against centered differences (round-off-limited ~1e-8; a wrong gradient is ~1e-2)
SEEDS = range(4)
DEFAULT_EPS = 1e-5
DEFAULT_MOMENTUM = 0.9


# ----------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------


def random_x(rng, shape):
    """Inputs with a non-zero mean and a non-unit scale per entry, so every term matters."""
    return 3.0 * rng.standard_normal(shape) + rng.uniform(-4, 4)


def random_affine(rng, n):
    return rng.standard_normal(n), rng.standard_normal(n)


def random_eps(seed):
    """Alternate between the documented default (key absent) and an explicit, larger eps."""
    return (None, DEFAULT_EPS) if seed % 2 == 0 else (1e-2, 1e-2)


def random_nchw(rng, N=None, C=None):
    """A random (N, C, H, W) shape with H != W."""
    N = int(rng.integers(2, 5)) if N is None else N
    C = int(rng.choice([2, 3, 4, 6])) if C is None else C
    H = int(rng.integers(2, 6))
    W = H + int(rng.integers(1, 4))
    if rng.random() < 0.5:
        H, W = W, H
    return N, C, H, W


def param(mode=None, eps=None, momentum=None, **extra):
    p = {} if mode is None else {"mode": mode}
    if eps is not None:
        p["eps"] = eps
    if momentum is not None:
        p["momentum"] = momentum
    p.update(extra)
    return p


def tf_standardize(x, axes, eps, mean=None, var=None):
    """(x - mean) / sqrt(var + eps) over ``axes``; batch statistics unless mean/var are given."""
    if mean is None:
        mean = tf.reduce_mean(x, axis=axes, keepdims=True)
        var = tf.math.reduce_variance(x, axis=axes, keepdims=True)  # biased
    return (x - mean) / tf.sqrt(var + eps)


def per_channel(v):
    """(C,) -> (1, C, 1, 1) for NCHW broadcasting."""
    return tf.reshape(v, (1, -1, 1, 1))


def tf_oracle(fn, x, gamma, beta, dout):
    """``fn(x, gamma, beta)`` in TensorFlow and the gradients of ``sum(out * dout)``."""
    tx, tg, tb = (tf.Variable(np.asarray(a, dtype=np.float64)) for a in (x, gamma, beta))
    with tf.GradientTape() as tape:
        out = fn(tx, tg, tb)
        loss = tf.reduce_sum(out * dout)
    dx, dg, db = tape.gradient(loss, [tx, tg, tb])
    return out.numpy(), dx.numpy(), dg.numpy(), db.numpy()


def assert_matches(mine, theirs, tol=TOL):
    names = ("out", "dx", "dgamma", "dbeta")
    for name, a, b in zip(names, mine, theirs):
        a = np.asarray(a)
        assert a.shape == b.shape, (name, a.shape, b.shape)
        err = rel_error(a, b)
        assert err < tol, f"{name}: rel_error {err:.3e}"


def run_numpy(forward, backward, x, gamma, beta, dout, *args):
    """Forward then backward, checking neither touches the caller's arrays."""
    saved = [a.copy() for a in (x, gamma, beta, dout)]
    out, cache = forward(x, gamma, beta, *args)
    dx, dgamma, dbeta = backward(dout, cache)
    for before, after in zip(saved, (x, gamma, beta, dout)):
        np.testing.assert_array_equal(before, after)
    return out, dx, dgamma, dbeta


def batch_stats(x, axes):
    """Mean and biased variance written with explicit sums, independent of np.mean/np.var."""
    count = np.prod([x.shape[a] for a in axes])
    mean = x.sum(axis=axes) / count
    shape = [1 if a in axes else s for a, s in enumerate(x.shape)]
    var = ((x - mean.reshape(shape)) ** 2).sum(axis=axes) / count
    return mean, var


# ----------------------------------------------------------------------------
# Batch normalization, (N, D)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_batchnorm_train_matches_tensorflow(seed):
    rng = np.random.default_rng(seed)
    N, D = int(rng.integers(2, 9)), int(rng.integers(1, 8))
    x, (gamma, beta) = random_x(rng, (N, D)), random_affine(rng, D)
    dout = rng.standard_normal((N, D))
    eps_key, eps = random_eps(seed)
    mine = run_numpy(
        nm.batchnorm_forward, nm.batchnorm_backward, x, gamma, beta, dout, param("train", eps_key)
    )
    theirs = tf_oracle(lambda tx, tg, tb: tg * tf_standardize(tx, [0], eps) + tb, x, gamma, beta, dout)
    assert_matches(mine, theirs)


@pytest.mark.parametrize("seed", SEEDS)
def test_batchnorm_test_mode_matches_tensorflow(seed):
    rng = np.random.default_rng(10 + seed)
    N, D = int(rng.integers(1, 9)), int(rng.integers(1, 8))
    x, (gamma, beta) = random_x(rng, (N, D)), random_affine(rng, D)
    dout = rng.standard_normal((N, D))
    rm, rv = rng.standard_normal(D), rng.uniform(0.2, 3.0, D)
    eps_key, eps = random_eps(seed)
    bn_param = param("test", eps_key, running_mean=rm, running_var=rv)
    mine = run_numpy(nm.batchnorm_forward, nm.batchnorm_backward, x, gamma, beta, dout, bn_param)
    theirs = tf_oracle(
        lambda tx, tg, tb: tg * tf_standardize(tx, [0], eps, tf.constant(rm), tf.constant(rv)) + tb,
        x,
        gamma,
        beta,
        dout,
    )
    assert_matches(mine, theirs)


# ----------------------------------------------------------------------------
# Spatial batch normalization, (N, C, H, W)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_spatial_batchnorm_train_matches_tensorflow(seed):
    rng = np.random.default_rng(20 + seed)
    shape = random_nchw(rng)
    C = shape[1]
    x, (gamma, beta) = random_x(rng, shape), random_affine(rng, C)
    dout = rng.standard_normal(shape)
    eps_key, eps = random_eps(seed)
    mine = run_numpy(
        nm.spatial_batchnorm_forward,
        nm.spatial_batchnorm_backward,
        x,
        gamma,
        beta,
        dout,
        param("train", eps_key),
    )
    theirs = tf_oracle(
        lambda tx, tg, tb: per_channel(tg) * tf_standardize(tx, [0, 2, 3], eps) + per_channel(tb),
        x,
        gamma,
        beta,
        dout,
    )
    assert_matches(mine, theirs)


@pytest.mark.parametrize("seed", SEEDS)
def test_spatial_batchnorm_test_mode_matches_tensorflow(seed):
    rng = np.random.default_rng(30 + seed)
    shape = random_nchw(rng, N=int(rng.integers(1, 4)))
    C = shape[1]
    x, (gamma, beta) = random_x(rng, shape), random_affine(rng, C)
    dout = rng.standard_normal(shape)
    rm, rv = rng.standard_normal(C), rng.uniform(0.2, 3.0, C)
    eps_key, eps = random_eps(seed)
    bn_param = param("test", eps_key, running_mean=rm, running_var=rv)
    mine = run_numpy(
        nm.spatial_batchnorm_forward, nm.spatial_batchnorm_backward, x, gamma, beta, dout, bn_param
    )
    theirs = tf_oracle(
        lambda tx, tg, tb: (
            per_channel(tg)
            * tf_standardize(tx, [0, 2, 3], eps, per_channel(tf.constant(rm)), per_channel(tf.constant(rv)))
            + per_channel(tb)
        ),
        x,
        gamma,
        beta,
        dout,
    )
    assert_matches(mine, theirs)


# ----------------------------------------------------------------------------
# Running statistics and modes (batch norm and spatial batch norm)
# ----------------------------------------------------------------------------

BN_VARIANTS = [
    pytest.param(nm.batchnorm_forward, nm.batchnorm_backward, (0,), id="batchnorm"),
    pytest.param(nm.spatial_batchnorm_forward, nm.spatial_batchnorm_backward, (0, 2, 3), id="spatial"),
]


def bn_shape(rng, axes):
    return (int(rng.integers(2, 7)), int(rng.integers(1, 6))) if axes == (0,) else random_nchw(rng)


@pytest.mark.parametrize("forward, backward, axes", BN_VARIANTS)
@pytest.mark.parametrize("seed", SEEDS)
def test_running_stats_follow_momentum_formula(forward, backward, axes, seed):
    rng = np.random.default_rng(40 + seed)
    shape = bn_shape(rng, axes)
    C = shape[1]
    gamma, beta = random_affine(rng, C)
    momentum = None if seed % 2 == 0 else float(rng.uniform(0.3, 0.95))
    m = DEFAULT_MOMENTUM if momentum is None else momentum
    eps_key, eps = random_eps(seed)
    bn_param = param("train", eps_key, momentum)
    if seed >= 2:  # start from given running statistics; else from the documented zeros/ones
        bn_param["running_mean"] = rng.standard_normal(C)
        bn_param["running_var"] = rng.uniform(0.2, 3.0, C)
        rm, rv = bn_param["running_mean"].copy(), bn_param["running_var"].copy()
    else:
        rm, rv = np.zeros(C), np.ones(C)
    for step in range(5):
        x = random_x(rng, shape)
        forward(x, gamma, beta, bn_param)
        mean, var = batch_stats(x, axes)
        rm = m * rm + (1 - m) * mean
        rv = m * rv + (1 - m) * var
        for key, expected in (("running_mean", rm), ("running_var", rv)):
            got = np.asarray(bn_param[key])
            assert got.shape == (C,), (key, got.shape)
            assert rel_error(got, expected) < 1e-12, (key, step)
    # Test mode then normalizes with exactly those statistics, as constants.
    bn_param["mode"] = "test"
    x, dout = random_x(rng, shape), rng.standard_normal(shape)
    mine = run_numpy(forward, backward, x, gamma, beta, dout, bn_param)
    if axes == (0,):

        def fn(tx, tg, tb):
            return tg * tf_standardize(tx, [0], eps, tf.constant(rm), tf.constant(rv)) + tb
    else:

        def fn(tx, tg, tb):
            return per_channel(tg) * tf_standardize(
                tx, [0, 2, 3], eps, per_channel(tf.constant(rm)), per_channel(tf.constant(rv))
            ) + per_channel(tb)

    assert_matches(mine, tf_oracle(fn, x, gamma, beta, dout))


@pytest.mark.parametrize("forward, backward, axes", BN_VARIANTS)
@pytest.mark.parametrize("given", [True, False], ids=["given-stats", "no-stats"])
def test_test_mode_leaves_bn_param_unchanged(forward, backward, axes, given):
    rng = np.random.default_rng(50 + given)
    shape = bn_shape(rng, axes)
    C = shape[1]
    x, (gamma, beta), dout = random_x(rng, shape), random_affine(rng, C), rng.standard_normal(shape)
    bn_param = {"mode": "test", "momentum": 0.5}
    if given:
        bn_param["running_mean"] = rng.standard_normal(C)
        bn_param["running_var"] = rng.uniform(0.2, 3.0, C)
    before = copy.deepcopy(bn_param)
    for _ in range(3):
        mine = run_numpy(forward, backward, x, gamma, beta, dout, bn_param)
    assert bn_param.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(bn_param[key], before[key], err_msg=key)
    # Without running statistics, test mode uses the documented zeros and ones.
    rm = before.get("running_mean", np.zeros(C))
    rv = before.get("running_var", np.ones(C))
    if axes == (0,):

        def fn(tx, tg, tb):
            return tg * tf_standardize(tx, [0], DEFAULT_EPS, tf.constant(rm), tf.constant(rv)) + tb
    else:

        def fn(tx, tg, tb):
            return per_channel(tg) * tf_standardize(
                tx, [0, 2, 3], DEFAULT_EPS, per_channel(tf.constant(rm)), per_channel(tf.constant(rv))
            ) + per_channel(tb)

    assert_matches(mine, tf_oracle(fn, x, gamma, beta, dout))


@pytest.mark.parametrize("forward, backward, axes", BN_VARIANTS)
@pytest.mark.parametrize("mode", ["Train", "eval", "", "TEST", None])
def test_bad_mode_raises_value_error(forward, backward, axes, mode):
    rng = np.random.default_rng(60)
    shape = bn_shape(rng, axes)
    C = shape[1]
    x, (gamma, beta) = random_x(rng, shape), random_affine(rng, C)
    bn_param = {"mode": mode, "running_mean": np.zeros(C), "running_var": np.ones(C)}
    before = copy.deepcopy(bn_param)
    with pytest.raises(ValueError):
        forward(x, gamma, beta, bn_param)
    for key in before:
        np.testing.assert_array_equal(bn_param[key], before[key], err_msg=key)


# ----------------------------------------------------------------------------
# Layer normalization, (N, D)
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("single", [True, False], ids=["N1", "N-random"])
def test_layernorm_matches_tensorflow(seed, single):
    rng = np.random.default_rng(70 + seed)
    N, D = (1 if single else int(rng.integers(2, 9))), int(rng.integers(2, 10))
    x, (gamma, beta) = random_x(rng, (N, D)), random_affine(rng, D)
    x += rng.uniform(-3, 3, (N, 1))  # different offsets per example
    dout = rng.standard_normal((N, D))
    eps_key, eps = random_eps(seed)
    mine = run_numpy(nm.layernorm_forward, nm.layernorm_backward, x, gamma, beta, dout, param(eps=eps_key))
    theirs = tf_oracle(lambda tx, tg, tb: tg * tf_standardize(tx, [1], eps) + tb, x, gamma, beta, dout)
    assert_matches(mine, theirs)


def test_layernorm_ignores_mode():
    """Layer norm is the same computation in training and test mode."""
    rng = np.random.default_rng(75)
    x, (gamma, beta) = random_x(rng, (4, 5)), random_affine(rng, 5)
    outs = [nm.layernorm_forward(x, gamma, beta, p)[0] for p in ({}, {"mode": "train"}, {"mode": "test"})]
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_array_equal(outs[0], outs[2])


# ----------------------------------------------------------------------------
# Spatial group normalization, (N, C, H, W)
# ----------------------------------------------------------------------------


def pick_G(C, which, rng):
    if which == "G1":
        return 1
    if which == "GC":
        return C
    divisors = [g for g in range(2, C) if C % g == 0]
    return int(rng.choice(divisors))


def tf_groupnorm(G, eps):
    def fn(tx, tg, tb):
        N, C, H, W = tx.shape
        grouped = tf.reshape(tx, (N, G, C // G, H, W))
        xhat = tf.reshape(tf_standardize(grouped, [2, 3, 4], eps), (N, C, H, W))
        return per_channel(tg) * xhat + per_channel(tb)

    return fn


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("which", ["G1", "Gmid", "GC"])
@pytest.mark.parametrize("single", [True, False], ids=["N1", "N-random"])
def test_groupnorm_matches_tensorflow(seed, which, single):
    rng = np.random.default_rng(80 + seed)
    # C with proper divisors, so the intermediate G exists
    C = int(rng.choice([4, 6, 8, 9, 12]))
    shape = random_nchw(rng, N=1 if single else None, C=C)
    G = pick_G(C, which, rng)
    x, (gamma, beta) = random_x(rng, shape), random_affine(rng, C)
    x += rng.uniform(-3, 3, (shape[0], C, 1, 1))  # different offsets per channel and example
    dout = rng.standard_normal(shape)
    eps_key, eps = random_eps(seed)
    mine = run_numpy(
        nm.spatial_groupnorm_forward,
        nm.spatial_groupnorm_backward,
        x,
        gamma,
        beta,
        dout,
        G,
        param(eps=eps_key),
    )
    assert_matches(mine, tf_oracle(tf_groupnorm(G, eps), x, gamma, beta, dout))


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_groupnorm_one_group_is_layernorm_over_chw(seed):
    """G = 1 equals layer norm of x.reshape(N, -1) with gamma, beta repeated over H * W."""
    rng = np.random.default_rng(90 + seed)
    shape = random_nchw(rng)
    N, C, H, W = shape
    x, (gamma, beta), dout = random_x(rng, shape), random_affine(rng, C), rng.standard_normal(shape)
    out, cache = nm.spatial_groupnorm_forward(x, gamma, beta, 1, {})
    dx, dgamma, dbeta = nm.spatial_groupnorm_backward(dout, cache)
    lout, lcache = nm.layernorm_forward(x.reshape(N, -1), np.repeat(gamma, H * W), np.repeat(beta, H * W), {})
    ldx, ldgamma, ldbeta = nm.layernorm_backward(dout.reshape(N, -1), lcache)
    assert rel_error(out, lout.reshape(shape)) < 1e-12
    assert rel_error(dx, ldx.reshape(shape)) < 1e-10
    assert rel_error(dgamma, ldgamma.reshape(C, H * W).sum(axis=1)) < 1e-10
    assert rel_error(dbeta, ldbeta.reshape(C, H * W).sum(axis=1)) < 1e-10


# ----------------------------------------------------------------------------
# Numerical gradients, one small case of each backward
# ----------------------------------------------------------------------------


def numeric_grads(forward, x, gamma, beta, dout, make_param, *extra):
    """Centered-difference dx, dgamma, dbeta; a fresh param dict per call."""

    def f(xv, gv, bv):
        return forward(xv, gv, bv, *extra, make_param())[0]

    return (
        eval_numerical_gradient_array(lambda v: f(v, gamma, beta), x, dout),
        eval_numerical_gradient_array(lambda v: f(x, v, beta), gamma, dout),
        eval_numerical_gradient_array(lambda v: f(x, gamma, v), beta, dout),
    )


NUMERIC_CASES = [
    pytest.param(
        nm.batchnorm_forward,
        nm.batchnorm_backward,
        (5, 4),
        (),
        lambda: {"mode": "train"},
        id="batchnorm-train",
    ),
    pytest.param(
        nm.batchnorm_forward,
        nm.batchnorm_backward,
        (5, 4),
        (),
        lambda: {
            "mode": "test",
            "running_mean": np.array([0.5, -1.0, 2.0, 0.0]),
            "running_var": np.array([0.5, 2.0, 1.5, 3.0]),
        },
        id="batchnorm-test",
    ),
    pytest.param(
        nm.spatial_batchnorm_forward,
        nm.spatial_batchnorm_backward,
        (2, 3, 3, 4),
        (),
        lambda: {"mode": "train", "eps": 1e-3},
        id="spatial-train",
    ),
    pytest.param(
        nm.spatial_batchnorm_forward,
        nm.spatial_batchnorm_backward,
        (2, 3, 3, 4),
        (),
        lambda: {
            "mode": "test",
            "running_mean": np.array([0.5, -1.0, 2.0]),
            "running_var": np.array([0.5, 2.0, 1.5]),
        },
        id="spatial-test",
    ),
    pytest.param(nm.layernorm_forward, nm.layernorm_backward, (3, 6), (), dict, id="layernorm"),
    pytest.param(
        nm.spatial_groupnorm_forward,
        nm.spatial_groupnorm_backward,
        (2, 6, 2, 3),
        (3,),
        dict,
        id="groupnorm-G3",
    ),
]


@pytest.mark.parametrize("forward, backward, shape, extra, make_param", NUMERIC_CASES)
def test_numerical_gradients(forward, backward, shape, extra, make_param):
    rng = np.random.default_rng(100)
    C = shape[1]
    # moderate magnitudes keep the centered differences' round-off well below NUM_TOL
    x = rng.standard_normal(shape) + 0.5
    (gamma, beta), dout = random_affine(rng, C), rng.standard_normal(shape)
    _, cache = forward(x, gamma, beta, *extra, make_param())
    analytic = backward(dout, cache)
    numeric = numeric_grads(forward, x, gamma, beta, dout, make_param, *extra)
    for name, a, n in zip(("dx", "dgamma", "dbeta"), analytic, numeric):
        assert a.shape == n.shape, name
        err = rel_error(a, n)
        assert err < NUM_TOL, f"{name}: rel_error {err:.3e}"
