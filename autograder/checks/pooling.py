"""Trusted checks for Chapter 3, pooling (``source_lib/pooling.py``).

Window sizes and strides are drawn per student, with overlapping windows
(stride < window) and non-square windows; max-pooling inputs are small
integers so that windows have ties, which must go to the first maximum. No
two dimensions of an input (or of the output) are equal, so that a transposed
or mis-shaped result shows as a wrong shape.
"""

import numpy as np

from . import all_distinct, distinct, layer_pair


def _geometry(rng, overlap):
    while True:
        ph, pw = distinct(rng, 1, 4, 2)
        stride = int(rng.integers(1, min(ph, pw) + 1)) if overlap else max(ph, pw)
        N, C = distinct(rng, 1, 4, 2)
        H, W = int(rng.integers(ph + 1, 9)), int(rng.integers(pw + 2, 10))
        Ho, Wo = (H - ph) // stride + 1, (W - pw) // stride + 1
        if all_distinct(N, C, H, W) and all_distinct(N, C, Ho, Wo):
            return (N, C, H, W), {"pool_height": ph, "pool_width": pw, "stride": stride}


def _describe(shape, pp):
    return f"x of shape {shape}, {pp['pool_height']}x{pp['pool_width']} windows, stride {pp['stride']}"


def _pool_cases(rng):
    for overlap, ties in ((False, False), (True, False), (True, True)):
        shape, pp = _geometry(rng, overlap)
        if ties:  # small integers: most windows hold their maximum more than once
            x = rng.integers(-2, 3, shape).astype(np.float64)
        else:
            x = rng.standard_normal(shape)
        yield _describe(shape, pp) + (" (with ties)" if ties else ""), {"x": x}, (pp,)


def _flatten_cases(rng):
    # three or more axes: with two, every flattening order gives the same rows
    x = rng.standard_normal(distinct(rng, 2, 6, int(rng.integers(3, 5))))
    yield f"x of shape {x.shape}", {"x": x}, ()


for _kind in ("max", "avg"):
    layer_pair("pooling", f"{_kind}_pool_forward_naive", f"{_kind}_pool_backward_naive", _pool_cases)
layer_pair("pooling", "flatten_forward", "flatten_backward", _flatten_cases)
