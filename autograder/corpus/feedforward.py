"""Fixture submissions for Chapter 1 (feed-forward networks)."""

from ..regions import STUB_RE
from . import Edit, EditAll, Submission, chapter_checks

ALL = chapter_checks("feedforward")  # one per task: autograder/tasks.py

ANSWER = (
    "With a sigmoid output and MSE, the gradient carries a factor sigma'(z), "
    "which is tiny when the unit saturates, even when it is badly wrong; "
    "softmax with cross-entropy gives p - y, which stays large."
)

# Realistic bugs: each names the checks it must fail; every check has one. A
# function is graded on the instructor's versions of the ones it calls
# (back_propagation on forward_propagation, mse_loss, sigmoid_grad and sigmoid),
# so a bug costs the points of its own function only.
MUTANTS = [
    Submission(
        "bug-sigmoid-overflow",
        "exp(z) / (1 + exp(z)) gives inf / inf = NaN at z = 1000",
        edits=(
            Edit(
                "return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
                "return np.exp(z) / (1.0 + np.exp(z))",
            ),
        ),
        fails=frozenset({"feedforward.sigmoid"}),
    ),
    Submission(
        "bug-no-output-sigmoid",
        "forward pass returns Z2 as the output",
        edits=(Edit("Y = sigmoid(Z2)\n", "Y = Z2\n"),),
        fails=frozenset({"feedforward.forward_propagation"}),
    ),
    Submission(
        "bug-mse-mean-over-entries",
        "mse_loss divides by N * C instead of N",
        edits=(
            Edit(
                "return float(np.sum((Y - Y_T) ** 2) / (2 * Y.shape[0]))",
                "return float(np.mean((Y - Y_T) ** 2) / 2)",
            ),
        ),
        fails=frozenset({"feedforward.mse_loss"}),
    ),
    Submission(
        "bug-affine-no-bias",
        "affine_forward forgets the bias",
        edits=(Edit("out = x.reshape(x.shape[0], -1) @ w + b", "out = x.reshape(x.shape[0], -1) @ w"),),
        fails=frozenset({"feedforward.affine_forward"}),
    ),
    Submission(
        "bug-leaky-relu",
        "relu_forward lets 1% of negative inputs through",
        edits=(Edit("out = np.maximum(0.0, x)", "out = np.maximum(0.01 * x, x)"),),
        fails=frozenset({"feedforward.relu_forward"}),
    ),
    Submission(
        "bug-no-sigmoid-derivative",
        "output delta misses sigma'(Z2)",
        edits=(Edit("dZ2 = (Y - Y_T) / N * sigmoid_grad(Z2)", "dZ2 = (Y - Y_T) / N"),),
        fails=frozenset({"feedforward.back_propagation"}),
    ),
    Submission(
        "bug-not-averaged",
        "gradients summed, not averaged, over the batch",
        edits=(Edit("dZ2 = (Y - Y_T) / N * sigmoid_grad(Z2)", "dZ2 = (Y - Y_T) * sigmoid_grad(Z2)"),),
        fails=frozenset({"feedforward.back_propagation"}),
    ),
    Submission(
        "bug-transposed-dw1",
        "weight gradient transposed, (D, H) instead of (H, D)",
        edits=(Edit("dW1 = dZ1.T @ X", "dW1 = X.T @ dZ1"),),
        fails=frozenset({"feedforward.back_propagation"}),
    ),
    Submission(
        "bug-bias-axis",
        "bias gradient summed over the wrong axis",
        edits=(Edit("db1 = np.sum(dZ1, axis=0)", "db1 = np.sum(dZ1, axis=1)"),),
        fails=frozenset({"feedforward.back_propagation"}),
    ),
    Submission(
        "bug-hard-coded",
        "mse_loss hard-codes the visible check's answer",
        edits=(Edit("return float(np.sum((Y - Y_T) ** 2) / (2 * Y.shape[0]))", "return 0.13324762"),),
        fails=frozenset({"feedforward.mse_loss"}),
    ),
    Submission(
        "bug-sigmoid-grad-of-activation",
        "sigmoid_grad applies s(1-s) to z itself",
        edits=(Edit("s = sigmoid(z)\n    return s * (1.0 - s)", "return z * (1.0 - z)"),),
        fails=frozenset({"feedforward.sigmoid_grad"}),
    ),
    Submission(
        "bug-relu-at-zero",
        "ReLU gradient passes at x = 0",
        edits=(Edit("dx = dout * (x > 0)", "dx = dout * (x >= 0)"),),
        fails=frozenset({"feedforward.relu_backward"}),
    ),
    Submission(
        "bug-softmax-unstable",
        "softmax without subtracting the row maximum",
        edits=(Edit("shifted = x - np.max(x, axis=1, keepdims=True)", "shifted = x"),),
        fails=frozenset({"feedforward.softmax_loss"}),
    ),
    Submission(
        "bug-affine-no-reshape",
        "affine_backward returns dx flattened",
        edits=(Edit("dx = (dout @ w.T).reshape(x.shape)", "dx = dout @ w.T"),),
        fails=frozenset({"feedforward.affine_backward"}),
    ),
    # The common mistakes the feedback names (source_lib/mistakes.py), one each.
    Submission(
        "bug-softmax-gradient-sign",
        "softmax_loss's gradient is one-hot minus probabilities, y - p",
        edits=(Edit("    dx /= N\n", "    dx = -dx / N\n"),),
        fails=frozenset({"feedforward.softmax_loss"}),
    ),
    Submission(
        "bug-mse-no-half",
        "mse_loss without the 1/2",
        edits=(
            Edit(
                "return float(np.sum((Y - Y_T) ** 2) / (2 * Y.shape[0]))",
                "return float(np.sum((Y - Y_T) ** 2) / Y.shape[0])",
            ),
        ),
        fails=frozenset({"feedforward.mse_loss"}),
    ),
    Submission(
        "bug-affine-db-averaged",
        "affine_backward averages dout over the batch for db",
        edits=(Edit("db = np.sum(dout, axis=0)", "db = np.mean(dout, axis=0)"),),
        fails=frozenset({"feedforward.affine_backward"}),
    ),
    Submission(
        "bug-affine-db-not-summed",
        "affine_backward returns dout itself as db",
        edits=(Edit("db = np.sum(dout, axis=0)", "db = dout"),),
        fails=frozenset({"feedforward.affine_backward"}),
    ),
    Submission(
        "bug-affine-dw-never-filled",
        "affine_backward's dw left at np.zeros_like(w)",
        edits=(Edit("dw = x.reshape(x.shape[0], -1).T @ dout", "dw = np.zeros_like(w)"),),
        fails=frozenset({"feedforward.affine_backward"}),
    ),
    Submission(
        "bug-relu-backward-no-mask",
        "relu_backward passes dout through everywhere",
        edits=(Edit("dx = dout * (x > 0)", "dx = dout"),),
        fails=frozenset({"feedforward.relu_backward"}),
    ),
    Submission(
        "bug-softmax-loss-per-example",
        "softmax_loss returns every example's loss, not their mean",
        edits=(
            Edit("loss = float(-np.mean(log_probs[np.arange(N), y]))", "loss = -log_probs[np.arange(N), y]"),
        ),
        fails=frozenset({"feedforward.softmax_loss"}),
    ),
]

