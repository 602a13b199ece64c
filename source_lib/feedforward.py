"""Chapter 1 - Feed-forward networks.

Two APIs live here:

* a two-layer sigmoid network trained with mean squared error, written with a
  weights dict (``W1 (H, D)``, ``b1 (H,)``, ``W2 (C, H)`` or ``(H,)``,
  ``b2 (C,)`` or a scalar) and ``Z1 = X @ W1.T + b1``;
* modular layers in the ``forward -> (out, cache)`` / ``backward(dout, cache)``
  style that later chapters stack into deeper networks.

Every function marked "Task" is yours to write, between the solution markers.
All arrays are float64 unless stated otherwise.
"""
import numpy as np

from ._tasks import unwritten  # noqa: F401 (the student release's stubs call it)


def sigmoid(z):
    """Task 1.1: the logistic sigmoid, elementwise.

    sigma(z) = 1 / (1 + exp(-z))

    Args:
        z: array of any shape.

    Returns:
        Array of the same shape as ``z`` with values in (0, 1). It must not
        overflow or warn for large negative ``z`` (try ``z = -1000``).
    """
    ### BEGIN SOLUTION
    z = np.asarray(z, dtype=np.float64)
    # exp of a non-positive number never overflows: pick the stable form per sign
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))
    ### END SOLUTION


def sigmoid_grad(z):
    """Task 1.2: the derivative of the sigmoid with respect to its input.

    d sigma / dz = sigma(z) * (1 - sigma(z))

    Args:
        z: pre-activation, array of any shape (not the activation sigma(z)).

    Returns:
        Array of the same shape as ``z``.
    """
    ### BEGIN SOLUTION
    s = sigmoid(z)
    return s * (1.0 - s)
    ### END SOLUTION


def forward_propagation(X, weights):
    """Task 1.3: forward pass of the two-layer sigmoid network.

    Z1 = X W1^T + b1,   H = sigma(Z1),   Z2 = H W2^T + b2,   Y = sigma(Z2)

    Args:
        X: inputs, shape (N, D).
        weights: dict with ``W1`` (H, D), ``b1`` (H,), ``W2`` (C, H) and
            ``b2`` (C,); or, for a single output unit, ``W2`` (H,) and a
            scalar ``b2``.

    Returns:
        Tuple ``(Y, Z2, H, Z1)``: ``Y`` and ``Z2`` of shape (N, C), or (N,)
        for a single output unit; ``H`` and ``Z1`` of shape (N, H).
    """
    ### BEGIN SOLUTION
    Z1 = X @ weights["W1"].T + weights["b1"]
    H = sigmoid(Z1)
    Z2 = H @ weights["W2"].T + weights["b2"]
    Y = sigmoid(Z2)
    return Y, Z2, H, Z1
    ### END SOLUTION


def mse_loss(Y, Y_T):
    """Task 1.4: mean squared error, halved.

    L = sum((Y - Y_T)**2) / (2 N), where N is the number of examples (the
    length of the first axis).

    Args:
        Y: predictions, shape (N,) or (N, C).
        Y_T: targets, same shape as ``Y``.

    Returns:
        The loss, a Python float.
    """
    ### BEGIN SOLUTION
    Y = np.asarray(Y, dtype=np.float64)
    return float(np.sum((Y - Y_T) ** 2) / (2 * Y.shape[0]))
    ### END SOLUTION


