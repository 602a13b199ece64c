"""Fixture submissions for Chapter 3 (pooling)."""

from . import Edit, Submission, chapter_checks

ALL = chapter_checks("pooling")  # one per task: autograder/tasks.py

ANSWER = (
    "Max pooling keeps the strongest response in each window, so a feature that moves by "
    "a pixel inside a window gives the same output."
)

# Realistic bugs: each names the checks it must fail; every check has one.
MUTANTS = [
    Submission(
        "bug-max-ignores-stride",
        "max pooling windows move by 1 whatever the stride",
        edits=(
            Edit(
                "out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))",
                "out[:, :, i, j] = x[:, :, i:i + ph, j:j + pw].max(axis=(2, 3))",
            ),
        ),
        fails=frozenset({"pooling.max_pool_forward_naive"}),
    ),
    Submission(
        "bug-max-grad-to-window",
        "max-pool gradient sent to every element of the window",
        edits=(
            Edit(
                "dx[n, c, i * s + p, j * s + q] += dout[n, c, i, j]",
                "dx[n, c, i * s:i * s + ph, j * s:j * s + pw] += dout[n, c, i, j]",
            ),
        ),
        fails=frozenset({"pooling.max_pool_backward_naive"}),
    ),
    Submission(
        "bug-max-grad-all-ties",
        "max-pool gradient sent to every tied maximum",
        edits=(
            Edit(
                "p, q = np.unravel_index(np.argmax(window), window.shape)\n"
                "                    dx[n, c, i * s + p, j * s + q] += dout[n, c, i, j]",
                "dx[n, c, i * s:i * s + ph, j * s:j * s + pw] += (window == window.max()) * dout[n, c, i, j]",
            ),
        ),
        fails=frozenset({"pooling.max_pool_backward_naive"}),
    ),
    Submission(
        "bug-sum-pooling",
        "average pooling sums instead of averaging",
        edits=(
            Edit(
                "out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].mean(axis=(2, 3))",
                "out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].sum(axis=(2, 3))",
            ),
        ),
        fails=frozenset({"pooling.avg_pool_forward_naive"}),
    ),
    Submission(
        "bug-avg-grad-not-divided",
        "average-pool gradient not divided by the window size",
        edits=(Edit("share = dout[:, :, i, j] / (ph * pw)", "share = dout[:, :, i, j]"),),
        fails=frozenset({"pooling.avg_pool_backward_naive"}),
    ),
    Submission(
        "bug-flatten-column-major",
        "flatten in column-major (Fortran) order",
        edits=(
            Edit(
                "return x.reshape(x.shape[0], -1), x.shape",
                'return x.reshape(x.shape[0], -1, order="F"), x.shape',
            ),
        ),
        fails=frozenset({"pooling.flatten_forward"}),
    ),
    Submission(
        "bug-flatten-backward-no-reshape",
        "flatten_backward returns dout unchanged",
        edits=(Edit("return dout.reshape(cache)", "return dout"),),
        fails=frozenset({"pooling.flatten_backward"}),
    ),
]

VECTORIZED = """

# --- a student who vectorized instead of looping ---
max_pool_forward_naive = max_pool_forward_fast
max_pool_backward_naive = max_pool_backward_fast
avg_pool_forward_naive = avg_pool_forward_fast
avg_pool_backward_naive = avg_pool_backward_fast
"""

# A student who works in single precision: every layer casts its input (or the
# upstream gradient) to float32 and computes and returns float32.
FLOAT32 = (
    Edit(
        "N, C = x.shape[:2]\n    out = np.zeros((N, C, Ho, Wo))\n",
        "N, C = x.shape[:2]\n    x = np.asarray(x, dtype=np.float32)\n"
        "    out = np.zeros((N, C, Ho, Wo), dtype=np.float32)\n",
        function="max_pool_forward_naive",
    ),
    Edit(
        "dx = np.zeros_like(x)\n",
        "x, dout = np.asarray(x, dtype=np.float32), np.asarray(dout, dtype=np.float32)\n"
        "    dx = np.zeros_like(x)\n",
        function="max_pool_backward_naive",
    ),
    Edit(
        "N, C = x.shape[:2]\n    out = np.zeros((N, C, Ho, Wo))\n",
        "N, C = x.shape[:2]\n    x = np.asarray(x, dtype=np.float32)\n"
        "    out = np.zeros((N, C, Ho, Wo), dtype=np.float32)\n",
        function="avg_pool_forward_naive",
    ),
    Edit(
        "dx = np.zeros(x_shape)\n",
        "dout = np.asarray(dout, dtype=np.float32)\n    dx = np.zeros(x_shape, dtype=np.float32)\n",
        function="avg_pool_backward_naive",
    ),
    Edit(
        "return x.reshape(x.shape[0], -1), x.shape",
        "x = np.asarray(x, dtype=np.float32)\n    return x.reshape(x.shape[0], -1), x.shape",
    ),
    Edit("return dout.reshape(cache)", "return np.asarray(dout, dtype=np.float32).reshape(cache)"),
)

SAMPLE_CLASS = [
    Submission("solution", "the instructor solution (loops)", answer=ANSWER, kind="correct"),
    Submission(
        "alt-vectorized",
        "a correct vectorized implementation",
        edits=(Edit("def adaptive_avg_pool_forward(", VECTORIZED + "\n\ndef adaptive_avg_pool_forward("),),
        kind="correct",
    ),
    Submission(
        "alt-float32",
        "correct in single precision: max and average pooling and "
        "flatten, forward and backward, cast their input or dout to float32 and "
        "compute and return float32",
        edits=FLOAT32,
        kind="correct",
    ),
    Submission("blank", "the untouched release", library="release", fails=ALL, kind="blank"),
    *MUTANTS,
]
