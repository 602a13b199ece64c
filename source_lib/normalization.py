"""Chapter 4 - Normalization: batch, spatial batch, layer and group normalization.

Every variant standardizes some group of values to mean 0 and variance 1 and
then applies a learned scale ``gamma`` and shift ``beta``:

    xhat = (x - mean) / sqrt(var + eps),   out = gamma * xhat + beta

with the biased variance (divided by the count, not count - 1). They differ in
the axes the mean and variance are taken over:

* batch norm, x (N, D): over the batch N, per feature;
* spatial batch norm, x (N, C, H, W): over N, H and W, per channel;
* layer norm, x (N, D): over the features D, per example;
* group norm, x (N, C, H, W): over H, W and the C/G channels of each of G
  groups, per example and group.

``bn_param = {'mode': 'train' | 'test', 'eps': 1e-5, 'momentum': 0.9}``;
batch norm keeps ``running_mean`` (starting at 0) and ``running_var``
(starting at 1) in ``bn_param`` and updates them in training mode:

    running = momentum * running + (1 - momentum) * batch statistic

Each backward pass is the simplified closed form derived in the chapter: for a
group of M values with upstream gradient g = dout * gamma,

    dx = (1 / (M * sqrt(var + eps))) * (M * g - sum(g) - xhat * sum(g * xhat))

Every function marked "Task" is yours to write, between the solution markers.
"""
import numpy as np

from ._tasks import unwritten  # noqa: F401 (the student release's stubs call it)


def batchnorm_forward(x, gamma, beta, bn_param):
    """Task 4.1: batch normalization of a (N, D) batch, training or test mode.

    Training mode normalizes with the batch's mean and biased variance per
    feature and stores updated ``bn_param['running_mean']`` and
    ``bn_param['running_var']`` in the dict (starting from zeros and ones of
    shape (D,) when missing). Test mode normalizes with the running statistics and
    changes nothing.

    Args:
        x: inputs, shape (N, D).
        gamma: scales, shape (D,).
        beta: shifts, shape (D,).
        bn_param: dict with ``mode`` ('train' or 'test'), optional ``eps``
            (default 1e-5) and ``momentum`` (default 0.9), and the running
            statistics.

    Returns:
        Tuple ``(out, cache)``: ``out`` of shape (N, D).

    Raises:
        ValueError: for a mode other than 'train' or 'test'.
    """
    ### BEGIN SOLUTION
    mode = bn_param["mode"]
    eps, momentum = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    D = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(D))
    running_var = bn_param.get("running_var", np.ones(D))
    if mode == "train":
        mean, var = x.mean(axis=0), x.var(axis=0)
        bn_param["running_mean"] = momentum * running_mean + (1 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1 - momentum) * var
    elif mode == "test":
        mean, var = running_mean, running_var
    else:
        raise ValueError(f"bn_param['mode'] must be 'train' or 'test', not {mode!r}")
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    out = gamma * xhat + beta
    return out, (xhat, gamma, inv_std, mode)
    ### END SOLUTION


def batchnorm_backward(dout, cache):
    """Task 4.2: backward pass of batch normalization, in closed form.

    In training mode the mean and variance depend on every example, so ``dx``
    has the two extra terms of the closed form; in test mode they are
    constants and ``dx = dout * gamma / sqrt(running_var + eps)``.

    Args:
        dout: upstream gradient, shape (N, D).
        cache: the cache returned by ``batchnorm_forward``.

    Returns:
        Tuple ``(dx, dgamma, dbeta)`` of shapes (N, D), (D,), (D,).
    """
    ### BEGIN SOLUTION
    xhat, gamma, inv_std, mode = cache
    dgamma = (dout * xhat).sum(axis=0)
    dbeta = dout.sum(axis=0)
    g = dout * gamma
    if mode == "test":
        return g * inv_std, dgamma, dbeta
    N = dout.shape[0]
    dx = inv_std / N * (N * g - g.sum(axis=0) - xhat * (g * xhat).sum(axis=0))
    return dx, dgamma, dbeta
    ### END SOLUTION


def spatial_batchnorm_forward(x, gamma, beta, bn_param):
    """Task 4.3: batch normalization of images, per channel over N, H and W.

    Args:
        x: inputs, shape (N, C, H, W).
        gamma, beta: shape (C,).
        bn_param: as in ``batchnorm_forward``; running statistics of shape (C,).

    Returns:
        Tuple ``(out, cache)``: ``out`` of shape (N, C, H, W).
    """
    ### BEGIN SOLUTION
    N, C, H, W = x.shape
    flat = x.transpose(0, 2, 3, 1).reshape(-1, C)
    out, cache = batchnorm_forward(flat, gamma, beta, bn_param)
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2), cache
    ### END SOLUTION


