"""Trusted checks for Chapter 4's Keras layer (``source_lib/keras_layers.py``).

The student's ``BatchNormLayer`` is built and run in the sandbox; its weights
and outputs come back as float32 arrays. Expected values are computed here in
float64 from the formulas (the project's tests show the instructor's layer
matches ``keras.layers.BatchNormalization``), so this process never imports
TensorFlow. The tolerance is the course's one policy (``source_lib.checking``),
which float32 code meets.
"""

import numpy as np

from . import Trial, call, check, distinct

WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")


def _shape(rng, spatial):
    # no two dimensions equal: a transposed result shows as a wrong shape
    if not spatial:
        N = int(rng.integers(3, 7))
        return N, int(rng.choice([c for c in range(1, 5) if c != N]))
    return distinct(rng, 2, 7, 4)  # (N, H, W, C)


@check("keras_layers.BatchNormLayer.build", reference=False, keras=True)
def build(rng: np.random.Generator, ref: None) -> list[Trial]:
    trials = []
    for shared, spatial in ((False, bool(rng.integers(0, 2))), (True, True)):
        shape = _shape(rng, spatial)
        C = shape[-1]
        affine = (1,) if shared else (C,)
        expected = {
            "gamma": np.ones(affine),
            "beta": np.zeros(affine),
            "moving_mean": np.zeros(C),
            "moving_variance": np.ones(C),
        }
        steps = [
            call("BatchNormLayer", shared_affine=shared, as_="bn"),
            {"call": "@bn.build", "args": [[None, *shape[1:]]], "kwargs": {}, "as": "built"},
        ]
        trials.append(
            Trial(
                f"input shape {(None, *shape[1:])}, shared_affine={shared}",
                {},
                steps,
                expected,
                {w: f"@bn.{w}" for w in WEIGHTS},
            )
        )
    return trials


def _batchnorm(x, gamma, beta, mean, var, eps):
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


@check("keras_layers.BatchNormLayer.call", reference=False, keras=True)
def call_(rng: np.random.Generator, ref: None) -> list[Trial]:
    trials = []
    for spatial in (False, True):
        shape = _shape(rng, spatial)
        C = shape[-1]
        momentum, eps = float(rng.choice([0.9, 0.99])), float(rng.choice([1e-3, 1e-5]))
        batches = [
            (rng.standard_normal(shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)).astype(np.float32)
            for _ in range(4)
        ]
        gamma = (rng.standard_normal(C) * 0.5 + 1).astype(np.float32)
        beta = rng.standard_normal(C).astype(np.float32)
        axes = tuple(range(len(shape) - 1))
        mean, var = np.zeros(C), np.ones(C)
        outputs = []
        for x in batches[:3]:  # three training steps
            x = x.astype(np.float64)
            m, v = x.mean(axis=axes), x.var(axis=axes)
            outputs.append(_batchnorm(x, gamma, beta, m, v, eps))
            mean, var = mean * momentum + m * (1 - momentum), var * momentum + v * (1 - momentum)
        inference = _batchnorm(batches[3].astype(np.float64), gamma, beta, mean, var, eps)
        inputs = {f"x{i}": b for i, b in enumerate(batches)}
        # the moving statistics are set too, to build's values: a bug in build
        # (Task 4.9) then costs only its own points
        inputs.update(gamma=gamma, beta=beta, mean0=np.zeros(C, np.float32), var0=np.ones(C, np.float32))
        steps = [
            call("BatchNormLayer", momentum=momentum, epsilon=eps, as_="bn"),
            {"call": "@bn.build", "args": [list(shape)], "kwargs": {}, "as": "built"},
        ]
        steps += [
            {"call": f"@bn.{w}.assign", "args": [f"${v}"], "kwargs": {}, "as": f"set_{w}"}
            for w, v in zip(WEIGHTS, ("gamma", "beta", "mean0", "var0"))
        ]
        steps += [
            {"call": "@bn", "args": [f"$x{i}"], "kwargs": {"training": True}, "as": f"train{i}"}
            for i in range(3)
        ]
        steps.append({"call": "@bn", "args": ["$x3"], "kwargs": {"training": False}, "as": "infer"})
        expected = {
            "output of the first training step": outputs[0],
            "output of the third training step": outputs[2],
            "moving_mean after three training steps": mean,
            "moving_variance after three training steps": var,
            "output in inference mode": inference,
        }
        refs = {
            "output of the first training step": "@train0",
            "output of the third training step": "@train2",
            "moving_mean after three training steps": "@bn.moving_mean",
            "moving_variance after three training steps": "@bn.moving_variance",
            "output in inference mode": "@infer",
        }
        # the moving mean of centred batches cancels towards 0: its error is
        # measured against the data's share of it (source_lib.checking)
        scales = {
            "moving_mean after three training steps": (1 - momentum**3)
            * max(float(np.abs(b).max()) for b in batches)
        }
        trials.append(
            Trial(
                f"inputs of shape {shape}, momentum {momentum}, epsilon {eps}: "
                f"three training steps, then inference",
                inputs,
                steps,
                expected,
                refs,
                scales=scales,
            )
        )
    return trials
