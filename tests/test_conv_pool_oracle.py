"""The instructor's Chapter 2 and 3 functions against independent oracles.

Oracles: TensorFlow (``tf.nn.conv2d``, ``conv2d_transpose``, ``max_pool2d``,
``avg_pool2d`` and their ``tf.GradientTape`` gradients), Keras layers for the
cost table, centered-difference numerical gradients, a direct matrix form of
adaptive average pooling, and hand counts written as literals; the provided fast layers
also against the naive loops (values, and where NaN and inf land).

source_lib is NCHW with conv filters (F, C, HH, WW) and transposed-conv filters
(C, F, HH, WW); TensorFlow is NHWC with conv filters (HH, WW, C_in, C_out) and
transposed-conv filters (HH, WW, C_out, C_in), so both of source_lib's filter
layouts become TensorFlow's with ``w.transpose(2, 3, 1, 0)``.
"""

from fractions import Fraction  # noqa: E402
from math import ceil, floor  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from source_lib import convolution as cv  # noqa: E402
from source_lib import pooling as pl  # noqa: E402
from source_lib.gradcheck import eval_numerical_gradient_array, rel_error  # noqa: E402

tf = pytest.importorskip("tensorflow")

TOL = 1e-7
SEEDS = range(3)


def nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def nchw(t):
    return np.asarray(t).transpose(0, 3, 1, 2)


def tf_filters(w):
    """(F, C, HH, WW) conv or (C, F, HH, WW) transposed-conv filters -> TensorFlow's layout."""
    return np.ascontiguousarray(w.transpose(2, 3, 1, 0))


# ----------------------------------------------------------------------------
# Convolution
# ----------------------------------------------------------------------------

# (N, C, H, W, F, HH, WW, stride, pad)
CONV_CONFIGS = [
    pytest.param((2, 3, 7, 7, 4, 3, 3, 1, 1), id="square-pad1"),
    pytest.param((3, 1, 9, 6, 1, 3, 2, 2, 0), id="C1-F1-nonsquare-stride2"),
    pytest.param((2, 4, 8, 11, 5, 2, 4, 3, 2), id="nonsquare-stride3-pad2-floor"),
    pytest.param((1, 2, 5, 5, 3, 5, 5, 1, 0), id="kernel-is-input"),
    pytest.param((2, 3, 6, 5, 2, 1, 1, 2, 0), id="1x1-stride2"),
    pytest.param((2, 2, 4, 4, 3, 3, 3, 2, 3), id="pad-exceeds-kernel"),
    pytest.param((2, 1, 6, 9, 6, 4, 2, 1, 1), id="C1-manyF-evenkernel"),
]


def random_conv(rng, cfg):
    N, C, H, W, F, HH, WW, stride, pad = cfg
    x = rng.standard_normal((N, C, H, W))
    w = rng.standard_normal((F, C, HH, WW))
    b = rng.standard_normal(F)
    return x, w, b, {"stride": stride, "pad": pad}


def tf_conv(x, w, b, conv_param, rng):
    """TensorFlow's output, the upstream gradient drawn for it, and the gradients of sum(out * dout)."""
    s, p = conv_param["stride"], conv_param["pad"]
    tx, tw, tb = tf.Variable(nhwc(x)), tf.Variable(tf_filters(w)), tf.Variable(b)
    with tf.GradientTape() as tape:
        xp = tf.pad(tx, [[0, 0], [p, p], [p, p], [0, 0]])
        out = tf.nn.conv2d(xp, tw, strides=s, padding="VALID") + tb
        dout = nchw(rng.standard_normal(tuple(out.shape)))  # upstream gradient, NCHW
        loss = tf.reduce_sum(out * nhwc(dout))
    dx, dw, db = tape.gradient(loss, [tx, tw, tb])
    return nchw(out), dout, (nchw(dx), dw.numpy().transpose(3, 2, 0, 1), db.numpy())


CONV_IMPLS = {
    "naive": (cv.conv_forward_naive, cv.conv_backward_naive),
    "fast": (cv.conv_forward_fast, cv.conv_backward_fast),
}


