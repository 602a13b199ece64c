"""Numerical gradients and relative errors (provided, not graded).

Centered differences, f'(x) ~ (f(x + h) - f(x - h)) / 2h, have error O(h^2):
with h = 1e-5 in float64 a correct analytic gradient agrees to about 1e-8 or
better in relative error, while a wrong one is typically off by 1e-2 or more.
"""
import numpy as np


def rel_error(x, y):
    """Largest elementwise relative error, max |x - y| / max(1e-8, |x| + |y|).

    Args:
        x, y: arrays of the same shape (or scalars).

    Returns:
        A Python float.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def _centered_differences(x, value, h):
    """Gradient of the scalar ``value()`` with respect to ``x``, perturbed in place."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        plus = value()
        x[ix] = old - h
        minus = value()
        x[ix] = old
        grad[ix] = (plus - minus) / (2 * h)
        it.iternext()
    return grad


def eval_numerical_gradient(f, x, h=1e-5):
    """Gradient of a scalar function ``f`` at ``x`` by centered differences.

    ``x`` is perturbed in place, one entry at a time, and restored.

    Args:
        f: function taking an array shaped like ``x`` and returning a scalar.
        x: float64 array of any shape, the point to differentiate at.
        h: step size.

    Returns:
        Array of the same shape as ``x``.
    """
    return _centered_differences(x, lambda: float(f(x)), h)


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of ``sum(f(x) * df)`` at ``x``: backpropagates ``df`` numerically.

    This is what a layer's ``backward(dout, cache)`` must return for
    ``dout = df``.

    Args:
        f: function taking an array shaped like ``x`` and returning an array
            shaped like ``df``.
        x: float64 array of any shape, perturbed in place and restored.
        df: upstream gradient, same shape as ``f(x)``.
        h: step size.

    Returns:
        Array of the same shape as ``x``.
    """
    return _centered_differences(x, lambda: float(np.sum(np.asarray(f(x), dtype=np.float64) * df)), h)