def back_propagation(X, Y_T, weights):
    """Task 1.5: gradients of ``mse_loss`` for the two-layer sigmoid network.

    Run ``forward_propagation``, then apply the chain rule layer by layer:

        delta2 = (Y - Y_T) / N  (elementwise times)  sigma'(Z2)
        dL/dW2 = delta2^T H,   dL/db2 = delta2 summed over the examples
        delta1 = (delta2 W2)  (elementwise times)  sigma'(Z1)
        dL/dW1 = delta1^T X,   dL/db1 = delta1 summed over the examples

    Args:
        X: inputs, shape (N, D).
        Y_T: targets, shape (N, C), or (N,) for a single output unit.
        weights: dict as in ``forward_propagation``.

    Returns:
        Tuple ``(gradients, loss)``: ``gradients`` is a dict with keys
        ``W1``, ``b1``, ``W2``, ``b2``, each of the same shape as that weight
        (``b2``'s gradient is a scalar when ``b2`` is one); ``loss`` is
        ``mse_loss(Y, Y_T)``.
    """
    ### BEGIN SOLUTION
    W2 = weights["W2"]
    Y, Z2, H, Z1 = forward_propagation(X, weights)
    N = X.shape[0]
    loss = mse_loss(Y, Y_T)
    dZ2 = (Y - Y_T) / N * sigmoid_grad(Z2)
    if W2.ndim == 1:
        # single output unit: W2 (H,), b2 scalar, Y (N,)
        dW2 = H.T @ dZ2
        db2 = np.sum(dZ2)
        dZ1 = np.outer(dZ2, W2) * sigmoid_grad(Z1)
    else:
        dW2 = dZ2.T @ H
        db2 = np.sum(dZ2, axis=0)
        dZ1 = (dZ2 @ W2) * sigmoid_grad(Z1)
    dW1 = dZ1.T @ X
    db1 = np.sum(dZ1, axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}, loss
    ### END SOLUTION


def affine_forward(x, w, b):
    """Task 1.6: forward pass of a fully connected (affine) layer.

    Each example is flattened to a row of length D = d_1 * ... * d_k, then
    out = x_flat @ w + b.

    Args:
        x: inputs, shape (N, d_1, ..., d_k).
        w: weights, shape (D, M).
        b: biases, shape (M,).

    Returns:
        Tuple ``(out, cache)``: ``out`` of shape (N, M); ``cache`` holds what
        ``affine_backward`` needs.
    """
    ### BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1) @ w + b
    cache = (x, w, b)
    return out, cache
    ### END SOLUTION


def affine_backward(dout, cache):
    """Task 1.7: backward pass of the affine layer.

    Args:
        dout: upstream gradient, shape (N, M).
        cache: the cache returned by ``affine_forward``.

    Returns:
        Tuple ``(dx, dw, db)`` with the shapes of ``x`` (N, d_1, ..., d_k),
        ``w`` (D, M) and ``b`` (M,).
    """
    ### BEGIN SOLUTION
    x, w, b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = np.sum(dout, axis=0)
    return dx, dw, db
    ### END SOLUTION


def relu_forward(x):
    """Task 1.8: forward pass of the rectified linear unit, max(0, x).

    Args:
        x: inputs, array of any shape.

    Returns:
        Tuple ``(out, cache)``: ``out`` of the same shape as ``x``.
    """
    ### BEGIN SOLUTION
    out = np.maximum(0.0, x)
    cache = x
    return out, cache
    ### END SOLUTION


def relu_backward(dout, cache):
    """Task 1.9: backward pass of the ReLU.

    The gradient passes where the input was positive and is zero elsewhere
    (at exactly 0 it is taken to be 0).

    Args:
        dout: upstream gradient, any shape.
        cache: the cache returned by ``relu_forward``.

    Returns:
        ``dx``, the same shape as ``dout``.
    """
    ### BEGIN SOLUTION
    x = cache
    dx = dout * (x > 0)
    return dx
    ### END SOLUTION


def softmax_loss(x, y):
    """Task 1.10: softmax cross-entropy loss and its gradient.

    p_ij = exp(x_ij) / sum_k exp(x_ik),  L = -mean_i log p_{i, y_i}

    Subtract each row's maximum before exponentiating so that large scores do
    not overflow.

    Args:
        x: class scores, shape (N, C).
        y: integer labels, shape (N,), with 0 <= y[i] < C.

    Returns:
        Tuple ``(loss, dx)``: ``loss`` a Python float, ``dx`` of shape (N, C).
    """
    ### BEGIN SOLUTION
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    N = x.shape[0]
    loss = float(-np.mean(log_probs[np.arange(N), y]))
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1.0
    dx /= N
    return loss, dx
    ### END SOLUTION