# mistake (source_lib/mistakes.py) -> the mutants whose feedback must name it
NAMED_MISTAKES = {
    "transposed": ["bug-transposed-dw1"],
    "sign-flipped": ["bug-softmax-gradient-sign"],
    "scaled": ["bug-mse-no-half", "bug-mse-mean-over-entries"],
    "summed-not-averaged": ["bug-not-averaged"],
    "averaged-not-summed": ["bug-affine-db-averaged"],
    "missing-batch-sum": ["bug-affine-db-not-summed"],
    "missing-batch-mean": ["bug-softmax-loss-per-example"],
    "all-zeros": ["bug-affine-dw-never-filled"],
    "equal-to-input": ["bug-relu-backward-no-mask"],
    "overflow": ["bug-sigmoid-overflow", "bug-softmax-unstable"],
    "reshaped": ["bug-affine-no-reshape"],
}

# Attacks on the checks: they must gain nothing over the blank release.
PATCH_FROM_CELL = """\
import numpy as np
import source_lib.checking as checking
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
checking.compare = lambda *args, **kwargs: None
checking.check_close = lambda *args, **kwargs: print("OK")
checking.check_gradient = lambda *args, **kwargs: print("OK")
from source_lib.checking import check_close, check_gradient
"""

PATCH_FROM_LIBRARY = """\


# --- appended by a student who hopes the grader trusts these names ---
import numpy as _np
import builtins as _builtins
_np.allclose = lambda *args, **kwargs: True
_np.testing.assert_allclose = lambda *args, **kwargs: None
_builtins.AssertionError = type("AssertionError", (Exception,), {})
try:
    import source_lib.checking as _checking
    _checking.compare = lambda *args, **kwargs: None
except Exception:
    pass
"""

# Stubs that return instead of raising: with the checks patched, a grader that
# trusted the notebook's own cells would award their points.
RETURN_ZERO = EditAll(STUB_RE, "return 0.0")

