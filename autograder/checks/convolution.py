"""Trusted checks for Chapter 2, convolution (``source_lib/convolution.py``).

Shapes, strides, paddings and channel counts are drawn per student; every
layer check has a trial with stride > 1, padding, a non-square input and a
non-square kernel.
"""
from . import Trial, call, check, layer_pair


def _geometry(rng, stride=None, pad=None):
    """(x shape, w shape, conv_param) with a window that fits the padded input."""
    N, C, F = (int(v) for v in (rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 5)))
    HH, WW = (int(v) for v in rng.integers(1, 5, 2))
    stride = int(rng.integers(1, 4)) if stride is None else stride
    pad = int(rng.integers(0, 3)) if pad is None else pad
    H = max(int(rng.integers(4, 10)), HH)
    W = max(int(rng.integers(4, 10)), WW)
    if (H, W) == (H, H) and HH == WW:  # keep it non-square somewhere
        W += 1
    return (N, C, H, W), (F, C, HH, WW), {"stride": stride, "pad": pad}


def _describe(xs, ws, cp):
    return f"x {xs}, w {ws}, stride {cp['stride']}, pad {cp['pad']}"


@check("convolution.conv_output_size", task="2.1")
def conv_output_size(rng, ref):
    cases = []
    for _ in range(6):
        k, s, p = int(rng.integers(1, 8)), int(rng.integers(1, 5)), int(rng.integers(0, 4))
        n = int(rng.integers(max(1, k - 2 * p), k - 2 * p + 30))
        cases.append((n, k, s, p))
    steps = [call("conv_output_size", n, k, s, p, as_=f"o{i}") for i, (n, k, s, p) in enumerate(cases)]
    expected = {f"conv_output_size{c}": ref.conv_output_size(*c) for c in cases}
    refs = {f"conv_output_size{c}": f"@o{i}" for i, c in enumerate(cases)}
    return [Trial("(in_size, kernel, stride, pad) = " + ", ".join(map(str, cases)),
                  {}, steps, expected, refs)]


@check("convolution.conv_layer_cost", task="2.2")
def conv_layer_cost(rng, ref):
    trials = []
    for _ in range(2):
        hw = (int(rng.integers(8, 64)), int(rng.integers(8, 64)))
        kernel = (int(rng.integers(1, 8)), int(rng.integers(1, 8)))
        cin, cout = int(rng.integers(1, 64)), int(rng.integers(1, 128))
        stride, pad = int(rng.integers(1, 4)), int(rng.integers(0, 3))
        (oh, ow), params, macs = ref.conv_layer_cost(hw, cin, cout, kernel, stride, pad)
        trials.append(Trial(
            f"in_hw {hw}, {cin} -> {cout} channels, kernel {kernel}, stride {stride}, pad {pad}",
            {}, [call("conv_layer_cost", list(hw), cin, cout, list(kernel), stride, pad)],
            {"out_h": oh, "out_w": ow, "parameters": params, "macs": macs},
            {"out_h": "@out.0.0", "out_w": "@out.0.1", "parameters": "@out.1", "macs": "@out.2"}))
    return trials


def _conv_cases(rng):
    for stride, pad in ((1, 0), (None, None), (2, 1)):
        xs, ws, cp = _geometry(rng, stride, pad)
        inputs = {"x": rng.standard_normal(xs), "w": rng.standard_normal(ws),
                  "b": rng.standard_normal(ws[0])}
        yield _describe(xs, ws, cp), inputs, (cp,)


def _transpose_cases(rng):
    for stride, pad in ((1, 0), (2, 1)):
        N, C, F = (int(v) for v in (rng.integers(1, 3), rng.integers(1, 4), rng.integers(1, 4)))
        H, W = int(rng.integers(2, 6)), int(rng.integers(2, 6))
        HH, WW = int(rng.integers(2 * pad + 1, 5)), int(rng.integers(2 * pad + 1, 5))
        cp = {"stride": stride, "pad": pad}
        inputs = {"x": rng.standard_normal((N, C, H, W)), "w": rng.standard_normal((C, F, HH, WW)),
                  "b": rng.standard_normal(F)}
        yield _describe((N, C, H, W), (C, F, HH, WW), cp), inputs, (cp,)


layer_pair("convolution", "conv_forward_naive", "conv_backward_naive", ("2.3", "2.4"),
           _conv_cases, grads=("dx", "dw", "db"))
layer_pair("convolution", "conv_transpose_forward", "conv_transpose_backward", ("2.5", "2.6"),
           _transpose_cases, grads=("dx", "dw", "db"))
