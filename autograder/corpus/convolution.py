"""Fixture submissions for Chapter 2 (convolution)."""

from . import Edit, Submission, chapter_checks

ALL = chapter_checks("convolution")  # one per task: autograder/tasks.py

ANSWER = (
    "Two stacked 3x3 convolutions see a 5x5 region with 18 C^2 weights instead of 25 C^2, "
    "and add a non-linearity between them."
)

# Realistic bugs: each names the checks it must fail; every check has one.
MUTANTS = [
    Submission(
        "bug-output-size-off-by-one",
        "output size without the + 1",
        edits=(Edit("return (padded - kernel) // stride + 1", "return (padded - kernel) // stride"),),
        # the other functions are graded on the instructor's conv_output_size
        fails=frozenset({"convolution.conv_output_size"}),
    ),
    Submission(
        "bug-cost-counts-no-bias",
        "parameter count without the biases",
        edits=(
            Edit(
                "params = out_channels * (in_channels * kh * kw + 1)",
                "params = out_channels * in_channels * kh * kw",
            ),
        ),
        fails=frozenset({"convolution.conv_layer_cost"}),
    ),
    Submission(
        "bug-pad-one-side",
        "zero padding only at the bottom and right",
        edits=(
            Edit(
                "xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))",
                "xp = np.pad(x, ((0, 0), (0, 0), (0, 2 * pad), (0, 2 * pad)))",
                function="conv_forward_naive",
            ),
        ),
        fails=frozenset({"convolution.conv_forward_naive"}),
    ),
    Submission(
        "bug-kernel-flipped",
        "true convolution: the kernel flipped",
        edits=(
            Edit(
                "out[n, f, i, j] = np.sum(window * w[f]) + b[f]",
                "out[n, f, i, j] = np.sum(window * w[f, :, ::-1, ::-1]) + b[f]",
            ),
        ),
        fails=frozenset({"convolution.conv_forward_naive"}),
    ),
    Submission(
        "bug-backward-ignores-stride",
        "backward windows move by 1 whatever the stride",
        edits=(
            Edit("rows = slice(i * stride, i * stride + HH)", "rows = slice(i, i + HH)"),
            Edit("cols = slice(j * stride, j * stride + WW)", "cols = slice(j, j + WW)"),
        ),
        fails=frozenset({"convolution.conv_backward_naive"}),
    ),
    Submission(
        "bug-bias-grad-no-batch-sum",
        "bias gradient not summed over the batch",
        edits=(
            Edit(
                "db = dout.sum(axis=(0, 2, 3))", "db = dout.sum(axis=(2, 3))", function="conv_backward_naive"
            ),
        ),
        fails=frozenset({"convolution.conv_backward_naive"}),
    ),
    Submission(
        "bug-transpose-no-crop",
        "transposed conv forgets to crop the padding",
        edits=(
            Edit(
                "out = full[:, :, pad:full.shape[2] - pad, pad:full.shape[3] - pad] + b[None, :, None, None]",
                "out = full + b[None, :, None, None]",
            ),
        ),
        fails=frozenset({"convolution.conv_transpose_forward"}),
    ),
    Submission(
        "bug-transpose-dw-sign",
        "transposed conv's dw accumulates the wrong sign",
        edits=(
            Edit(
                'dw[:, :, p, q] = np.einsum("nchw,nfhw->cf", x, window)',
                'dw[:, :, p, q] = -np.einsum("nchw,nfhw->cf", x, window)',
            ),
        ),
        fails=frozenset({"convolution.conv_transpose_backward"}),
    ),
    Submission(
        "bug-return-inside-batch-loop",
        "conv_forward_naive returns from inside the loop over the batch: only the first example is computed",
        edits=(
            Edit(
                "                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]\n"
                "    cache = (x, w, b, conv_param)\n    return out, cache",
                "                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]\n"
                "        cache = (x, w, b, conv_param)\n        return out, cache",
            ),
        ),
        fails=frozenset({"convolution.conv_forward_naive"}),
    ),
]

# mistake (source_lib/mistakes.py) -> the mutants whose feedback must name it
NAMED_MISTAKES = {"first-example-only": ["bug-return-inside-batch-loop"]}

# Correct alternatives: the vectorized versions instead of loops.
VECTORIZED = """

# --- a student who vectorized instead of looping ---
conv_forward_naive = conv_forward_fast
conv_backward_naive = conv_backward_fast
"""

# A student who works in single precision: the layers cast their inputs (and the
# upstream gradient) to float32 and compute and return float32. The size and
# cost functions count in ints and stay as they are.
FLOAT32 = (
    Edit(
        """\
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo))
""",
        """\
    x, w, b = (np.asarray(a, dtype=np.float32) for a in (x, w, b))
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo), dtype=np.float32)
""",
        function="conv_forward_naive",
    ),
    Edit(
        "x, w, b, conv_param = cache\n",
        "x, w, b, conv_param = cache\n"
        "    x, w, dout = (np.asarray(a, dtype=np.float32) for a in (x, w, dout))\n",
        function="conv_backward_naive",
    ),
    Edit(
        """\
    full = np.zeros((N, F, (H - 1) * stride + HH, (W - 1) * stride + WW))
""",
        """\
    x, w, b = (np.asarray(a, dtype=np.float32) for a in (x, w, b))
    full = np.zeros((N, F, (H - 1) * stride + HH, (W - 1) * stride + WW), dtype=np.float32)
""",
        function="conv_transpose_forward",
    ),
    Edit(
        "x, w, b, conv_param = cache\n",
        "x, w, b, conv_param = cache\n"
        "    x, w, dout = (np.asarray(a, dtype=np.float32) for a in (x, w, dout))\n",
        function="conv_transpose_backward",
    ),
)

SAMPLE_CLASS = [
    Submission("solution", "the instructor solution (loops)", answer=ANSWER, kind="correct"),
    Submission(
        "alt-vectorized",
        "a correct vectorized implementation",
        edits=(Edit("def conv_transpose_forward(", VECTORIZED + "\n\ndef conv_transpose_forward("),),
        kind="correct",
    ),
    Submission(
        "alt-float32",
        "correct in single precision: the convolution and transposed "
        "convolution layers, forward and backward, cast x, w, b and dout to float32 "
        "and compute and return float32",
        edits=FLOAT32,
        kind="correct",
    ),
    Submission("blank", "the untouched release", library="release", fails=ALL, kind="blank"),
    *MUTANTS,
]
