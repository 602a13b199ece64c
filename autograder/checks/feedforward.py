"""Trusted checks for Chapter 1, feed-forward networks (``source_lib/feedforward.py``)."""

from types import ModuleType

import numpy as np

from . import Trial, all_distinct, call, check, distinct, layer_pair

# The graded functions each one builds on, lent in the instructor's version
# (COURSE_SPEC 6: no double penalty).
NETWORK = ("sigmoid", "sigmoid_grad", "forward_propagation", "mse_loss")


def _weights(rng, D, H, C):
    """A weights dict; ``C = None`` gives the single-output form (W2 (H,), scalar b2)."""
    w = {"W1": rng.standard_normal((H, D)), "b1": rng.standard_normal(H) * 0.5}
    if C is None:
        w["W2"], w["b2"] = rng.standard_normal(H), np.array(rng.standard_normal() * 0.5)
    else:
        w["W2"], w["b2"] = rng.standard_normal((C, H)), rng.standard_normal(C) * 0.5
    return w


WEIGHT_REFS = {k: "$" + k for k in ("W1", "b1", "W2", "b2")}


def _ref_weights(w):
    # a 0-d b2 goes to the reference as a Python float, as students are told
    return {k: (float(v) if np.ndim(v) == 0 else v.copy()) for k, v in w.items()}


