"""The course's one tolerance policy, and messages that tell a student what to fix.

Provided, not graded. The notebooks' visible checks and the autograder's
hidden checks both decide with this module, so a result that passes one
passes the other, and both say the same thing about it.

The rule. A result ``a`` is compared with the expected ``e`` by its error
relative to the scale of the whole expected array::

    error = max |a - e| / scale        scale = max |e|

and passes when ``error <= TOLERANCE`` (1e-4). Measured this way, an entry
that cancels to nearly zero (a mean of values of both signs) is allowed the
rounding error of the values it was computed from, not of itself; any correct
float64 or float32 implementation passes (float32 keeps about 7 digits, and
float32 code written in another order is off by about 1e-6), and a bug is
off by far more. A check may give a larger ``scale`` where the whole array
cancels (a running mean of centred data is measured against the data), and a
scale of 1 is used when the expected array is all zeros.

A gradient checked against a numerical estimate (``check_gradient``) is
measured the same way against the estimate, with the limit
``GRADIENT_TOLERANCE`` (1e-3): the estimate of ``source_lib.gradcheck`` is
itself off by up to about 2e-4 when the code under test computes in float32
and the function's value is of the size of its gradient (the rounding of a
value 100 times larger is 100 times larger in the estimate: keep the values
of visible gradient checks small).

Warnings do not count, values do: numpy's "overflow encountered in exp" for
``1 / (1 + exp(-z))`` at ``z = -1000`` is harmless when the result is right,
and a NaN or infinity in the result fails.
"""
import numbers
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from . import mistakes

TOLERANCE = 1e-4
GRADIENT_TOLERANCE = 1e-3


class CheckFailure(AssertionError):
    """A visible check failed; the message says what to fix."""


@dataclass
class Finding:
    """Why a result failed, as data: a ``kind`` and its ``details``.

    Kinds: ``"missing"`` (None returned), ``"type"`` (not a number or
    array), ``"shape"``, ``"nonfinite"`` (NaN or infinity), ``"values"``, and
    ``"error"`` (the code raised or stopped; ``details["text"]`` says how);
    ``mistake`` is the common mistake the result matches, if one does
    (``mistakes.MISTAKES`` names them).
    """

    kind: str
    name: str
    details: dict = field(default_factory=dict)
    mistake: str = None

    def text(self) -> str:
        d, name = self.details, self.name
        if self.kind == "error":  # the code raised, or a check's own rule failed
            return d["text"]
        if self.kind == "missing":
            text = f"{name}: got None; did you forget a return statement?"
        elif self.kind == "type":
            text = (f"{name}: expected a numpy array of shape {d['expected_shape']}, "
                    f"got {d['got']}")
        elif self.kind == "shape":
            text = f"{name}: wrong shape: expected {d['expected_shape']}, got {d['shape']}"
        elif self.kind == "nonfinite":
            text = (f"{name}: contains {d['what']} at {d['where']} ({d['count']} non-finite "
                    f"value(s) in all); look for a division by zero, a log of 0 or an "
                    f"overflowing exp")
        else:
            text = (f"{name}: wrong values: error {d['error']:.3g} (the largest difference, "
                    f"{d['difference']:.3g} at {d['where']}: expected {d['expected']:.8g}, got "
                    f"{d['got']:.8g}, over the scale {d['scale']:.3g}); the limit is "
                    f"{d['limit']:g}; {d['wrong']} of {d['size']} value(s) are off by more")
        if self.mistake:
            text += "\n" + mistakes.explain(self.mistake, d.get("mistake", {}), name)
        return text


def _where(index, ndim):
    if ndim == 0:
        return "the scalar"
    return "index " + str(tuple(int(i) for i in index))


def as_float_array(value: object) -> np.ndarray | None:
    """float64 ndarray of a returned value, or None if it isn't a number or numeric array."""
    if isinstance(value, (bool, np.bool_)):
        return None
    if isinstance(value, numbers.Number) or isinstance(value, np.ndarray):
        try:
            return np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return None
    return None


def scale_of(expected: np.ndarray | float, scale: float | None = None) -> float:
    """The scale errors are measured against: max |expected| (or ``scale``, if larger), 1 if 0."""
    biggest = float(np.max(np.abs(expected))) if np.size(expected) else 0.0
    biggest = max(biggest, scale or 0.0)
    return biggest if biggest > 0 else 1.0


