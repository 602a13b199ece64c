"""Fixture submissions for Chapter 5 (sparse autoencoders)."""

from . import Edit, Submission, chapter_checks

PREPROCESS = frozenset({"autoencoder.preprocess_patches"})
LOSS = frozenset({"autoencoder.sparse_autoencoder_loss"})
TRAIN = frozenset({"autoencoder.train_autoencoder"})
ALL = chapter_checks("autoencoder")  # one per task: autograder/tasks.py

ANSWER = (
    "rho_hat is a unit's mean activation over the batch, so the penalty only asks each "
    "unit to be rarely active; without it, large hidden layers learn diffuse features."
)

# Realistic bugs: each names the checks it must fail; every check has one. Training
# is graded with the instructor's cost, so the bugs of Task 5.2 cost only its points.
MUTANTS = [
    Submission(
        "bug-kl-gradient-sign",
        "the KL term's derivative with the wrong sign",
        edits=(
            Edit(
                "dkl = beta * (-rho / rho_hat + (1 - rho) / (1 - rho_hat))",
                "dkl = beta * (rho / rho_hat - (1 - rho) / (1 - rho_hat))",
            ),
        ),
        fails=LOSS,
    ),
    Submission(
        "bug-kl-gradient-missing-1-over-n",
        "the KL term's gradient misses the 1/N of rho_hat = mean(A1)",
        edits=(Edit("dZ1 = (dZ2 @ W2 + dkl / N) * A1 * (1 - A1)", "dZ1 = (dZ2 @ W2 + dkl) * A1 * (1 - A1)"),),
        fails=LOSS,
    ),
    Submission(
        "bug-decay-on-biases",
        "weight decay applied to the biases too",
        edits=(
            Edit(
                "lam / 2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))",
                "lam / 2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2) + np.sum(b1 ** 2) + np.sum(b2 ** 2))",
            ),
            Edit('"b1": dZ1.sum(axis=0)', '"b1": dZ1.sum(axis=0) + lam * b1'),
            Edit('"b2": dZ2.sum(axis=0)', '"b2": dZ2.sum(axis=0) + lam * b2'),
        ),
        fails=LOSS,
    ),
    Submission(
        "bug-decay-missing-half",
        "weight decay in the cost without its 1/2",
        edits=(
            Edit(
                "lam / 2 * (np.sum(W1 ** 2) + np.sum(W2 ** 2))", "lam * (np.sum(W1 ** 2) + np.sum(W2 ** 2))"
            ),
        ),
        fails=LOSS,
    ),
    Submission(
        "bug-reconstruction-not-averaged",
        "reconstruction error summed, not divided by N (cost and gradients)",
        edits=(
            Edit("np.sum(diff ** 2) / (2 * N)", "np.sum(diff ** 2) / 2"),
            Edit("dZ2 = diff * A2 * (1 - A2) / N", "dZ2 = diff * A2 * (1 - A2)"),
        ),
        fails=LOSS,
    ),
    Submission(
        "bug-sigmoid-derivative-of-activation",
        "the sigmoid derivative applied to the activation as if it were the pre-activation",
        edits=(
            Edit("dZ2 = diff * A2 * (1 - A2) / N", "dZ2 = diff * sigmoid(A2) * (1 - sigmoid(A2)) / N"),
            Edit(
                "dZ1 = (dZ2 @ W2 + dkl / N) * A1 * (1 - A1)",
                "dZ1 = (dZ2 @ W2 + dkl / N) * sigmoid(A1) * (1 - sigmoid(A1))",
            ),
        ),
        fails=LOSS,
    ),
    Submission(
        "bug-clip-per-patch",
        "clipping at 3 standard deviations of each patch instead of the whole set",
        edits=(Edit("limit = 3.0 * Y.std()", "limit = 3.0 * Y.std(axis=1, keepdims=True)"),),
        fails=PREPROCESS,
    ),
    Submission(
        "bug-mean-patch-removed",
        "removes the mean patch of the set instead of each patch's own mean",
        edits=(Edit("Y = Y - Y.mean(axis=1, keepdims=True)", "Y = Y - Y.mean(axis=0)"),),
        fails=PREPROCESS,
    ),
    Submission(
        "bug-grey-by-averaging",
        "grey levels as the plain mean of R, G and B",
        edits=(Edit("Y = patches @ LUMINANCE", "Y = patches.mean(axis=-1)"),),
        fails=PREPROCESS,
    ),
    Submission(
        "bug-range-0-to-1",
        "maps onto [0, 1] instead of [0.1, 0.9]",
        edits=(Edit("return 0.4 * Y + 0.5", "return 0.5 * Y + 0.5"),),
        fails=PREPROCESS,
    ),
    Submission(
        "bug-returns-initial-parameters",
        "returns the starting point, not the optimum",
        edits=(
            Edit(
                "return vector_to_params(result.x, hidden_size, D)",
                "return vector_to_params(theta0, hidden_size, D)",
            ),
        ),
        fails=TRAIN,
    ),
    Submission(
        "bug-unpacks-swapped",
        "unpacks the vector with hidden and visible sizes swapped",
        edits=(
            Edit(
                "sparse_autoencoder_loss(vector_to_params(theta, hidden_size, D),",
                "sparse_autoencoder_loss(vector_to_params(theta, D, hidden_size),",
            ),
        ),
        fails=TRAIN,
    ),
]

