"""Comparisons that tell a student what to fix (provided, not graded).

The chapter notebooks' visible checks and the autograder's trusted checks both
word their verdicts with ``compare``, so a student reads the same kind of
message in the notebook and in the feedback: the expected and actual shapes,
where a NaN is, or the largest relative error and where it is.

Values pass when ``|actual - expected| <= atol + rtol * |expected|``
elementwise (numpy's ``allclose`` rule, evaluated here rather than by calling
``numpy.allclose``).
"""
import numbers

import numpy as np

# Default tolerances: float64 code that computes the same formula in a
# different order agrees to ~1e-12; 1e-7 leaves room for float32 detours and
# catches every real bug we have seen (those are off by 1e-3 or more).
RTOL = 1e-7
ATOL = 1e-9


class CheckFailure(AssertionError):
    """A visible check failed; the message says what to fix."""


def _fmt_index(index, ndim):
    if ndim == 0:
        return "the scalar"
    return "index " + str(tuple(int(i) for i in index))


def _as_float_array(value):
    """float64 ndarray view of a student's return value, or None if it isn't numeric."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Number) or isinstance(value, np.ndarray):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
        return arr
    return None


def compare(name, actual, expected, rtol=RTOL, atol=ATOL):
    """Compare a returned value with the expected one.

    Args:
        name: what is being compared, as the student should read it
            (``"sigmoid(z)"``, ``"gradient dW1"``).
        actual: the value the student's code returned.
        expected: the correct value (array or scalar).
        rtol, atol: tolerances, as in ``numpy.allclose``.

    Returns:
        ``None`` when they agree, otherwise a one-paragraph message naming the
        problem: wrong type, wrong shape, NaN or infinity, or wrong values with
        the largest relative error and its index.
    """
    expected = np.asarray(expected, dtype=np.float64)
    if actual is None:
        return f"{name}: got None; did you forget a return statement?"
    arr = _as_float_array(actual)
    if arr is None:
        return (f"{name}: expected a numpy array of shape {expected.shape}, "
                f"got a {type(actual).__name__}")
    if arr.shape != expected.shape:
        return f"{name}: wrong shape: expected {expected.shape}, got {arr.shape}"
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[0] if arr.ndim else ()
        kind = "NaN" if np.isnan(arr[tuple(where)]) else "infinity"
        return (f"{name}: contains {kind} at {_fmt_index(where, arr.ndim)} "
                f"({int(bad.sum())} non-finite value(s) in all); look for a "
                f"division by zero, a log of 0 or an overflowing exp")
    diff = np.abs(arr - expected)
    ok = diff <= atol + rtol * np.abs(expected)
    if ok.all():
        return None
    rel = diff / np.maximum(np.abs(arr) + np.abs(expected), 1e-300)
    rel = np.where(ok, 0.0, rel)
    worst = np.unravel_index(int(np.argmax(rel)), arr.shape) if arr.ndim else ()
    n_wrong = int((~ok).sum())
    return (f"{name}: wrong values: largest relative error {rel[worst]:.3g} at "
            f"{_fmt_index(worst, arr.ndim)} (expected {expected[worst]:.8g}, "
            f"got {arr[worst]:.8g}); {n_wrong} of {arr.size} value(s) differ")


def check_close(name, actual, expected, rtol=RTOL, atol=ATOL):
    """Raise ``CheckFailure`` with ``compare``'s message unless the values agree.

    Prints a one-line confirmation when they do.
    """
    problem = compare(name, actual, expected, rtol=rtol, atol=atol)
    if problem is not None:
        raise CheckFailure(problem)
    print(f"OK  {name}")


def check_gradient(name, analytic, numeric, max_rel_error=1e-7):
    """Raise ``CheckFailure`` unless an analytic gradient matches a numerical one.

    Args:
        name: the gradient's name, e.g. ``"dW1"``.
        analytic: the gradient your backward pass returned.
        numeric: the gradient from ``source_lib.gradcheck``.
        max_rel_error: the largest acceptable relative error,
            ``|a - n| / (|a| + |n|)`` elementwise.
    """
    numeric = np.asarray(numeric, dtype=np.float64)
    arr = _as_float_array(analytic)
    if arr is None or arr.shape != numeric.shape:
        problem = compare(name, analytic, numeric)
        raise CheckFailure(problem)
    rel = np.abs(arr - numeric) / np.maximum(1e-8, np.abs(arr) + np.abs(numeric))
    worst = np.unravel_index(int(np.argmax(rel)), rel.shape) if rel.ndim else ()
    if not np.isfinite(rel).all() or rel[worst] > max_rel_error:
        raise CheckFailure(
            f"{name}: analytic and numerical gradients disagree: relative error "
            f"{rel[worst]:.3g} at {_fmt_index(worst, rel.ndim)} (analytic "
            f"{arr[worst]:.8g}, numerical {numeric[worst]:.8g}); the limit is "
            f"{max_rel_error:g}")
    # the exact error varies with the BLAS build; the bound it met does not
    print(f"OK  {name}: matches the numerical gradient (relative error < {max_rel_error:g})")
