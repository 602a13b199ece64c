"""Trusted checks for Chapter 6, LeNet (``source_lib/lenet.py``).

``build_lenet5`` is checked by its architecture, not only its parameter
count: the trusted side draws weights of the shapes the classic design has,
in its order, and the student's model must accept them (``set_weights``),
count the same parameters and compute the same probabilities as a numpy
forward pass written here with the instructor's layers (for other input
shapes and class counts too, and with the batch-normalization variant in
inference mode); with dropout, its training-mode output must differ from its
inference output. The checks never import TensorFlow: Keras runs only in the
sandbox.

``ThreeLayerConvNet.loss`` and ``Solver``'s ``sgd_momentum`` are graded with
the instructor's Chapter 1-3 layers in place of the student's, so a bug there
costs its own chapter's points only.
"""

from types import ModuleType

import numpy as np

from . import Trial, all_distinct, call, check, distinct

EARLIER = ("feedforward", "convolution", "pooling")
BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default


def _lenet_weights(rng, input_shape, num_classes, batchnorm):
    """Keras-ordered weights of LeNet-5 and the matching numpy forward pass."""
    H, W, C = input_shape
    h, w = H // 2, W // 2  # after 'same' conv and pooling
    h, w = (h - 4) // 2, (w - 4) // 2  # after the 'valid' conv and pooling
    h, w = h - 4, w - 4  # after the last conv
    layers = [
        ("conv", (5, 5, C, 6)),
        ("conv", (5, 5, 6, 16)),
        ("conv", (5, 5, 16, 120)),
        ("dense", (h * w * 120, 84)),
        ("dense", (84, num_classes)),
    ]
    weights, plan = [], []
    for i, (kind, shape) in enumerate(layers):
        fan_in = int(np.prod(shape[:-1]))
        kernel = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        bias = rng.standard_normal(shape[-1]) * 0.1
        weights += [kernel, bias]
        bn = None
        if batchnorm and i < 4:
            n = shape[-1]
            bn = [
                rng.uniform(0.5, 1.5, n),
                rng.standard_normal(n) * 0.1,
                rng.standard_normal(n) * 0.1,
                rng.uniform(0.5, 2.0, n),
            ]
            weights += bn
        plan.append((kind, kernel, bias, bn))
    return weights, plan


def _lenet_forward(ref, x, plan):
    """LeNet-5 in numpy with the instructor's layers; x is NHWC, as Keras has it."""
    out = x.astype(np.float64).transpose(0, 3, 1, 2)  # NCHW
    pool = {"pool_height": 2, "pool_width": 2, "stride": 2}
    for i, (kind, kernel, bias, bn) in enumerate(plan):
        if kind == "conv":
            pad = 2 if i == 0 else 0
            out, _ = ref.conv_forward_fast(out, kernel.transpose(3, 2, 0, 1), bias, {"stride": 1, "pad": pad})
        else:
            if out.ndim == 4:  # Keras flattens channels last
                out = out.transpose(0, 2, 3, 1).reshape(len(out), -1)
            out = out @ kernel + bias
        if bn is not None:
            gamma, beta, mean, var = bn
            shape = (1, -1, 1, 1) if out.ndim == 4 else (1, -1)
            out = gamma.reshape(shape) * (out - mean.reshape(shape)) / np.sqrt(
                var.reshape(shape) + BN_EPSILON
            ) + beta.reshape(shape)
        if i < 4:
            out = np.maximum(out, 0.0)
        if i < 2:
            out, _ = ref.max_pool_forward_fast(out, pool)
    out = out - out.max(axis=1, keepdims=True)
    return np.exp(out) / np.exp(out).sum(axis=1, keepdims=True)


