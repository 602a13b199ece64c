"""Trusted checks for Chapter 2, convolution (``source_lib/convolution.py``).

Shapes, strides, paddings and channel counts are drawn per student; every
layer check has a trial with stride > 1, padding, a non-square input and a
non-square kernel. No two dimensions of an array are equal, nor a stride and
a padding, so that a transposed or mis-shaped result shows as a wrong shape.
Functions that use ``conv_output_size`` are graded on the instructor's.
"""

from types import ModuleType

import numpy as np

from . import Trial, all_distinct, call, check, distinct, layer_pair

SIZE = ("conv_output_size",)


def _out(n, k, s, p):
    return (n + 2 * p - k) // s + 1


def _geometry(rng, stride=None, pad=None):
    """(x shape, w shape, conv_param) with a window that fits the padded input."""
    if stride is None:
        stride = int(rng.integers(1, 4))
        pad = int(rng.choice([p for p in range(3) if p != stride]))
    while True:
        N, C, F = distinct(rng, 1, 5, 3)
        HH, WW = distinct(rng, 1, 5, 2)
        H, W = distinct(rng, 4, 10, 2)
        Ho, Wo = _out(H, HH, stride, pad), _out(W, WW, stride, pad)
        # N > 1: a loop over the batch that stops after the first example fails
        if N > 1 and all_distinct(N, C, H, W) and all_distinct(F, C, HH, WW) and all_distinct(N, F, Ho, Wo):
            return (N, C, H, W), (F, C, HH, WW), {"stride": stride, "pad": pad}


def _describe(xs, ws, cp):
    return f"x {xs}, w {ws}, stride {cp['stride']}, pad {cp['pad']}"


@check("convolution.conv_output_size")
def conv_output_size(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    cases = []
    for _ in range(6):
        k, s = int(rng.integers(1, 8)), int(rng.integers(1, 5))
        p = int(rng.choice([p for p in range(4) if p != s]))
        n = int(rng.integers(max(1, k - 2 * p), k - 2 * p + 30))
        cases.append((n, k, s, p))
    steps = [call("conv_output_size", n, k, s, p, as_=f"o{i}") for i, (n, k, s, p) in enumerate(cases)]
    expected = {f"conv_output_size{c}": ref.conv_output_size(*c) for c in cases}
    refs = {f"conv_output_size{c}": f"@o{i}" for i, c in enumerate(cases)}
    return [
        Trial("(in_size, kernel, stride, pad) = " + ", ".join(map(str, cases)), {}, steps, expected, refs)
    ]


@check("convolution.conv_layer_cost")
def conv_layer_cost(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    trials = []
    for _ in range(2):
        hw, kernel = distinct(rng, 8, 64, 2), distinct(rng, 1, 8, 2)
        cin, cout = distinct(rng, 1, 64, 2)
        stride = int(rng.integers(1, 4))
        pad = int(rng.choice([p for p in range(3) if p != stride]))
        (oh, ow), params, macs = ref.conv_layer_cost(hw, cin, cout, kernel, stride, pad)
        trials.append(
            Trial(
                f"in_hw {hw}, {cin} -> {cout} channels, kernel {kernel}, stride {stride}, pad {pad}",
                {},
                [call("conv_layer_cost", list(hw), cin, cout, list(kernel), stride, pad)],
                {"out_h": oh, "out_w": ow, "parameters": params, "macs": macs},
                {"out_h": "@out.0.0", "out_w": "@out.0.1", "parameters": "@out.1", "macs": "@out.2"},
                reference_functions=SIZE,
            )
        )
    return trials


def _conv_cases(rng):
    for stride, pad in ((1, 0), (None, None), (2, 1)):
        xs, ws, cp = _geometry(rng, stride, pad)
        inputs = {"x": rng.standard_normal(xs), "w": rng.standard_normal(ws), "b": rng.standard_normal(ws[0])}
        yield _describe(xs, ws, cp), inputs, (cp,)


def _transpose_cases(rng):
    for stride, pad in ((1, 0), (2, 1)):
        while True:
            N, C, F = distinct(rng, 1, 5, 3)
            H, W = distinct(rng, 2, 6, 2)
            HH, WW = distinct(rng, 2 * pad + 1, 6, 2)
            Ho, Wo = ((H - 1) * stride + HH - 2 * pad, (W - 1) * stride + WW - 2 * pad)
            if (
                N > 1
                and all_distinct(N, C, H, W)
                and all_distinct(C, F, HH, WW)
                and all_distinct(N, F, Ho, Wo)
            ):
                break
        cp = {"stride": stride, "pad": pad}
        inputs = {
            "x": rng.standard_normal((N, C, H, W)),
            "w": rng.standard_normal((C, F, HH, WW)),
            "b": rng.standard_normal(F),
        }
        yield _describe((N, C, H, W), (C, F, HH, WW), cp), inputs, (cp,)


def _bias_scale(inputs, dout, params):
    """db sums dout over the batch and positions, terms that may cancel: its scale is theirs."""
    return {"db": float(np.abs(dout).sum(axis=(0, 2, 3)).max())}


layer_pair(
    "convolution",
    "conv_forward_naive",
    "conv_backward_naive",
    _conv_cases,
    grads=("dx", "dw", "db"),
    lend=(SIZE, SIZE),
    scales=_bias_scale,
)
layer_pair(
    "convolution",
    "conv_transpose_forward",
    "conv_transpose_backward",
    _transpose_cases,
    grads=("dx", "dw", "db"),
    scales=_bias_scale,
)