# A student who works in single precision throughout: every graded function
# casts what it is given to float32 and computes in float32. The results of the
# functions it builds on are cast too (when graded, those are the instructor's
# float64 versions), so that nothing is silently computed in float64.
FLOAT32 = (
    Edit("z = np.asarray(z, dtype=np.float64)", "z = np.asarray(z, dtype=np.float32)"),
    Edit(
        "s = sigmoid(z)\n",
        "s = sigmoid(np.asarray(z, dtype=np.float32)).astype(np.float32)\n",
        function="sigmoid_grad",
    ),
    Edit(
        """\
    Z1 = X @ weights["W1"].T + weights["b1"]
    H = sigmoid(Z1)
    Z2 = H @ weights["W2"].T + weights["b2"]
    Y = sigmoid(Z2)
""",
        """\
    X = np.asarray(X, dtype=np.float32)
    weights = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
    Z1 = X @ weights["W1"].T + weights["b1"]
    H = sigmoid(Z1).astype(np.float32)
    Z2 = H @ weights["W2"].T + weights["b2"]
    Y = sigmoid(Z2).astype(np.float32)
""",
    ),
    Edit(
        "Y = np.asarray(Y, dtype=np.float64)",
        "Y, Y_T = np.asarray(Y, dtype=np.float32), np.asarray(Y_T, dtype=np.float32)",
    ),
    Edit(
        """\
    W2 = weights["W2"]
    Y, Z2, H, Z1 = forward_propagation(X, weights)
""",
        """\
    X, Y_T = np.asarray(X, dtype=np.float32), np.asarray(Y_T, dtype=np.float32)
    weights = {k: np.asarray(v, dtype=np.float32) for k, v in weights.items()}
    W2 = weights["W2"]
    Y, Z2, H, Z1 = (np.asarray(a, dtype=np.float32) for a in forward_propagation(X, weights))
""",
    ),
    Edit("* sigmoid_grad(Z2)", "* sigmoid_grad(Z2).astype(np.float32)", function="back_propagation"),
    Edit("np.outer(dZ2, W2) * sigmoid_grad(Z1)", "np.outer(dZ2, W2) * sigmoid_grad(Z1).astype(np.float32)"),
    Edit("(dZ2 @ W2) * sigmoid_grad(Z1)", "(dZ2 @ W2) * sigmoid_grad(Z1).astype(np.float32)"),
    Edit(
        "out = x.reshape(x.shape[0], -1) @ w + b",
        "x, w, b = (np.asarray(a, dtype=np.float32) for a in (x, w, b))\n"
        "    out = x.reshape(x.shape[0], -1) @ w + b",
    ),
    Edit(
        "x, w, b = cache\n",
        "x, w, b = cache\n    dout = np.asarray(dout, dtype=np.float32)\n",
        function="affine_backward",
    ),
    Edit("out = np.maximum(0.0, x)", "x = np.asarray(x, dtype=np.float32)\n    out = np.maximum(0.0, x)"),
    Edit("dx = dout * (x > 0)", "dx = np.asarray(dout, dtype=np.float32) * (x > 0)"),
    Edit(
        "shifted = x - np.max(x, axis=1, keepdims=True)",
        "x = np.asarray(x, dtype=np.float32)\n    shifted = x - np.max(x, axis=1, keepdims=True)",
    ),
)

SAMPLE_CLASS = [
    Submission("solution", "the instructor solution", answer=ANSWER, kind="correct"),
    Submission(
        "alt-formulas",
        "correct with other formulas: tanh sigmoid, np.where ReLU",
        edits=(
            Edit(
                "return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
                "return 0.5 * (1.0 + np.tanh(0.5 * z))",
            ),
            Edit("out = np.maximum(0.0, x)", "out = np.where(x > 0, x, 0.0)"),
        ),
        kind="correct",
    ),
    Submission(
        "alt-float32",
        "correct in single precision: every graded function casts its "
        "inputs (arrays, weights, caches' gradients) to float32 and computes and returns "
        "float32 (Python floats of float32 sums for the losses)",
        edits=FLOAT32,
        kind="correct",
    ),
    Submission("blank", "the untouched release", library="release", fails=ALL, kind="blank"),
    *MUTANTS,
    Submission(
        "attack-cell",
        "returns 0 everywhere; patches numpy.allclose and the checks from a notebook cell",
        library="release",
        edits=(RETURN_ZERO,),
        cell=PATCH_FROM_CELL,
        fails=ALL,
        kind="attack",
    ),
    Submission(
        "attack-library",
        "returns 0 everywhere; patches numpy.allclose and the checks from source_lib",
        library="release",
        edits=(
            RETURN_ZERO,
            Edit('"""\nimport numpy as np\n', '"""\nimport numpy as np\n' + PATCH_FROM_LIBRARY),
        ),
        fails=ALL,
        kind="attack",
    ),
]