@check("lenet.build_lenet5", keras=True)
def build_lenet5(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    trials = []
    other = (int(rng.choice([32, 36])), 28, int(rng.integers(2, 4)))  # not square
    for input_shape, num_classes, variant in [
        ((28, 28, 1), 10, {}),
        (other, int(rng.integers(3, 12)), {}),
        (other, int(rng.integers(3, 12)), {"batchnorm": True}),
        ((28, 28, 1), int(rng.integers(3, 12)), {"dropout": float(rng.uniform(0.3, 0.6))}),
    ]:
        batchnorm = variant.get("batchnorm", False)
        weights, plan = _lenet_weights(rng, input_shape, num_classes, batchnorm)
        x = rng.uniform(0, 1, (3, *input_shape)).astype(np.float32)
        kwargs = {"input_shape": list(input_shape), "num_classes": num_classes, **variant}
        steps = [
            call("build_lenet5", as_="model", **kwargs),
            call("@model.set_weights", weights, as_="set"),
            call("@model.count_params", as_="count"),
            call("@model", "$x", training=False, as_="out"),
        ]
        expected = {
            "number of parameters": np.array(float(sum(w.size for w in weights))),
            "probabilities": _lenet_forward(ref, x, plan),
        }
        refs = {"number of parameters": "@count", "probabilities": "@out"}
        judge = None
        if "dropout" in variant:
            steps.append(call("@model", "$x", training=True, as_="train"))
            expected["training-mode probabilities"] = None
            refs["training-mode probabilities"] = "@train"

            def judge(outputs, probs=expected["probabilities"]):
                if np.allclose(outputs["training-mode probabilities"], probs, atol=1e-6):
                    return (
                        "with dropout, the output in training mode (training=True) "
                        "equals the output in inference mode: where is the Dropout?"
                    )
                return None

        args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        trials.append(
            Trial(
                f"build_lenet5({args}) with random weights, 3 random images",
                {"x": x},
                steps,
                expected,
                refs,
                judge=judge,
            )
        )
    return trials


PARAMS = ("W1", "b1", "W2", "b2", "W3", "b3")


@check("lenet.ThreeLayerConvNet.loss", reference_modules=EARLIER)
def convnet_loss(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    trials = []
    for _ in range(2):
        # no two dimensions of an array equal (W1's filters are square by the API)
        while True:
            N, C = distinct(rng, 1, 5, 2)
            H, W = (2 * d for d in distinct(rng, 3, 6, 2))
            F, hidden, classes = int(rng.integers(2, 5)), int(rng.integers(4, 9)), int(rng.integers(3, 7))
            if (
                N > 1
                and all_distinct(N, C, H, W)
                and all_distinct(F, C)
                and all_distinct(F * H * W // 4, hidden, classes)
                and all_distinct(N, classes)
            ):
                break
        sizes = {
            "num_filters": F,
            "filter_size": int(rng.choice([3, 5])),
            "hidden_dim": hidden,
            "num_classes": classes,
            "reg": float(rng.uniform(0.01, 0.2)),
        }
        net = ref.ThreeLayerConvNet(input_dim=(C, H, W), **sizes)
        # weights scaled by their fan-in: scores of order 1, a softmax that is
        # not saturated, so the bias gradients (sums of p - y) do not cancel
        params = {
            k: rng.standard_normal(v.shape)
            * (
                0.1
                if k.startswith("b")
                else 1.0 / np.sqrt(np.prod(v.shape[1:] if v.ndim == 4 else v.shape[:1]))
            )
            for k, v in net.params.items()
        }
        net.params = {k: v.copy() for k, v in params.items()}
        X = rng.standard_normal((N, C, H, W))
        y = rng.integers(0, sizes["num_classes"], N).astype(np.int64)
        scores = net.loss(X.copy())
        loss, grads = net.loss(X.copy(), y.copy())
        expected = {"scores": scores, "loss": loss, **{f"gradient d{k}": grads[k] for k in PARAMS}}
        refs = {"scores": "@scores", "loss": "@lg.0", **{f"gradient d{k}": f"@lg.1.{k}" for k in PARAMS}}
        steps = [
            call("ThreeLayerConvNet", input_dim=[C, H, W], as_="net", **sizes),
            call("@net.params.update", {k: "$" + k for k in PARAMS}, as_="set"),
            call("@net.loss", "$X", as_="scores"),
            call("@net.loss", "$X", "$y", as_="lg"),
        ]
        desc = f"X {X.shape}, " + ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sizes.items()
        )
        trials.append(Trial(desc, {"X": X, "y": y, **params}, steps, expected, refs))
    return trials


@check("lenet.sgd_momentum")
def sgd_momentum(rng: np.random.Generator, ref: ModuleType) -> list[Trial]:
    trials = []
    for start in ("no velocity", "a velocity"):
        shape = distinct(rng, 2, 6, 2)
        w, dw1, dw2 = (rng.standard_normal(shape) for _ in range(3))
        config = {"learning_rate": float(rng.uniform(1e-3, 0.1)), "momentum": float(rng.uniform(0.5, 0.99))}
        if start == "a velocity":
            config["velocity"] = rng.standard_normal(shape)
        mine = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in config.items()}
        w1, mine = ref.sgd_momentum(w.copy(), dw1.copy(), mine)
        w2, mine = ref.sgd_momentum(w1, dw2.copy(), mine)
        steps = [
            {"value": config, "as": "config"},
            call("sgd_momentum", "$w", "$dw1", "@config", as_="one"),
            call("sgd_momentum", "@one.0", "$dw2", "@one.1", as_="two"),
        ]
        trials.append(
            Trial(
                f"two steps from {start}, w of shape {shape}, "
                f"learning_rate={config['learning_rate']:.4g}, "
                f"momentum={config['momentum']:.4g}",
                {"w": w, "dw1": dw1, "dw2": dw2},
                steps,
                {"w after two steps": w2, "config['velocity']": mine["velocity"]},
                {"w after two steps": "@two.0", "config['velocity']": "@two.1.velocity"},
            )
        )
    return trials