# Correct code written differently: column-major deltas as in Ng's notes, other
# formulas for preprocessing, and SciPy's older L-BFGS interface.
ALTERNATIVE = (
    Edit(
        """\
    Y = patches @ LUMINANCE
    Y = Y.reshape(Y.shape[0], -1)
    Y = Y - Y.mean(axis=1, keepdims=True)
    limit = 3.0 * Y.std()
    Y = np.clip(Y, -limit, limit) / limit
    return 0.4 * Y + 0.5
""",
        """\
    grey = 0.2126 * patches[..., 0] + 0.7152 * patches[..., 1] + 0.0722 * patches[..., 2]
    grey = grey.reshape(len(grey), -1)
    grey -= grey.sum(axis=1)[:, None] / grey.shape[1]
    s = 3 * np.sqrt(np.mean(grey ** 2))  # every row has mean 0, so the set does too
    grey = np.maximum(np.minimum(grey, s), -s)
    return 0.1 + 0.8 * (grey + s) / (2 * s)
""",
    ),
    Edit(
        """\
    W1, b1, W2, b2 = (params[k] for k in PARAM_NAMES)
    N = X.shape[0]
    A1 = sigmoid(X @ W1.T + b1)
""",
        """\
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    m = X.shape[0]
    a2 = 1 / (1 + np.exp(-(W1 @ X.T + b1[:, None])))  # (H, m), one column per patch
    a3 = 1 / (1 + np.exp(-(W2 @ a2 + b2[:, None])))  # (D, m)
    p = a2.sum(axis=1) / m
    sparsity = np.sum(rho * np.log(rho / p) + (1 - rho) * np.log((1 - rho) / (1 - p)))
    cost = (0.5 * np.sum((a3 - X.T) ** 2) / m + 0.5 * lam * (np.sum(W1 * W1) + np.sum(W2 * W2))
            + beta * sparsity)
    delta3 = -(X.T - a3) * a3 * (1 - a3)
    delta2 = (W2.T @ delta3 + (beta * ((1 - rho) / (1 - p) - rho / p))[:, None]) * a2 * (1 - a2)
    return float(cost), {"W1": delta2 @ X / m + lam * W1, "b1": delta2.sum(axis=1) / m,
                         "W2": delta3 @ a2.T / m + lam * W2, "b2": delta3.sum(axis=1) / m}
    N = X.shape[0]
    A1 = sigmoid(X @ W1.T + b1)
""",
    ),
    Edit(
        """\
    history = []
    result = minimize(cost_and_grad, theta0, jac=True, method="L-BFGS-B",
                      callback=lambda intermediate_result: history.append(
                          intermediate_result.fun),
                      options={"maxiter": max_iter})
    return vector_to_params(result.x, hidden_size, D), np.array(history)
""",
        """\
    from scipy.optimize import fmin_l_bfgs_b

    costs = []
    theta, _, _ = fmin_l_bfgs_b(cost_and_grad, theta0, maxiter=max_iter,
                                callback=lambda th: costs.append(cost_and_grad(th)[0]))
    return vector_to_params(theta, hidden_size, D), np.asarray(costs)
""",
    ),
)

# A student who works in single precision: preprocessing and the cost compute in
# float32 (the cost returned as a Python float of a float32 sum), and training
# hands the optimizer float32 patches (L-BFGS keeps its own float64 iterate).
FLOAT32 = (
    Edit(
        "Y = patches @ LUMINANCE", "Y = np.asarray(patches, dtype=np.float32) @ LUMINANCE.astype(np.float32)"
    ),
    Edit(
        "W1, b1, W2, b2 = (params[k] for k in PARAM_NAMES)\n",
        "W1, b1, W2, b2 = (np.asarray(params[k], dtype=np.float32) for k in PARAM_NAMES)\n"
        "    X = np.asarray(X, dtype=np.float32)\n",
    ),
    Edit(
        "D = X.shape[1]\n",
        "X = np.asarray(X, dtype=np.float32)\n    D = X.shape[1]\n",
        function="train_autoencoder",
    ),
)

SAMPLE_CLASS = [
    Submission("solution", "the instructor solution", answer=ANSWER, kind="correct"),
    Submission(
        "alt-formulas",
        "correct with other formulas: Ng's column-major deltas, fmin_l_bfgs_b",
        edits=ALTERNATIVE,
        kind="correct",
    ),
    Submission(
        "alt-float32",
        "correct in single precision: preprocessing and the cost and "
        "its gradients computed in float32; training on float32 patches",
        edits=FLOAT32,
        kind="correct",
    ),
    Submission("blank", "the untouched release", library="release", fails=ALL, kind="blank"),
    *MUTANTS,
]
