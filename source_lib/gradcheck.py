"""Numerical gradients and relative errors (provided, not graded).

The five-point centred difference

    f'(x) ~ (f(x - 2h) - 8 f(x - h) + 8 f(x + h) - f(x + 2h)) / 12h

has error O(h^4). With h = 1e-2 it estimates the gradient of float64 code to
about 1e-9 of the gradient's scale, and of float32 code (whose values are
rounded to about 1e-7, an error the difference divides by h) to about 2e-4;
``checking.check_gradient`` allows 1e-3. A wrong gradient is typically off by
1e-2 or more. Near a kink (ReLU at 0, two equal maxima in a pooling window)
the estimate is meaningless: keep test inputs at least 2h away from them.
"""
from collections.abc import Callable

import numpy as np


def rel_error(x: np.ndarray | float, y: np.ndarray | float) -> float:
    """Largest elementwise relative error, max |x - y| / max(1e-8, |x| + |y|).

    Args:
        x, y: arrays of the same shape (or scalars).

    Returns:
        A Python float.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


STEP = 1e-2
STENCIL = ((-2, 1.0), (-1, -8.0), (1, 8.0), (2, -1.0))  # (multiple of h, weight / 12h)


def _centered_differences(x, value, h):
    """Gradient of the scalar ``value()`` with respect to ``x``, perturbed in place."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        total = 0.0
        for step, weight in STENCIL:
            x[ix] = old + step * h
            total += weight * value()
        x[ix] = old
        grad[ix] = total / (12 * h)
        it.iternext()
    return grad


def eval_numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray,
                            h: float = STEP) -> np.ndarray:
    """Gradient of a scalar function ``f`` at ``x`` by centered differences.

    ``x`` is perturbed in place, one entry at a time, and restored.

    Args:
        f: function taking an array shaped like ``x`` and returning a scalar.
        x: float64 array of any shape, the point to differentiate at.
        h: step size (see the module's docstring).

    Returns:
        Array of the same shape as ``x``.
    """
    return _centered_differences(x, lambda: float(f(x)), h)


def eval_numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                                  df: np.ndarray, h: float = STEP) -> np.ndarray:
    """Gradient of ``sum(f(x) * df)`` at ``x``: backpropagates ``df`` numerically.

    This is what a layer's ``backward(dout, cache)`` must return for
    ``dout = df``.

    Args:
        f: function taking an array shaped like ``x`` and returning an array
            shaped like ``df``.
        x: float64 array of any shape, perturbed in place and restored.
        df: upstream gradient, same shape as ``f(x)``.
        h: step size (see the module's docstring).

    Returns:
        Array of the same shape as ``x``.
    """
    return _centered_differences(x, lambda: float(np.sum(np.asarray(f(x), dtype=np.float64) * df)), h)
