"""Common mistakes, recognised in a wrong result (provided, not graded).

When a result fails ``checking``'s comparison, ``recognise`` compares it with
the expected one under the usual slips (transposed, sign flipped, scaled by
the batch size, the sum over the batch left out, only the first example
computed, an input returned unchanged, all zeros, a NaN from an overflow) and
names the one that explains it, so the message says what to look at. Only
the student's own result and the expected one are used: nothing more of the
hidden inputs than their shapes reaches the message.
"""
import itertools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .checking import Finding

# kind -> what to look at; ``explain`` fills in the details.
MISTAKES = {
    "transposed": "It looks transposed: the transpose of your result{matches}. Check the "
                  "order of the factors in the matrix product (A.T @ B against B.T @ A).",
    "reshaped": "The values are right but the shape is not: reshape the result to "
                "{expected_shape}, for example with .reshape(x.shape).",
    "missing-batch-sum": "Summing your result over its first axis (the batch) gives the "
                         "expected values: the sum over the batch is missing.",
    "missing-batch-mean": "Averaging your result over its first axis (the batch) gives the "
                          "expected values: the mean over the batch is missing.",
    "all-zeros": "Every value is 0: is the result computed and written into the array you "
                 "return (a leftover np.zeros, or a stub)?",
    "sign-flipped": "It is the expected result with the sign flipped: check the sign of the "
                    "difference (p - y, not y - p) or of the update.",
    "summed-not-averaged": "It is {factor:g} times the expected result, and {factor:g} is the "
                           "batch size: the batch is summed where it should be averaged "
                           "(divide by N).",
    "averaged-not-summed": "It is 1/{factor:g} of the expected result, and {factor:g} is the "
                           "batch size: averaged where it should be summed, or divided by N "
                           "twice.",
    "scaled": "It is the expected result times {factor:.6g}{why}: look for a missing or extra "
              "constant factor.",
    "equal-to-input": "It equals the input {input} unchanged: the computation is not applied "
                      "to it, or the wrong variable is returned.",
    "first-example-only": "Only the first example (index 0 of the first axis) is right, and "
                          "the others are all 0: does a loop return or stop after its first "
                          "pass?",
    "overflow": "numpy warned \"{warning}\": the {what} comes from an overflow. Rewrite the "
                "expression so that exp never sees a large positive number (subtract the "
                "maximum first, or treat the two signs apart with np.where).",
}

# known factors: (ratio, mistake, details) besides the batch size
FACTORS = ((-1.0, "sign-flipped"), (2.0, "scaled"), (0.5, "scaled"))
EXACT = 1e-6  # a factor is named only when the ratio matches it this closely


def explain(kind: str, details: dict, name: str) -> str:
    """The sentence for mistake ``kind`` with its ``details``."""
    return MISTAKES[kind].format(**{"matches": "", "why": "", **details})


def _close(candidate, expected, context):
    """``candidate`` passes against ``expected`` under the comparison's own rule."""
    candidate = np.asarray(candidate, dtype=np.float64)
    if candidate.shape != expected.shape or not np.isfinite(candidate).all():
        return False
    biggest = float(np.max(np.abs(expected))) if expected.size else 0.0
    scale = max(biggest, context["scale"] or 0.0) or 1.0
    return float(np.max(np.abs(candidate - expected))) <= context["limit"] * scale


def _batch_sizes(inputs):
    """The first dimension of every input array: the candidates for N."""
    return {int(np.shape(v)[0]) for v in inputs.values() if np.ndim(v) >= 1 and np.shape(v)[0] > 1}


def _dimensions(inputs):
    return {int(d) for v in inputs.values() for d in np.shape(v) if d > 1}


def _shape_mistake(actual, expected, context):
    if actual.ndim == expected.ndim >= 2 and sorted(actual.shape) == sorted(expected.shape):
        for order in itertools.permutations(range(actual.ndim)):
            if _close(np.transpose(actual, order), expected, context):
                return "transposed", {"matches": " equals the expected values"}
        if actual.shape == expected.shape[::-1]:
            return "transposed", {"matches": " has the expected shape"}
    if actual.size == expected.size and _close(actual.reshape(expected.shape), expected, context):
        return "reshaped", {"expected_shape": expected.shape}
    if actual.ndim == expected.ndim + 1 and actual.shape[1:] == expected.shape:
        if _close(actual.sum(axis=0), expected, context):
            return "missing-batch-sum", {}
        if _close(actual.mean(axis=0), expected, context):
            return "missing-batch-mean", {}
    return None


def _factor_mistake(actual, expected, context):
    """A result that is the expected one times a constant: which constant, and what it means."""
    norm = float(np.sum(expected * expected))
    if norm == 0.0:
        return None
    factor = float(np.sum(actual * expected)) / norm
    if factor == 0.0 or not _close(actual / factor, expected, context):
        return None
    if abs(factor - 1.0) <= context["limit"]:
        return None  # not a factor: the values differ some other way
    for n in sorted(_batch_sizes(context["inputs"])):
        if abs(factor / n - 1.0) <= EXACT:
            return "summed-not-averaged", {"factor": n}
        if abs(factor * n - 1.0) <= EXACT:
            return "averaged-not-summed", {"factor": n}
    for known, kind in FACTORS:
        if abs(factor / known - 1.0) <= EXACT:
            return kind, {"factor": known}
    for d in sorted(_dimensions(context["inputs"])):
        for ratio, word in ((d, ""), (1.0 / d, "1/")):
            if abs(factor / ratio - 1.0) <= EXACT:
                return "scaled", {"factor": factor,
                                  "why": f" ({word}{d}, the size of one of the input's "
                                         f"dimensions)"}
    if expected.size >= 2:  # a scalar is always some multiple of another
        return "scaled", {"factor": factor}
    return None


def _value_mistake(actual, expected, context):
    if not np.any(expected):
        return None
    if not np.any(actual):
        return "all-zeros", {}
    for name, value in context["inputs"].items():
        value = np.asarray(value)
        if (value.shape == actual.shape and value.dtype.kind == "f"
                and np.array_equal(value, actual) and not _close(value, expected, context)):
            return "equal-to-input", {"input": name}
    if (actual.ndim >= 2 and actual.shape[0] > 1 and np.any(expected[1:])
            and not np.any(actual[1:]) and _close(actual[:1], expected[:1], context)):
        return "first-example-only", {}
    if (actual.ndim == 2 and actual.shape[0] == actual.shape[1]
            and _close(actual.T, expected, context)):
        return "transposed", {"matches": " equals the expected values"}
    return _factor_mistake(actual, expected, context)


def _overflow(finding, context):
    for warning in context["warnings"]:
        if "overflow" in warning:
            return "overflow", {"warning": warning, "what": finding.details["what"]}
    return None


def recognise(finding: "Finding", actual: np.ndarray, expected: np.ndarray,
              context: dict) -> "Finding":
    """``finding`` with its ``mistake`` set when one of ``MISTAKES`` explains ``actual``.

    Args:
        finding: ``checking.Finding`` of kind ``"shape"``, ``"nonfinite"`` or ``"values"``.
        actual, expected: float64 arrays.
        context: ``{"inputs": {name: array}, "warnings": [str], "limit": float,
            "scale": float or None}``.
    """
    try:
        if finding.kind == "shape":
            found = _shape_mistake(actual, expected, context)
        elif finding.kind == "nonfinite":
            found = _overflow(finding, context)
        else:
            found = _value_mistake(actual, expected, context)
    except (ValueError, FloatingPointError, ZeroDivisionError):
        found = None
    if found:
        finding.mistake, finding.details["mistake"] = found
    return finding
