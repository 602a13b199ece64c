"""Trusted checks for Chapter 3, pooling (``source_lib/pooling.py``).

Window sizes and strides are drawn per student, with overlapping windows
(stride < window) and non-square windows; max-pooling inputs are small
integers so that windows have ties, which must go to the first maximum.
"""
import numpy as np

from . import check, layer_trial


def _geometry(rng, overlap):
    ph, pw = int(rng.integers(1, 4)), int(rng.integers(2, 4))
    stride = int(rng.integers(1, min(ph, pw) + 1)) if overlap else max(ph, pw)
    N, C = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    H, W = int(rng.integers(ph + 1, 9)), int(rng.integers(pw + 2, 10))
    return (N, C, H, W), {"pool_height": ph, "pool_width": pw, "stride": stride}


def _describe(shape, pp):
    return (f"x of shape {shape}, {pp['pool_height']}x{pp['pool_width']} windows, "
            f"stride {pp['stride']}")


def _pool_trials(rng, ref, kind, backward):
    trials = []
    for overlap, ties in ((False, False), (True, False), (True, True)):
        shape, pp = _geometry(rng, overlap)
        if ties:  # small integers: most windows hold their maximum more than once
            x = rng.integers(-2, 3, shape).astype(np.float64)
        else:
            x = rng.standard_normal(shape)
        desc = _describe(shape, pp) + (" (with ties)" if ties else "")
        trials.append(layer_trial(rng, ref, desc, {"x": x}, f"{kind}_pool_forward_naive",
                                  f"{kind}_pool_backward_naive" if backward else None,
                                  params=(pp,)))
    return trials


@check("pooling.max_pool_forward_naive", task="3.1")
def max_pool_forward_naive(rng, ref):
    return _pool_trials(rng, ref, "max", backward=False)


@check("pooling.max_pool_backward_naive", task="3.2")
def max_pool_backward_naive(rng, ref):
    return _pool_trials(rng, ref, "max", backward=True)


@check("pooling.avg_pool_forward_naive", task="3.3")
def avg_pool_forward_naive(rng, ref):
    return _pool_trials(rng, ref, "avg", backward=False)


@check("pooling.avg_pool_backward_naive", task="3.4")
def avg_pool_backward_naive(rng, ref):
    return _pool_trials(rng, ref, "avg", backward=True)


def _flatten_input(rng):
    # three or more axes: with two, every flattening order gives the same rows
    return rng.standard_normal(tuple(int(v) for v in rng.integers(2, 5, int(rng.integers(3, 5)))))


@check("pooling.flatten_forward", task="3.5")
def flatten_forward(rng, ref):
    x = _flatten_input(rng)
    return [layer_trial(rng, ref, f"x of shape {x.shape}", {"x": x}, "flatten_forward")]


@check("pooling.flatten_backward", task="3.6")
def flatten_backward(rng, ref):
    x = _flatten_input(rng)
    return [layer_trial(rng, ref, f"x of shape {x.shape}", {"x": x}, "flatten_forward",
                        "flatten_backward")]