def check_conv_against_tf(impl, x, w, b, conv_param, rng):
    forward, backward = CONV_IMPLS[impl]
    originals = [a.copy() for a in (x, w, b)]
    out_tf, dout, grads_tf = tf_conv(x, w, b, conv_param, rng)
    out, cache = forward(x, w, b, conv_param)
    assert out.shape == out_tf.shape
    assert rel_error(out, out_tf) < TOL
    grads = backward(dout, cache)
    for name, mine, theirs, like in zip("x w b".split(), grads, grads_tf, (x, w, b)):
        assert mine.shape == like.shape, name
        assert rel_error(mine, theirs) < TOL, name
    for before, after in zip(originals, (x, w, b)):  # inputs are not modified
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("impl", ["naive", "fast"])
@pytest.mark.parametrize("cfg", CONV_CONFIGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_conv_matches_tensorflow(impl, cfg, seed):
    rng = np.random.default_rng(seed)
    x, w, b, conv_param = random_conv(rng, cfg)
    check_conv_against_tf(impl, x, w, b, conv_param, rng)


@pytest.mark.parametrize("impl", ["naive", "fast"])
@pytest.mark.parametrize("seed", range(10, 18))
def test_conv_random_shapes_match_tensorflow(impl, seed):
    rng = np.random.default_rng(seed)
    N, C, F, HH, WW, stride, pad = (
        int(v) for v in rng.integers([1, 1, 1, 1, 1, 1, 0], [4, 5, 5, 5, 5, 4, 3])
    )
    H, W = (int(v) for v in rng.integers([HH, WW], [HH + 7, WW + 7]))
    x, w, b, conv_param = random_conv(rng, (N, C, H, W, F, HH, WW, stride, pad))
    check_conv_against_tf(impl, x, w, b, conv_param, rng)


def test_conv_naive_numerical_gradients():
    rng = np.random.default_rng(42)
    x, w, b, conv_param = random_conv(rng, (2, 3, 5, 6, 3, 3, 2, 2, 1))
    out, cache = cv.conv_forward_naive(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = cv.conv_backward_naive(dout, cache)
    assert (
        rel_error(
            dx,
            eval_numerical_gradient_array(lambda v: cv.conv_forward_naive(v, w, b, conv_param)[0], x, dout),
        )
        < TOL
    )
    assert (
        rel_error(
            dw,
            eval_numerical_gradient_array(lambda v: cv.conv_forward_naive(x, v, b, conv_param)[0], w, dout),
        )
        < TOL
    )
    assert (
        rel_error(
            db,
            eval_numerical_gradient_array(lambda v: cv.conv_forward_naive(x, w, v, conv_param)[0], b, dout),
        )
        < TOL
    )


def test_conv_hand_example():
    """One 3x3 input, a 2x2 filter of ones, pad 1, stride 2: sums of the corner windows."""
    x = np.arange(9.0).reshape(1, 1, 3, 3)
    w = np.ones((1, 1, 2, 2))
    for forward in (cv.conv_forward_naive, cv.conv_forward_fast):
        out, _ = forward(x, w, np.array([0.5]), {"stride": 2, "pad": 1})
        np.testing.assert_array_equal(out[0, 0], [[0.5, 3.5], [9.5, 24.5]])


# ----------------------------------------------------------------------------
# Transposed convolution
# ----------------------------------------------------------------------------

# (N, C, H, W, F, HH, WW, stride, pad): x is (N, C, H, W), w is (C, F, HH, WW)
CONVT_CONFIGS = [
    pytest.param((2, 3, 4, 4, 2, 3, 3, 1, 0), id="stride1"),
    pytest.param((2, 2, 3, 5, 4, 4, 4, 2, 1), id="stride2-pad1-nonsquare-input"),
    pytest.param((1, 1, 4, 3, 1, 3, 5, 3, 2), id="C1-F1-stride3-pad2-nonsquare-kernel"),
    pytest.param((3, 4, 2, 2, 5, 2, 3, 2, 0), id="stride2-manyC-manyF"),
    pytest.param((2, 1, 5, 4, 3, 3, 2, 1, 1), id="C1-manyF-pad1"),
]


def random_convt(rng, cfg):
    N, C, H, W, F, HH, WW, stride, pad = cfg
    return (
        rng.standard_normal((N, C, H, W)),
        rng.standard_normal((C, F, HH, WW)),
        rng.standard_normal(F),
        {"stride": stride, "pad": pad},
    )


def convt_out_hw(cfg):
    N, C, H, W, F, HH, WW, s, p = cfg
    return (H - 1) * s + HH - 2 * p, (W - 1) * s + WW - 2 * p


@pytest.mark.parametrize("cfg", CONVT_CONFIGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_conv_transpose_matches_tensorflow(cfg, seed):
    rng = np.random.default_rng(seed)
    x, w, b, conv_param = random_convt(rng, cfg)
    s, p = conv_param["stride"], conv_param["pad"]
    (N, C, H, W), F = x.shape, w.shape[1]
    Ho, Wo = convt_out_hw(cfg)
    tx, tw, tb = tf.Variable(nhwc(x)), tf.Variable(tf_filters(w)), tf.Variable(b)
    dout = rng.standard_normal((N, F, Ho, Wo))
    with tf.GradientTape() as tape:
        out_tf = (
            tf.nn.conv2d_transpose(
                tx, tw, (N, Ho, Wo, F), strides=s, padding=[[0, 0], [p, p], [p, p], [0, 0]]
            )
            + tb
        )
        loss = tf.reduce_sum(out_tf * nhwc(dout))
    grads_tf = tape.gradient(loss, [tx, tw, tb])
    grads_tf = [nchw(grads_tf[0]), grads_tf[1].numpy().transpose(3, 2, 0, 1), grads_tf[2].numpy()]

    out, cache = cv.conv_transpose_forward(x, w, b, conv_param)
    assert out.shape == (N, F, Ho, Wo)
    assert rel_error(out, nchw(out_tf)) < TOL
    for name, mine, theirs, like in zip(
        "x w b".split(), cv.conv_transpose_backward(dout, cache), grads_tf, (x, w, b)
    ):
        assert mine.shape == like.shape, name
        assert rel_error(mine, theirs) < TOL, name

    # The definition: the gradient of a convolution with respect to its input. The
    # convolution goes from F channels (Ho x Wo) to C channels (H x W), so its
    # filters, shaped (C_out, C_in, HH, WW) = (C, F, HH, WW), are w itself.
    z = tf.Variable(tf.zeros((N, Ho, Wo, F), dtype=tf.float64))
    with tf.GradientTape() as tape:
        zp = tf.pad(z, [[0, 0], [p, p], [p, p], [0, 0]])
        y = tf.nn.conv2d(zp, tf_filters(w), strides=s, padding="VALID")
        assert y.shape == (N, H, W, C)
        loss = tf.reduce_sum(y * nhwc(x))
    by_definition = nchw(tape.gradient(loss, z)) + b[None, :, None, None]
    assert rel_error(out, by_definition) < TOL


@pytest.mark.parametrize("cfg", CONVT_CONFIGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_conv_transpose_is_adjoint_of_conv(cfg, seed):
    """<conv(y), x> = <y, conv_transpose(x)> with the same filters w (C, F, HH, WW), no bias."""
    rng = np.random.default_rng(100 + seed)
    x, w, _, conv_param = random_convt(rng, cfg)
    N, F = x.shape[0], w.shape[1]
    y = rng.standard_normal((N, F, *convt_out_hw(cfg)))
    conv_y, _ = cv.conv_forward_fast(y, w, np.zeros(w.shape[0]), conv_param)
    conv_y_naive, _ = cv.conv_forward_naive(y, w, np.zeros(w.shape[0]), conv_param)
    assert conv_y.shape == x.shape
    convt_x, _ = cv.conv_transpose_forward(x, w, np.zeros(F), conv_param)
    lhs, rhs = np.sum(conv_y * x), np.sum(y * convt_x)
    assert rel_error(lhs, rhs) < 1e-12
    assert rel_error(np.sum(conv_y_naive * x), rhs) < 1e-12
    # and conv_transpose_forward is the conv's input gradient, as conv_backward computes it
    _, cache = cv.conv_forward_naive(y, w, np.zeros(w.shape[0]), conv_param)
    assert rel_error(cv.conv_backward_naive(x, cache)[0], convt_x) < TOL


def test_conv_transpose_numerical_gradients():
    rng = np.random.default_rng(3)
    cfg = (2, 2, 3, 2, 3, 3, 2, 2, 1)
    x, w, b, conv_param = random_convt(rng, cfg)
    out, cache = cv.conv_transpose_forward(x, w, b, conv_param)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = cv.conv_transpose_backward(dout, cache)
    f = cv.conv_transpose_forward
    assert rel_error(dx, eval_numerical_gradient_array(lambda v: f(v, w, b, conv_param)[0], x, dout)) < TOL
    assert rel_error(dw, eval_numerical_gradient_array(lambda v: f(x, v, b, conv_param)[0], w, dout)) < TOL
    assert rel_error(db, eval_numerical_gradient_array(lambda v: f(x, w, v, conv_param)[0], b, dout)) < TOL


# ----------------------------------------------------------------------------
# Pooling
# ----------------------------------------------------------------------------

# (N, C, H, W, pool_height, pool_width, stride)
POOL_CONFIGS = [
    pytest.param((2, 3, 8, 8, 2, 2, 2), id="2x2-stride2"),
    pytest.param((2, 2, 7, 9, 3, 3, 1), id="3x3-stride1-overlap"),
    pytest.param((1, 4, 9, 7, 3, 2, 2), id="3x2-stride2-overlap-rows"),
    pytest.param((2, 1, 10, 11, 2, 3, 3), id="C1-2x3-stride3-gaps"),
    pytest.param((3, 2, 5, 6, 5, 6, 1), id="window-is-input"),
    pytest.param((2, 3, 6, 7, 3, 3, 2), id="3x3-stride2-floor"),
]

POOL_IMPLS = {
    "max": {
        "naive": (pl.max_pool_forward_naive, pl.max_pool_backward_naive),
        "fast": (pl.max_pool_forward_fast, pl.max_pool_backward_fast),
    },
    "avg": {
        "naive": (pl.avg_pool_forward_naive, pl.avg_pool_backward_naive),
        "fast": (pl.avg_pool_forward_fast, pl.avg_pool_backward_fast),
    },
}


def pool_input(rng, shape, data):
    if data == "ties":  # integers from a small range: most windows hold several maxima
        return rng.integers(0, 3, shape).astype(np.float64)
    if data == "negative":  # all negative: a maximum initialised at 0 would show
        return rng.standard_normal(shape) - 100.0
    return rng.standard_normal(shape)


def tf_pool(kind, x, ph, pw, s, rng):
    tx = tf.Variable(nhwc(x))
    op = tf.nn.max_pool2d if kind == "max" else tf.nn.avg_pool2d
    with tf.GradientTape() as tape:
        out = op(tx, ksize=(ph, pw), strides=s, padding="VALID")
        dout = nchw(rng.standard_normal(tuple(out.shape)))
        loss = tf.reduce_sum(out * nhwc(dout))
    return nchw(out), dout, nchw(tape.gradient(loss, tx))


def check_pool(kind, impl, cfg, data, seed):
    rng = np.random.default_rng(seed)
    N, C, H, W, ph, pw, s = cfg
    x = pool_input(rng, (N, C, H, W), data)
    x0 = x.copy()
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": s}
    out_tf, dout, dx_tf = tf_pool(kind, x, ph, pw, s, rng)
    forward, backward = POOL_IMPLS[kind][impl]
    out, cache = forward(x, pool_param)
    assert out.shape == out_tf.shape == (N, C, (H - ph) // s + 1, (W - pw) // s + 1)
    assert rel_error(out, out_tf) < TOL
    dx = backward(dout, cache)
    assert dx.shape == x.shape
    assert rel_error(dx, dx_tf) < TOL
    np.testing.assert_array_equal(x, x0)
    return x, out


@pytest.mark.parametrize("impl", ["naive", "fast"])
@pytest.mark.parametrize("data", ["normal", "ties", "negative"])
@pytest.mark.parametrize("cfg", POOL_CONFIGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_max_pool_matches_tensorflow(impl, data, cfg, seed):
    x, out = check_pool("max", impl, cfg, data, seed)
    if data == "ties":  # the case does exercise ties: some window's maximum occurs twice
        N, C, H, W, ph, pw, s = cfg
        windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]
        assert ((windows == out[..., None, None]).sum(axis=(-2, -1)) > 1).any()


@pytest.mark.parametrize("impl", ["naive", "fast"])
@pytest.mark.parametrize("cfg", POOL_CONFIGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_avg_pool_matches_tensorflow(impl, cfg, seed):
    check_pool("avg", impl, cfg, "normal", seed)


@pytest.mark.parametrize("impl", ["naive", "fast"])
def test_max_pool_tie_rule_by_hand(impl):
    """Constant 3x3 input, 2x2 windows at stride 1: each window's gradient goes to its
    top-left input (the first maximum in row-major order), and TensorFlow agrees."""
    forward, backward = POOL_IMPLS["max"][impl]
    x = np.full((1, 1, 3, 3), 7.0)
    out, cache = forward(x, {"pool_height": 2, "pool_width": 2, "stride": 1})
    dout = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    expected = [[1, 10, 0], [100, 1000, 0], [0, 0, 0]]
    np.testing.assert_array_equal(out, np.full((1, 1, 2, 2), 7.0))
    np.testing.assert_array_equal(backward(dout, cache)[0, 0], expected)
    tx = tf.Variable(nhwc(x))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.nn.max_pool2d(tx, 2, 1, "VALID") * nhwc(dout))
    np.testing.assert_array_equal(nchw(tape.gradient(loss, tx))[0, 0], expected)


@pytest.mark.parametrize(
    "forward",
    [
        pl.max_pool_forward_naive,
        pl.max_pool_forward_fast,
        pl.avg_pool_forward_naive,
        pl.avg_pool_forward_fast,
    ],
)
def test_pool_window_too_large(forward):
    with pytest.raises(ValueError):
        forward(np.zeros((1, 1, 3, 4)), {"pool_height": 4, "pool_width": 2, "stride": 1})


# ----------------------------------------------------------------------------
# The provided fast layers against the naive loops (themselves checked against
# TensorFlow above): the same values, and NaN and inf in the same places
# ----------------------------------------------------------------------------

# Conv geometries for both of conv_forward_fast's paths: the whole batch at once (few
# output positions per image) and block by block (at least cv._MIN_POSITIONS).
FAST_CONV_CONFIGS = CONV_CONFIGS + [
    pytest.param((3, 2, 18, 17, 3, 3, 3, 1, 1), id="by-image-pad1"),
    pytest.param((2, 3, 35, 34, 4, 3, 2, 2, 2), id="by-image-stride2-pad2-nonsquare"),
]


def test_fast_conv_configs_cover_both_paths():
    def positions(N, C, H, W, F, HH, WW, stride, pad):
        return cv._windows(H, HH, stride, pad) * cv._windows(W, WW, stride, pad)

    counts = [positions(*c.values[0]) for c in FAST_CONV_CONFIGS]
    assert min(counts) < cv._MIN_POSITIONS <= max(counts)


def naive_and_fast_conv(x, w, b, conv_param, dout):
    """(naive, fast): each the tuple (out, dx, dw, db), for the same inputs."""
    results = []
    for forward, backward in CONV_IMPLS.values():
        with np.errstate(invalid="ignore"):  # NaN and inf in, NaN out: expected here
            out, cache = forward(x, w, b, conv_param)
            results.append((out, *backward(dout, cache)))
    return results


@pytest.mark.parametrize("cfg", FAST_CONV_CONFIGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_fast_conv_equals_naive(cfg, seed):
    rng = np.random.default_rng(200 + seed)
    x, w, b, conv_param = random_conv(rng, cfg)
    dout = rng.standard_normal(cv.conv_forward_naive(x, w, b, conv_param)[0].shape)
    naive, fast = naive_and_fast_conv(x, w, b, conv_param, dout)
    for name, theirs, mine in zip(["out", "dx", "dw", "db"], naive, fast):
        assert mine.shape == theirs.shape and mine.dtype == theirs.dtype, name
        assert rel_error(mine, theirs) < 1e-10, name


def nonfinite_differences(naive, fast, names):
    """Where the NaN and the infinities of the fast results differ from the naive ones (or
    their finite values do): a list of sentences, empty when they agree."""
    found = []
    for name, theirs, mine in zip(names, naive, fast):
        for kind, test in (("NaN", np.isnan), ("inf", np.isposinf), ("-inf", np.isneginf)):
            if not np.array_equal(test(mine), test(theirs)):
                found.append(f"{name}: {kind} at {np.argwhere(test(mine) != test(theirs)).tolist()}")
        finite = np.isfinite(theirs) & np.isfinite(mine)
        scale = max(1.0, np.abs(theirs[finite]).max(initial=0.0))  # sums may cancel: their scale
        if np.abs(mine[finite] - theirs[finite]).max(initial=0.0) > 1e-10 * scale:
            found.append(f"{name}: finite values differ")
    return found


def with_nonfinite(rng, a, where, value=np.nan):
    """A copy of ``a`` with ``value`` at ``where``: "corner" (the first entry), "inner" or "random"."""
    a = a.copy()
    index = {"corner": 0, "inner": a.size // 2, "random": int(rng.integers(a.size))}[where]
    a.flat[index] = value
    return a


NONFINITE_CONV_CONFIGS = [
    c
    for c in FAST_CONV_CONFIGS
    if c.id
    in (
        "square-pad1",
        "C1-F1-nonsquare-stride2",
        "nonsquare-stride3-pad2-floor",
        "pad-exceeds-kernel",
        "by-image-pad1",
        "by-image-stride2-pad2-nonsquare",
    )
]


def conv_nonfinite_case(rng, cfg, target, where):
    """Random conv inputs with a NaN in ``target`` (x, w, b or dout); "inf*0" puts +inf in
    dout and a zero weight, so that the gradients hold inf * 0 = NaN."""
    x, w, b, conv_param = random_conv(rng, cfg)
    dout = rng.standard_normal(cv.conv_forward_naive(x, w, b, conv_param)[0].shape)
    if target == "inf*0":
        dout, w = with_nonfinite(rng, dout, where, np.inf), with_nonfinite(rng, w, where, 0.0)
    else:
        arrays = {"x": x, "w": w, "b": b, "dout": dout}
        arrays[target] = with_nonfinite(rng, arrays[target], where)
        x, w, b, dout = arrays["x"], arrays["w"], arrays["b"], arrays["dout"]
    return x, w, b, conv_param, dout


@pytest.mark.parametrize("target", ["x", "w", "b", "dout", "inf*0"])
@pytest.mark.parametrize("where", ["corner", "inner", "random"])
@pytest.mark.parametrize("cfg", NONFINITE_CONV_CONFIGS)
def test_fast_conv_puts_nan_where_naive_does(cfg, where, target):
    rng = np.random.default_rng(7)
    x, w, b, conv_param, dout = conv_nonfinite_case(rng, cfg, target, where)
    naive, fast = naive_and_fast_conv(x, w, b, conv_param, dout)
    assert nonfinite_differences(naive, fast, ["out", "dx", "dw", "db"]) == []


def conv_backward_dense_dx(dout, cache):
    """A wrong conv_backward_fast: dx as one dense matrix product, the transposed Jacobian
    of the layer (a 0/1 scatter matrix times the filters) times dout. Right on finite
    inputs, but every 0 * NaN of the product spreads a NaN of dout or w over all of dx."""
    _, dw, db = cv.conv_backward_fast(dout, cache)
    x, w, _, conv_param = cache[:4]
    with np.errstate(invalid="ignore"):
        columns = [
            cv.conv_forward_fast(e.reshape(1, *x.shape[1:]), w, np.zeros(len(w)), conv_param)[0].ravel()
            for e in np.eye(x[0].size)
        ]
        jacobian = np.array(columns).T  # (F*H'*W', C*H*W), one image
        dx = (dout.reshape(len(x), -1) @ jacobian).reshape(x.shape)
    return dx, dw, db


@pytest.mark.parametrize("target", ["w", "dout"])
def test_the_nan_check_catches_a_conv_that_spreads_nan(target, monkeypatch):
    rng = np.random.default_rng(7)
    cfg, names = CONV_CONFIGS[0].values[0], ["out", "dx", "dw", "db"]
    monkeypatch.setitem(CONV_IMPLS, "fast", (cv.conv_forward_fast, conv_backward_dense_dx))
    x, w, b, conv_param = random_conv(rng, cfg)
    dout = rng.standard_normal(cv.conv_forward_naive(x, w, b, conv_param)[0].shape)
    assert nonfinite_differences(*naive_and_fast_conv(x, w, b, conv_param, dout), names) == []
    # right on finite inputs, but a NaN of w or dout spreads over dx
    naive, doctored = naive_and_fast_conv(*conv_nonfinite_case(rng, cfg, target, "inner"))
    problems = nonfinite_differences(naive, doctored, names)
    assert problems and all(p.startswith("dx: NaN") for p in problems)


def naive_and_fast_pool(kind, x, pool_param, dout):
    results = []
    for forward, backward in POOL_IMPLS[kind].values():
        with np.errstate(invalid="ignore"):
            out, cache = forward(x, pool_param)
            results.append((out, backward(dout, cache)))
    return results


def pool_case(rng, cfg, data):
    N, C, H, W, ph, pw, s = cfg
    x = pool_input(rng, (N, C, H, W), data)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": s}
    dout = rng.standard_normal((N, C, (H - ph) // s + 1, (W - pw) // s + 1))
    return x, pool_param, dout


FAST_POOL_CONFIGS = POOL_CONFIGS + [
    pytest.param((3, 4, 24, 22, 2, 2, 2), id="2x2-stride2-tiles"),
    pytest.param((2, 3, 9, 12, 3, 3, 3), id="3x3-stride3-tiles"),
    pytest.param((2, 3, 9, 8, 2, 2, 2), id="2x2-stride2-leftover-row"),
    pytest.param((2, 2, 6, 6, 1, 1, 1), id="1x1"),
]


@pytest.mark.parametrize("data", ["normal", "ties", "negative"])
@pytest.mark.parametrize("cfg", FAST_POOL_CONFIGS)
@pytest.mark.parametrize("seed", SEEDS)
def test_fast_pool_equals_naive(cfg, data, seed):
    """Max pooling bit for bit, with the tie rule; average pooling's gradient bit for bit
    (overlapping windows add in the naive loop's order) and its output to rounding."""
    x, pool_param, dout = pool_case(np.random.default_rng(300 + seed), cfg, data)
    (out_n, dx_n), (out_f, dx_f) = naive_and_fast_pool("max", x, pool_param, dout)
    np.testing.assert_array_equal(out_f, out_n)
    np.testing.assert_array_equal(dx_f, dx_n)
    (out_n, dx_n), (out_f, dx_f) = naive_and_fast_pool("avg", x, pool_param, dout)
    assert out_f.shape == out_n.shape
    np.testing.assert_allclose(out_f, out_n, rtol=1e-12, atol=1e-14)  # sums in another order
    np.testing.assert_array_equal(dx_f, dx_n)


@pytest.mark.parametrize("target", ["x", "dout", "x-inf"])
@pytest.mark.parametrize("where", ["corner", "inner", "random"])
@pytest.mark.parametrize("cfg", FAST_POOL_CONFIGS)
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_fast_pool_puts_nan_where_naive_does(kind, cfg, where, target):
    rng = np.random.default_rng(11)
    x, pool_param, dout = pool_case(rng, cfg, "ties")  # ties: a NaN's window may hold equal maxima
    if target == "dout":
        dout = with_nonfinite(rng, dout, where)
    else:
        x = with_nonfinite(rng, x, where, np.nan if target == "x" else np.inf)
        x = with_nonfinite(rng, x, "random")  # and a second one
    naive, fast = naive_and_fast_pool(kind, x, pool_param, dout)
    assert nonfinite_differences(naive, fast, ["out", "dx"]) == []


def max_pool_backward_mask_times_dout(dout, cache):
    """A wrong max_pool_backward_fast for 2x2 windows at stride 2: the 0/1 mask of the first
    maxima times dout spread over each window. Right on finite values, but 0 * NaN = NaN
    puts a NaN of dout on all four inputs of its window, not on its maximum only."""
    first = pl.max_pool_backward_fast(np.ones_like(dout), cache)  # 1 at each window's first maximum
    return first * np.repeat(np.repeat(dout, 2, axis=2), 2, axis=3)


def test_the_nan_check_catches_a_max_pool_that_spreads_nan(monkeypatch):
    rng = np.random.default_rng(11)
    x, pool_param, dout = pool_case(rng, POOL_CONFIGS[0].values[0], "ties")
    backward = max_pool_backward_mask_times_dout
    monkeypatch.setitem(POOL_IMPLS["max"], "fast", (pl.max_pool_forward_fast, backward))
    assert nonfinite_differences(*naive_and_fast_pool("max", x, pool_param, dout), ["out", "dx"]) == []
    # right on finite inputs, but a NaN of dout spreads over its window
    naive, doctored = naive_and_fast_pool("max", x, pool_param, with_nonfinite(rng, dout, "inner"))
    problems = nonfinite_differences(naive, doctored, ["out", "dx"])
    assert problems and all(p.startswith("dx: NaN") for p in problems)


@pytest.mark.parametrize("stride", [1, 2])
def test_fast_layers_keep_float32(stride):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 20, 18)).astype(np.float32)  # (stride 1: the by-image path)
    w, b = rng.standard_normal((4, 2, 3, 3)).astype(np.float32), np.zeros(4, np.float32)
    out, cache = cv.conv_forward_fast(x, w, b, {"stride": stride, "pad": 1})
    grads = cv.conv_backward_fast(np.ones_like(out), cache)
    assert [a.dtype for a in (out, *grads)] == [np.float32] * 4
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": stride}
    for kind in ("max", "avg"):
        forward, backward = POOL_IMPLS[kind]["fast"]
        out, cache = forward(x, pool_param)
        assert out.dtype == backward(np.ones_like(out), cache).dtype == np.float32, kind


# ----------------------------------------------------------------------------
# Flatten, adaptive and global average pooling
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_flatten(seed):
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((3, 4, 5, 6))
    for x in (base, base.transpose(0, 2, 3, 1), base[:, ::2, :, 1::2], base[:, 0]):  # also non-contiguous
        out, cache = pl.flatten_forward(x)
        np.testing.assert_array_equal(out, x.reshape(x.shape[0], -1))
        np.testing.assert_array_equal(out, tf.reshape(tf.constant(x), (x.shape[0], -1)).numpy())
        dout = rng.standard_normal(out.shape)
        dx = pl.flatten_backward(dout, cache)
        assert dx.shape == x.shape
        np.testing.assert_array_equal(dx, dout.reshape(x.shape))
    x = rng.standard_normal((2, 7))  # already flat
    np.testing.assert_array_equal(pl.flatten_forward(x)[0], x)


def averaging_matrix(n_in, n_out):
    """(n_out, n_in) matrix whose row i averages inputs floor(i n_in / n_out) .. ceil((i+1) n_in / n_out) - 1."""
    A = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = floor(Fraction(i * n_in, n_out)), ceil(Fraction((i + 1) * n_in, n_out))
        A[i, lo:hi] = 1.0 / (hi - lo)
    return A


# (N, C, H, W, H', W')
ADAPTIVE_CONFIGS = [
    (2, 3, 7, 5, 3, 2),
    (2, 2, 6, 6, 3, 3),
    (1, 3, 5, 9, 5, 4),
    (2, 2, 4, 4, 1, 1),
    (3, 1, 8, 6, 4, 3),
    (2, 2, 9, 10, 4, 7),
    (1, 2, 5, 5, 2, 2),
]


@pytest.mark.parametrize("cfg", ADAPTIVE_CONFIGS)
def test_adaptive_avg_pool(cfg):
    N, C, H, W, Ho, Wo = cfg
    rng = np.random.default_rng(sum(cfg))
    x = rng.standard_normal((N, C, H, W))
    A, B = averaging_matrix(H, Ho), averaging_matrix(W, Wo)
    out, cache = pl.adaptive_avg_pool_forward(x, (Ho, Wo) if Ho != Wo else Ho)
    assert out.shape == (N, C, Ho, Wo)
    assert rel_error(out, np.einsum("ih,nchw,jw->ncij", A, x, B)) < 1e-12
    dout = rng.standard_normal(out.shape)
    dx = pl.adaptive_avg_pool_backward(dout, cache)
    assert dx.shape == x.shape
    assert rel_error(dx, np.einsum("ih,ncij,jw->nchw", A, dout, B)) < 1e-12
    numeric = eval_numerical_gradient_array(lambda v: pl.adaptive_avg_pool_forward(v, (Ho, Wo))[0], x, dout)
    assert rel_error(dx, numeric) < TOL
    if H % Ho == 0 and W % Wo == 0:  # then it is plain average pooling, which TensorFlow has
        kh, kw = H // Ho, W // Wo
        ref = tf.nn.avg_pool2d(nhwc(x), ksize=(kh, kw), strides=(kh, kw), padding="VALID")
        assert rel_error(out, nchw(ref)) < TOL


@pytest.mark.parametrize("seed", SEEDS)
def test_global_avg_pool(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 4, 5, 7))
    out, cache = pl.global_avg_pool_forward(x)
    assert out.shape == (3, 4)
    assert rel_error(out, x.mean(axis=(2, 3))) < 1e-12
    dout = rng.standard_normal(out.shape)
    dx = pl.global_avg_pool_backward(dout, cache)
    tx = tf.Variable(nhwc(x))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.reduce_mean(tx, axis=(1, 2)) * dout)
    assert rel_error(dx, nchw(tape.gradient(loss, tx))) < TOL
    numeric = eval_numerical_gradient_array(lambda v: pl.global_avg_pool_forward(v)[0], x, dout)
    assert rel_error(dx, numeric) < TOL


@pytest.mark.parametrize("size", [(0, 2), (6, 2), (2, 8), 6])
def test_adaptive_avg_pool_rejects_bad_size(size):
    with pytest.raises(ValueError):
        pl.adaptive_avg_pool_forward(np.zeros((1, 1, 5, 7)), size)


# ----------------------------------------------------------------------------
# Cost helpers
# ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, expected",
    [
        ((5, 3), 3),
        ((7, 3, 2, 1), 4),
        ((8, 3, 2, 0), 3),
        ((4, 5, 1, 1), 2),
        ((3, 5, 1, 1), 1),
        ((1, 1), 1),
        ((28, 5, 1, 2), 28),
        ((43, 3, 2), 21),
        ((10, 2, 3), 3),
        ((32, 3, 1, 1), 32),
    ],
)
def test_conv_output_size_by_hand(args, expected):
    assert cv.conv_output_size(*args) == expected


@pytest.mark.parametrize("args", [(4, 5), (3, 6, 1, 1), (5, 3, 0, 0), (5, 3, 1, -1), (0, 1), (5, 0)])
def test_conv_output_size_rejects(args):
    with pytest.raises(ValueError):
        cv.conv_output_size(*args)


@pytest.mark.parametrize(
    "args, expected",
    [
        (((32, 32), 3, 32, 3, 1, 1), ((32, 32), 896, 884_736)),
        ((28, 1, 6, 5), ((24, 24), 156, 86_400)),
        (((11, 12), 2, 4, (3, 5), 2, 1), ((6, 5), 124, 3_600)),
        ((14, 6, 16, 5), ((10, 10), 2_416, 240_000)),
        ((16, 32, 32, 3, 2, 1), ((8, 8), 9_248, 589_824)),
    ],
)
def test_conv_layer_cost_by_hand(args, expected):
    assert cv.conv_layer_cost(*args) == expected


def test_conv_layer_cost_rejects_too_large_kernel():
    with pytest.raises(ValueError):
        cv.conv_layer_cost((4, 9), 3, 8, (5, 3))


LENET = [
    ("conv", {"filters": 6, "kernel": 5, "pad": "same"}),
    ("pool", {"size": 2}),
    ("conv", {"filters": 16, "kernel": 5}),
    ("pool", {"size": 2}),
    ("conv", {"filters": 120, "kernel": 5}),
    ("flatten",),
    ("dense", {"units": 84}),
    ("dense", {"units": 10}),
]
# (output shape, parameters, multiply-adds), counted by hand
LENET_HAND = [
    ((28, 28, 6), 156, 117_600),
    ((14, 14, 6), 0, 0),
    ((10, 10, 16), 2_416, 240_000),
    ((5, 5, 16), 0, 0),
    ((1, 1, 120), 48_120, 48_000),
    ((120,), 0, 0),
    ((84,), 10_164, 10_080),
    ((10,), 850, 840),
]

STRIDED = [
    ("conv", {"filters": 32, "kernel": 5}),
    ("conv", {"filters": 32, "kernel": 3, "stride": 2}),
    ("conv", {"filters": 32, "kernel": 3}),
    ("conv", {"filters": 32, "kernel": 3, "stride": 2}),
    ("conv", {"filters": 32, "kernel": 3}),
    ("flatten",),
    ("dense", {"units": 128}),
    ("dense", {"units": 10}),
]
STRIDED_HAND = [
    ((43, 43, 32), 2_432, 4_437_600),
    ((21, 21, 32), 9_248, 4_064_256),
    ((19, 19, 32), 9_248, 3_326_976),
    ((9, 9, 32), 9_248, 746_496),
    ((7, 7, 32), 9_248, 451_584),
    ((1_568,), 0, 0),
    ((128,), 200_832, 200_704),
    ((10,), 1_290, 1_280),
]

NETWORKS = [
    pytest.param((28, 28, 1), LENET, LENET_HAND, 61_706, id="lenet5"),
    pytest.param((47, 47, 3), STRIDED, STRIDED_HAND, 241_546, id="strided-47x47x3"),
]


def keras_per_layer(input_shape, layers):
    """(output shape, count_params()) of each layer, built with Keras (channels-last)."""
    keras = tf.keras
    t = keras.Input(shape=input_shape)
    rows = []
    for kind, *rest in layers:
        opt = rest[0] if rest else {}
        if kind == "conv":
            layer = keras.layers.Conv2D(
                opt["filters"],
                opt["kernel"],
                strides=opt.get("stride", 1),
                padding="same" if opt.get("pad", 0) == "same" else "valid",
            )
        elif kind == "pool":
            layer = keras.layers.MaxPooling2D(opt["size"], strides=opt.get("stride"), padding="valid")
        elif kind == "flatten":
            layer = keras.layers.Flatten()
        else:
            layer = keras.layers.Dense(opt["units"])
        t = layer(t)
        rows.append((tuple(t.shape[1:]), layer.count_params()))
    return rows


@pytest.mark.parametrize("input_shape, layers, hand, total", NETWORKS)
def test_network_cost(input_shape, layers, hand, total):
    rows = cv.network_cost(input_shape, layers)
    assert [(r["output"], r["parameters"], r["macs"]) for r in rows] == hand
    assert sum(r["parameters"] for r in rows) == total
    shapes = [tuple(input_shape)] + [r["output"] for r in rows]
    assert [r["input"] for r in rows] == shapes[:-1]
    assert keras_per_layer(input_shape, layers) == [(r["output"], r["parameters"]) for r in rows]


@pytest.mark.parametrize("kernel, stride", [(3, 2), (5, 2), (7, 3), (1, 1)])
def test_network_cost_same_padding_odd_kernels_match_keras(kernel, stride):
    layers = [("conv", {"filters": 4, "kernel": kernel, "stride": stride, "pad": "same"})]
    row = cv.network_cost((11, 12, 2), layers)[0]
    assert keras_per_layer((11, 12, 2), layers) == [(row["output"], row["parameters"])]


@pytest.mark.parametrize("kernel", [(3, 5), 4])
def test_network_cost_same_padding_even_or_nonsquare_kernel(kernel):
    layers = [("conv", {"filters": 4, "kernel": kernel, "pad": "same"})]
    row = cv.network_cost((11, 12, 2), layers)[0]
    assert keras_per_layer((11, 12, 2), layers) == [(row["output"], row["parameters"])]
