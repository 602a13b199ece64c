"""Trusted checks for Chapter 5, sparse autoencoders (``source_lib/autoencoder.py``).

Preprocessing is checked on a set mixing flat and high-contrast patches, so
that clipping over the whole set and clipping per patch give different
answers. The cost and its gradients are checked on random networks with every
hyperparameter drawn at random. Training has many right answers: it is judged
by the cost its parameters reach (at least 95% of the way from the initial
cost to the one the instructor's L-BFGS reaches in the same iterations),
with the instructor's ``sparse_autoencoder_loss`` substituted for the
student's, so that a bug in Task 5.2 is not paid for twice.
"""

from types import ModuleType

import numpy as np

from . import Trial, all_distinct, call, check, distinct

PARAMS = ("W1", "b1", "W2", "b2")


def _patches(rng):
    N = int(rng.integers(8, 20))
    h, w = distinct(rng, 4, 8, 2)  # neither equal to the 3 colour channels nor to each other
    patches = rng.uniform(0.3, 0.7, (N, h, w, 3)) * rng.uniform(0.05, 0.3) + rng.uniform(0, 0.6)
    loud = rng.choice(N, size=max(2, N // 4), replace=False)  # high-contrast patches get clipped
    patches[loud] = rng.uniform(0.0, 1.0, (len(loud), h, w, 3))
    return np.clip(patches, 0.0, 1.0)


@check("autoencoder.preprocess_patches")
def preprocess_patches(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    trials = []
    for _ in range(2):
        p = _patches(rng)
        trials.append(
            Trial(
                f"{p.shape[0]} random RGB patches of shape {p.shape[1:]}, "
                f"some flat and some of high contrast",
                {"patches": p},
                [call("preprocess_patches", "$patches")],
                {"X": ref.preprocess_patches(p.copy())},
                {"X": "@out"},
            )
        )
    return trials


def _problem(rng):
    N, D, H = int(rng.integers(4, 12)), int(rng.integers(4, 13)), int(rng.integers(2, 7))
    while not all_distinct(N, D, H):  # a transposed gradient shows as a wrong shape
        N, D, H = int(rng.integers(4, 12)), int(rng.integers(4, 13)), int(rng.integers(2, 7))
    params = {
        "W1": rng.standard_normal((H, D)) * 0.5,
        "b1": rng.standard_normal(H) * 0.5,
        "W2": rng.standard_normal((D, H)) * 0.5,
        "b2": rng.standard_normal(D) * 0.5,
    }
    X = rng.uniform(0.1, 0.9, (N, D))
    hyper = {
        "lam": float(rng.uniform(1e-3, 0.1)),
        "beta": float(rng.uniform(0.5, 3.0)),
        "rho": float(rng.uniform(0.05, 0.3)),
    }
    return X, params, hyper


@check("autoencoder.sparse_autoencoder_loss")
def sparse_autoencoder_loss(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    trials = []
    for _ in range(2):
        X, params, hyper = _problem(rng)
        cost, grads = ref.sparse_autoencoder_loss({k: v.copy() for k, v in params.items()}, X.copy(), **hyper)
        expected = {"cost": cost, **{f"gradient d{k}": grads[k] for k in PARAMS}}
        refs = {"cost": "@out.0", **{f"gradient d{k}": f"@out.1.{k}" for k in PARAMS}}
        desc = (
            f"X {X.shape}, W1 {params['W1'].shape}, lam={hyper['lam']:.4g}, "
            f"beta={hyper['beta']:.4g}, rho={hyper['rho']:.4g}"
        )
        trials.append(
            Trial(
                desc,
                {"X": X, **params},
                [
                    call(
                        "sparse_autoencoder_loss",
                        {k: "$" + k for k in PARAMS},
                        "$X",
                        hyper["lam"],
                        hyper["beta"],
                        hyper["rho"],
                    )
                ],
                expected,
                refs,
            )
        )
    return trials


def _training_judge(ref, X, H, hyper, max_iter, seed):
    D = X.shape[1]

    def cost(params):
        return ref.sparse_autoencoder_loss(params, X, **hyper)[0]

    start = cost(ref.initialize_parameters(H, D, seed))
    reached = cost(ref.train_autoencoder(X, H, max_iter=max_iter, seed=seed, **hyper)[0])
    bar = reached + 0.05 * (start - reached)

    def judge(outputs):
        params = {k: outputs[k] for k in PARAMS}
        for k, shape in (("W1", (H, D)), ("b1", (H,)), ("W2", (D, H)), ("b2", (D,))):
            if params[k].shape != shape:
                return f"{k}: expected shape {shape}, got {params[k].shape}"
        if not np.all([np.isfinite(v).all() for v in params.values()]):
            return "the trained parameters contain NaN or infinity"
        final = cost(params)
        if not final <= bar:
            return (
                f"your trained parameters have cost {final:.6g}; starting from "
                f"initialize_parameters({H}, {D}, seed={seed}) (cost {start:.6g}), "
                f"{max_iter} L-BFGS iterations reach {reached:.6g}, and at most "
                f"{bar:.6g} passes"
            )
        history = outputs["history"]
        if history.ndim != 1 or not 1 <= len(history) <= max_iter:
            return (
                f"history: expected one cost per iteration (a 1-D array of 1 to "
                f"max_iter={max_iter} values), got shape {history.shape}"
            )
        if not abs(history[-1] - final) <= 1e-4 * abs(final):
            return (
                f"history: its last cost {history[-1]:.6g} is not the cost of the "
                f"returned parameters ({final:.6g})"
            )
        return None

    return judge


@check("autoencoder.train_autoencoder")
def train_autoencoder(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    N, H = int(rng.integers(30, 50)), int(rng.integers(3, 7))
    side = int(rng.integers(3, 5))
    X = rng.uniform(0.1, 0.9, (N, side * side))
    hyper = {
        "lam": float(rng.uniform(1e-4, 1e-2)),
        "beta": float(rng.uniform(0.5, 3.0)),
        "rho": float(rng.uniform(0.05, 0.2)),
    }
    max_iter, seed = int(rng.integers(30, 60)), int(rng.integers(0, 1000))
    shapes = dict.fromkeys((*PARAMS, "history"))  # all judged by _training_judge
    refs = {k: f"@out.0.{k}" for k in PARAMS}
    refs["history"] = "@out.1"
    step = call("train_autoencoder", "$X", H, max_iter=max_iter, seed=seed, **hyper)
    trial = Trial(
        f"X {X.shape}, hidden_size={H}, max_iter={max_iter}, seed={seed}, "
        f"lam={hyper['lam']:.4g}, beta={hyper['beta']:.4g}, rho={hyper['rho']:.4g}",
        {"X": X},
        [step],
        shapes,
        refs,
        judge=_training_judge(ref, X, H, hyper, max_iter, seed),
        reference_functions=("sparse_autoencoder_loss",),
    )
    return [trial]