def spatial_batchnorm_backward(dout, cache):
    """Task 4.4: backward pass of spatial batch normalization.

    Args:
        dout: upstream gradient, shape (N, C, H, W).
        cache: the cache returned by ``spatial_batchnorm_forward``.

    Returns:
        Tuple ``(dx, dgamma, dbeta)`` of shapes (N, C, H, W), (C,), (C,).
    """
    ### BEGIN SOLUTION
    N, C, H, W = dout.shape
    flat = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    dx, dgamma, dbeta = batchnorm_backward(flat, cache)
    return dx.reshape(N, H, W, C).transpose(0, 3, 1, 2), dgamma, dbeta
    ### END SOLUTION


def layernorm_forward(x, gamma, beta, ln_param):
    """Task 4.5: layer normalization, per example over its D features.

    The same computation in training and test mode; there are no running
    statistics.

    Args:
        x: inputs, shape (N, D).
        gamma, beta: shape (D,).
        ln_param: dict with optional ``eps`` (default 1e-5).

    Returns:
        Tuple ``(out, cache)``: ``out`` of shape (N, D).
    """
    ### BEGIN SOLUTION
    eps = ln_param.get("eps", 1e-5)
    mean = x.mean(axis=1, keepdims=True)
    inv_std = 1.0 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - mean) * inv_std
    return gamma * xhat + beta, (xhat, gamma, inv_std)
    ### END SOLUTION


def layernorm_backward(dout, cache):
    """Task 4.6: backward pass of layer normalization, in closed form.

    Args:
        dout: upstream gradient, shape (N, D).
        cache: the cache returned by ``layernorm_forward``.

    Returns:
        Tuple ``(dx, dgamma, dbeta)`` of shapes (N, D), (D,), (D,).
    """
    ### BEGIN SOLUTION
    xhat, gamma, inv_std = cache
    D = dout.shape[1]
    g = dout * gamma
    dx = inv_std / D * (D * g - g.sum(axis=1, keepdims=True)
                        - xhat * (g * xhat).sum(axis=1, keepdims=True))
    return dx, (dout * xhat).sum(axis=0), dout.sum(axis=0)
    ### END SOLUTION


def spatial_groupnorm_forward(x, gamma, beta, G, gn_param):
    """Task 4.7: group normalization of images.

    The C channels are split into G consecutive groups of C / G channels;
    each example's group is normalized over its channels, H and W. ``G = 1``
    is layer norm over (C, H, W); ``G = C`` is instance norm.

    Args:
        x: inputs, shape (N, C, H, W), with C divisible by G.
        gamma, beta: per-channel scale and shift, shape (C,).
        G: the number of groups.
        gn_param: dict with optional ``eps`` (default 1e-5).

    Returns:
        Tuple ``(out, cache)``: ``out`` of shape (N, C, H, W).
    """
    ### BEGIN SOLUTION
    eps = gn_param.get("eps", 1e-5)
    N, C, H, W = x.shape
    grouped = x.reshape(N, G, C // G, H, W)
    mean = grouped.mean(axis=(2, 3, 4), keepdims=True)
    inv_std = 1.0 / np.sqrt(grouped.var(axis=(2, 3, 4), keepdims=True) + eps)
    xhat = ((grouped - mean) * inv_std).reshape(N, C, H, W)
    out = gamma[None, :, None, None] * xhat + beta[None, :, None, None]
    return out, (xhat, gamma, inv_std, G)
    ### END SOLUTION


def spatial_groupnorm_backward(dout, cache):
    """Task 4.8: backward pass of group normalization, in closed form.

    Args:
        dout: upstream gradient, shape (N, C, H, W).
        cache: the cache returned by ``spatial_groupnorm_forward``.

    Returns:
        Tuple ``(dx, dgamma, dbeta)`` of shapes (N, C, H, W), (C,), (C,).
    """
    ### BEGIN SOLUTION
    xhat, gamma, inv_std, G = cache
    N, C, H, W = dout.shape
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dbeta = dout.sum(axis=(0, 2, 3))
    g = (dout * gamma[None, :, None, None]).reshape(N, G, C // G, H, W)
    xg = xhat.reshape(N, G, C // G, H, W)
    M = (C // G) * H * W
    dx = inv_std / M * (M * g - g.sum(axis=(2, 3, 4), keepdims=True)
                        - xg * (g * xg).sum(axis=(2, 3, 4), keepdims=True))
    return dx.reshape(N, C, H, W), dgamma, dbeta
    ### END SOLUTION
