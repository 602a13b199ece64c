"""Trusted checks for Chapter 4, normalization (``source_lib/normalization.py``).

Batch norm is checked in training mode (outputs and the running statistics it
writes back), in test mode after a training step, and for its backward in
both modes; group norm with G = 1, G = C and an intermediate G; layer and
group norm with N = 1 among the trials.
"""

import copy
from types import ModuleType

import numpy as np

from . import Trial, all_distinct, call, check, distinct, layer_pair, layer_trial


def _affine(rng, size):
    return {"gamma": rng.standard_normal(size) * 0.5 + 1.0, "beta": rng.standard_normal(size)}


def _batch(rng, shape):
    # an offset and a spread per feature: normalizing must remove both
    return rng.standard_normal(shape) * rng.uniform(0.5, 3.0) + rng.uniform(-2, 2)


def _grad_scales(x, dout, gamma, eps, groups=None, per_example=False):
    """The scales of a normalization's gradients (``Trial.scales``): the size of the terms
    whose sums cancel, not of the sums.

    ``dx`` is a difference of terms of size |dout * gamma| / std, which nearly
    cancel when the statistics cover few values (N = 2); ``dgamma`` and
    ``dbeta`` are sums over the batch of |dout * xhat| and |dout|. Statistics
    are taken over the batch (batch norm), each example (``per_example``, layer
    norm) or each example's ``groups`` of channels (group norm).
    """
    if groups is not None:
        N, C = x.shape[:2]
        stats = x.reshape(N, groups, -1)
        axes = (2,)
    else:
        stats, axes = x, ((1,) if per_example else (0,) + tuple(range(2, x.ndim)))
    mean = stats.mean(axis=axes, keepdims=True)
    inv = 1.0 / np.sqrt(stats.var(axis=axes, keepdims=True) + eps)
    xhat = ((stats - mean) * inv).reshape(x.shape)
    shape = [1] * x.ndim
    shape[1] = -1
    reduce = (0,) + tuple(range(2, x.ndim))
    return {
        "dx": float(np.abs(dout * gamma.reshape(shape)).max() * inv.max()),
        "dgamma": float(np.abs(dout * xhat).sum(axis=reduce).max()),
        "dbeta": float(np.abs(dout).sum(axis=reduce).max()),
    }


def _bn_trials(rng, ref, spatial, backward):
    """Training mode, with the running statistics written back, and test mode."""
    name = "spatial_batchnorm" if spatial else "batchnorm"
    # Spatial batch norm is graded on the instructor's batchnorm_forward (whose
    # writes into bn_param reach the student's dict) and batchnorm_backward.
    lend = ("batchnorm_forward", "batchnorm_backward") if spatial else ()
    trials = []
    for mode in ("train", "test"):
        # every dimension different: a transposed result shows as a wrong shape
        shape = distinct(rng, 1, 6, 4) if spatial else distinct(rng, 1, 9, 2)
        # only D may be 1: channels mixed up by a reshape without a transpose
        # then show for every student
        while 1 in (shape[0], *shape[2:]) or (spatial and shape[1] == 1):
            shape = distinct(rng, 1, 6, 4) if spatial else distinct(rng, 1, 9, 2)
        C = shape[1]
        param = {
            "mode": mode,
            "eps": float(rng.choice([1e-5, 1e-3])),
            "momentum": float(rng.choice([0.9, 0.8])),
        }
        if mode == "test" or rng.random() < 0.5:  # running statistics from earlier batches
            param["running_mean"] = rng.standard_normal(C)
            param["running_var"] = rng.uniform(0.5, 2.0, C)
        inputs = {"x": _batch(rng, shape), **_affine(rng, C)}
        desc = f"x of shape {shape}, mode '{mode}'"
        if backward:
            trials.append(
                layer_trial(
                    rng,
                    ref,
                    desc,
                    inputs,
                    f"{name}_forward",
                    f"{name}_backward",
                    params=(param,),
                    grads=("dx", "dgamma", "dbeta"),
                    lend=lend,
                    scales=lambda i, d, eps=param["eps"]: _grad_scales(i["x"], d, i["gamma"], eps),
                )
            )
            continue
        written = copy.deepcopy(param)
        out, _ = getattr(ref, f"{name}_forward")(*(inputs[k].copy() for k in inputs), written)
        expected, refs = {"out": out}, {"out": "@fwd.0"}
        for key in ("running_mean", "running_var"):
            if key in written:  # what the forward pass wrote back into bn_param
                expected[f"bn_param['{key}']"] = written[key]
                refs[f"bn_param['{key}']"] = f"@param.{key}"
        steps = [
            {"value": param, "as": "param"},
            call(f"{name}_forward", "$x", "$gamma", "$beta", "@param", as_="fwd"),
        ]
        # a running mean of centred data cancels towards 0: its error is
        # measured against the data's share of it (source_lib.checking)
        scales = {"bn_param['running_mean']": (1 - param["momentum"]) * float(np.abs(inputs["x"]).max())}
        trials.append(Trial(desc, inputs, steps, expected, refs, scales=scales, reference_functions=lend[:1]))
    return trials


@check("normalization.batchnorm_forward")
def batchnorm_forward(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    return _bn_trials(rng, ref, spatial=False, backward=False)


@check("normalization.batchnorm_backward")
def batchnorm_backward(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    return _bn_trials(rng, ref, spatial=False, backward=True)


@check("normalization.spatial_batchnorm_forward")
def spatial_batchnorm_forward(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    return _bn_trials(rng, ref, spatial=True, backward=False)


@check("normalization.spatial_batchnorm_backward")
def spatial_batchnorm_backward(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    return _bn_trials(rng, ref, spatial=True, backward=True)


def _ln_cases(rng):
    for first in (True, False):
        D = int(rng.integers(2, 9))
        N = 1 if first else int(rng.choice([n for n in range(2, 7) if n != D]))
        inputs = {"x": _batch(rng, (N, D)), **_affine(rng, D)}
        yield f"x of shape {(N, D)}", inputs, ({"eps": float(rng.choice([1e-5, 1e-3]))},)


def _gn_cases(rng):
    # G differs from C / G: groups of G channels instead of C / G are then wrong
    C = int(rng.choice([6, 8]))
    middle = int(rng.choice([g for g in (2, 3, 4) if C % g == 0 and g * g != C]))
    for N, G in ((1, middle), (int(rng.integers(2, 4)), 1), (int(rng.integers(2, 4)), C)):
        H, W = distinct(rng, 2, 6, 2)
        while not all_distinct(N, C, H, W):
            H, W = distinct(rng, 2, 6, 2)
        shape = (N, C, H, W)
        inputs = {"x": _batch(rng, shape), **_affine(rng, C)}
        yield (f"x of shape {shape}, G = {G}", inputs, (G, {"eps": float(rng.choice([1e-5, 1e-3]))}))


layer_pair(
    "normalization",
    "layernorm_forward",
    "layernorm_backward",
    _ln_cases,
    grads=("dx", "dgamma", "dbeta"),
    scales=lambda i, d, p: _grad_scales(i["x"], d, i["gamma"], p[0]["eps"], per_example=True),
)
# group norm may be written with layer norm: graded on the instructor's
layer_pair(
    "normalization",
    "spatial_groupnorm_forward",
    "spatial_groupnorm_backward",
    _gn_cases,
    grads=("dx", "dgamma", "dbeta"),
    lend=(("layernorm_forward",), ("layernorm_forward", "layernorm_backward")),
    scales=lambda i, d, p: _grad_scales(i["x"], d, i["gamma"], p[1]["eps"], groups=p[0]),
)