def error(actual: np.ndarray | float, expected: np.ndarray | float, scale: float | None = None) -> float:
    """The policy's error: ``max |actual - expected| / scale_of(expected, scale)``."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.size == 0:
        return 0.0
    return float(np.max(np.abs(actual - expected))) / scale_of(expected, scale)


def difference(name: str, actual: object, expected: np.ndarray | float, scale: float | None = None,
               limit: float = TOLERANCE, inputs: dict[str, np.ndarray] | None = None,
               warnings: Iterable[str] = ()) -> Finding | None:
    """A ``Finding`` saying why ``actual`` fails against ``expected``, or None if it passes.

    Args:
        name: what is compared, as the student should read it (``"gradient dW1"``).
        actual: the value the student's code returned.
        expected: the correct value (array or scalar).
        scale: a scale to measure the error against when ``max |expected|``
            is smaller (see the module's docstring).
        limit: the largest error that passes.
        inputs: name -> array the result was computed from, to recognise
            common mistakes (a result equal to an input, a factor of the
            batch size); optional.
        warnings: numerical warnings the code raised ("overflow encountered
            in exp"), to explain a NaN; optional.
    """
    expected = np.asarray(expected, dtype=np.float64)
    if actual is None:
        return Finding("missing", name)
    arr = as_float_array(actual)
    if arr is None:
        return Finding("type", name, {"expected_shape": expected.shape,
                                      "got": "a " + type(actual).__name__})
    context = {"inputs": inputs or {}, "warnings": list(warnings), "limit": limit,
               "scale": scale}
    if arr.shape != expected.shape:
        finding = Finding("shape", name, {"expected_shape": expected.shape, "shape": arr.shape})
        return mistakes.recognise(finding, arr, expected, context)
    bad = ~np.isfinite(arr)
    if bad.any():
        where = np.argwhere(bad)[0] if arr.ndim else ()
        finding = Finding("nonfinite", name, {
            "what": "NaN" if np.isnan(arr[tuple(where)]) else "infinity",
            "where": _where(where, arr.ndim), "count": int(bad.sum())})
        return mistakes.recognise(finding, arr, expected, context)
    size = scale_of(expected, scale)
    diff = np.abs(arr - expected)
    err = float(diff.max()) / size if arr.size else 0.0
    if err <= limit:
        return None
    worst = np.unravel_index(int(np.argmax(diff)), arr.shape) if arr.ndim else ()
    finding = Finding("values", name, {
        "error": err, "limit": limit, "scale": size, "difference": float(diff[worst]),
        "where": _where(worst, arr.ndim), "expected": float(expected[worst]) + 0.0,
        "got": float(arr[worst]) + 0.0, "wrong": int((diff > limit * size).sum()), "size": arr.size})
    return mistakes.recognise(finding, arr, expected, context)


def compare(name: str, actual: object, expected: np.ndarray | float, scale: float | None = None,
            limit: float = TOLERANCE) -> str | None:
    """``difference``'s message, or None when the values agree."""
    finding = difference(name, actual, expected, scale=scale, limit=limit)
    return None if finding is None else finding.text()


def check_close(name: str, actual: object, expected: np.ndarray | float,
                scale: float | None = None) -> None:
    """Raise ``CheckFailure`` with ``compare``'s message unless the values agree.

    Prints a one-line confirmation when they do.
    """
    problem = compare(name, actual, expected, scale=scale)
    if problem is not None:
        raise CheckFailure(problem)
    print(f"OK  {name}")


def check_gradient(name: str, analytic: object, numeric: np.ndarray) -> None:
    """Raise ``CheckFailure`` unless an analytic gradient matches a numerical one.

    The error is measured as for values, against the numerical gradient
    (from ``source_lib.gradcheck``), with the limit ``GRADIENT_TOLERANCE``.
    """
    finding = difference(name, analytic, numeric, limit=GRADIENT_TOLERANCE)
    if finding is not None and finding.kind == "values":
        d = finding.details
        raise CheckFailure(
            f"{name}: analytic and numerical gradients disagree: error {d['error']:.3g} (the "
            f"largest difference, {d['difference']:.3g} at {d['where']}: numerical "
            f"{d['expected']:.8g}, analytic {d['got']:.8g}, over the scale {d['scale']:.3g}); "
            f"the limit is {d['limit']:g}; {d['wrong']} of {d['size']} value(s) are off by more"
            + ("\n" + mistakes.explain(finding.mistake, d["mistake"], name)
               if finding.mistake else ""))
    if finding is not None:
        raise CheckFailure(finding.text())
    # the exact error varies with the BLAS build; the bound it met does not
    print(f"OK  {name}: matches the numerical gradient (error < {GRADIENT_TOLERANCE:g})")