@check("feedforward.sigmoid")
def sigmoid(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    z = rng.standard_normal(distinct(rng, 2, 9, 2)) * 4
    extreme = np.array([-1000.0, -40.0, -1e-3, 0.0, 1e-3, 40.0, 1000.0])
    return [
        Trial(
            f"a random z of shape {z.shape}",
            {"z": z},
            [call("sigmoid", "$z")],
            {"sigmoid(z)": ref.sigmoid(z.copy())},
            {"sigmoid(z)": "@out"},
        ),
        Trial(
            "z = [-1000, -40, -0.001, 0, 0.001, 40, 1000] (must not overflow)",
            {"z": extreme},
            [call("sigmoid", "$z")],
            {"sigmoid(z)": ref.sigmoid(extreme.copy())},
            {"sigmoid(z)": "@out"},
        ),
    ]


@check("feedforward.sigmoid_grad")
def sigmoid_grad(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    z = rng.standard_normal(distinct(rng, 2, 9, 2)) * 3
    return [
        Trial(
            f"a random z of shape {z.shape}",
            {"z": z},
            [call("sigmoid_grad", "$z")],
            {"sigmoid_grad(z)": ref.sigmoid_grad(z.copy())},
            {"sigmoid_grad(z)": "@out"},
            reference_functions=("sigmoid",),
        )
    ]


def _network_trials(rng, ref, single):
    trials = []
    for C in (None, int(rng.integers(2, 6))) if single else (int(rng.integers(2, 6)),):
        N, D, H = distinct(rng, 3, 12, 3)
        while C in (N, D, H):  # Y (N, C) and W2 (C, H) not square either
            N, D, H = distinct(rng, 3, 12, 3)
        X = rng.standard_normal((N, D))
        w = _weights(rng, D, H, C)
        shape = "a single output unit" if C is None else f"{C} output units"
        trials.append(
            (f"a random network with {shape}: X {X.shape}, W1 {w['W1'].shape}, W2 {w['W2'].shape}", X, w, C)
        )
    return trials


@check("feedforward.forward_propagation")
def forward_propagation(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    out = []
    for desc, X, w, _ in _network_trials(rng, ref, single=True):
        Y, Z2, H, Z1 = ref.forward_propagation(X.copy(), _ref_weights(w))
        out.append(
            Trial(
                desc,
                {"X": X, **w},
                [call("forward_propagation", "$X", WEIGHT_REFS)],
                {"Y": Y, "Z2": Z2, "H": H, "Z1": Z1},
                {"Y": "@out.0", "Z2": "@out.1", "H": "@out.2", "Z1": "@out.3"},
                reference_functions=("sigmoid",),
            )
        )
    return out


@check("feedforward.mse_loss")
def mse_loss(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    out = []
    for shape in (distinct(rng, 3, 20, 1), distinct(rng, 3, 12, 2)):
        Y, Y_T = rng.random(shape), rng.random(shape)
        out.append(
            Trial(
                f"random Y and Y_T of shape {shape}",
                {"Y": Y, "Y_T": Y_T},
                [call("mse_loss", "$Y", "$Y_T")],
                {"loss": ref.mse_loss(Y.copy(), Y_T.copy())},
                {"loss": "@out"},
            )
        )
    return out


def _per_example_scales(ref, X, Y_T, w):
    """Each gradient is the mean of the examples' gradients, which may cancel (a bias
    gradient of errors of both signs): its error is measured against the mean of their
    sizes (``Trial.scales``)."""
    total = 0.0
    for n in range(X.shape[0]):
        grads, _ = ref.back_propagation(X[n : n + 1].copy(), Y_T[n : n + 1].copy(), _ref_weights(w))
        total = total + np.concatenate([np.abs(np.ravel(grads[k])) for k in sorted(grads)])
    sizes = {k: np.size(grads[k]) for k in sorted(grads)}
    scales, start = {}, 0
    for k, size in sizes.items():
        scales[f"gradient d{k}"] = float(total[start : start + size].max()) / X.shape[0]
        start += size
    return scales


@check("feedforward.back_propagation")
def back_propagation(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    out = []
    for desc, X, w, C in _network_trials(rng, ref, single=True):
        N = X.shape[0]
        Y_T = rng.random(N if C is None else (N, C))
        grads, loss = ref.back_propagation(X.copy(), Y_T.copy(), _ref_weights(w))
        expected = {f"gradient d{k}": grads[k] for k in ("W1", "b1", "W2", "b2")}
        expected["loss"] = loss
        refs = {f"gradient d{k}": f"@out.0.{k}" for k in ("W1", "b1", "W2", "b2")}
        refs["loss"] = "@out.1"
        out.append(
            Trial(
                desc,
                {"X": X, "Y_T": Y_T, **w},
                [call("back_propagation", "$X", "$Y_T", WEIGHT_REFS)],
                expected,
                refs,
                scales=_per_example_scales(ref, X, Y_T, w),
                reference_functions=NETWORK,
            )
        )
    return out


def _shapes(inputs):
    return ", ".join(f"{k} {v.shape}" for k, v in inputs.items())


def _affine_cases(rng):
    N, d1, d2, M = distinct(rng, 2, 7, 4)
    while not all_distinct(N, d1, d2, M, d1 * d2):  # x flattened (N, D), w (D, M)
        N, d1, d2, M = distinct(rng, 2, 7, 4)
    inputs = {
        "x": rng.standard_normal((N, d1, d2)),
        "w": rng.standard_normal((d1 * d2, M)),
        "b": rng.standard_normal(M),
    }
    yield _shapes(inputs), inputs, ()


def _relu_cases(rng):
    x = rng.standard_normal(distinct(rng, 2, 8, 3))
    x.flat[::5] = 0.0  # exact zeros: the gradient there is 0 by convention
    yield _shapes({"x": x}), {"x": x}, ()


layer_pair(
    "feedforward",
    "affine_forward",
    "affine_backward",
    _affine_cases,
    grads=("dx", "dw", "db"),
    # db sums dout over the batch, terms that may cancel: its scale is theirs
    scales=lambda inputs, dout, params: {"db": float(np.abs(dout).sum(axis=0).max())},
)
layer_pair("feedforward", "relu_forward", "relu_backward", _relu_cases)


@check("feedforward.softmax_loss")
def softmax_loss(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    trials = []
    for large, what in ((False, "random scores"), (True, "large scores (must not overflow)")):
        N, C = distinct(rng, 3, 12, 2)
        # every large score overflows exp(): a softmax that does not shift fails
        # for every student, not only for those whose draw holds one above 709
        x = rng.uniform(800.0, 1200.0, (N, C)) if large else rng.standard_normal((N, C))
        y = rng.integers(0, C, N).astype(np.int64)
        loss, dx = ref.softmax_loss(x.copy(), y.copy())
        trials.append(
            Trial(
                f"{what} of shape {x.shape}",
                {"x": x, "y": y},
                [call("softmax_loss", "$x", "$y")],
                {"loss": loss, "dx": dx},
                {"loss": "@out.0", "dx": "@out.1"},
            )
        )
    return trials
