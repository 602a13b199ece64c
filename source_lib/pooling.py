"""Chapter 3 - Pooling and flattening.

Images are NCHW: ``x`` of shape (N, C, H, W). Pooling acts on each channel of
each example separately, over windows of ``pool_height`` x ``pool_width``
placed every ``stride`` positions, with no padding:

    H' = (H - pool_height) // stride + 1,   W' = (W - pool_width) // stride + 1

``pool_param = {'pool_height': ph, 'pool_width': pw, 'stride': s}``. Windows
overlap when the stride is smaller than the window.

Every function marked "Task" is yours to write, between the solution markers;
the fast versions and global and adaptive average pooling are provided.
"""
import numpy as np

from ._tasks import unwritten  # noqa: F401 (the student release's stubs call it)


def _pool_shape(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x.shape
    if ph > H or pw > W or min(ph, pw, s) < 1:
        raise ValueError(f"a {ph}x{pw} window with stride {s} does not fit a {H}x{W} input")
    return ph, pw, s, (H - ph) // s + 1, (W - pw) // s + 1


def max_pool_forward_naive(x, pool_param):
    """Task 3.1: forward pass of max pooling, with explicit loops.

    Args:
        x: input, shape (N, C, H, W).
        pool_param: dict with ``pool_height``, ``pool_width`` and ``stride``.

    Returns:
        Tuple ``(out, cache)``: ``out`` of shape (N, C, H', W'), the maximum
        of each window.
    """
    ### BEGIN SOLUTION
    ph, pw, s, Ho, Wo = _pool_shape(x, pool_param)
    N, C = x.shape[:2]
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)
    ### END SOLUTION


def max_pool_backward_naive(dout, cache):
    """Task 3.2: backward pass of max pooling.

    Each window's upstream gradient goes to the one input that was its
    maximum. Tie rule (TensorFlow's): when several inputs of a window share
    the maximum, the first one in row-major order (top row first, then left
    to right) gets all of it. Overlapping windows add their gradients.

    Args:
        dout: upstream gradient, shape (N, C, H', W').
        cache: the cache returned by ``max_pool_forward_naive``.

    Returns:
        ``dx``, shape (N, C, H, W).
    """
    ### BEGIN SOLUTION
    x, pool_param = cache
    ph, pw, s, Ho, Wo = _pool_shape(x, pool_param)
    N, C = x.shape[:2]
    dx = np.zeros_like(x)
    for n in range(N):
        for c in range(C):
            for i in range(Ho):
                for j in range(Wo):
                    window = x[n, c, i * s:i * s + ph, j * s:j * s + pw]
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * s + p, j * s + q] += dout[n, c, i, j]
    return dx
    ### END SOLUTION


def avg_pool_forward_naive(x, pool_param):
    """Task 3.3: forward pass of average pooling, with explicit loops.

    Args:
        x: input, shape (N, C, H, W).
        pool_param: dict with ``pool_height``, ``pool_width`` and ``stride``.

    Returns:
        Tuple ``(out, cache)``: ``out`` of shape (N, C, H', W'), the mean of
        each window.
    """
    ### BEGIN SOLUTION
    ph, pw, s, Ho, Wo = _pool_shape(x, pool_param)
    N, C = x.shape[:2]
    out = np.zeros((N, C, Ho, Wo))
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].mean(axis=(2, 3))
    return out, (x.shape, pool_param)
    ### END SOLUTION


def avg_pool_backward_naive(dout, cache):
    """Task 3.4: backward pass of average pooling.

    Each window's upstream gradient is shared equally by the
    ``pool_height * pool_width`` inputs of the window; overlapping windows
    add their shares.

    Args:
        dout: upstream gradient, shape (N, C, H', W').
        cache: the cache returned by ``avg_pool_forward_naive``.

    Returns:
        ``dx``, shape (N, C, H, W).
    """
    ### BEGIN SOLUTION
    x_shape, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros(x_shape)
    Ho, Wo = dout.shape[2:]
    for i in range(Ho):
        for j in range(Wo):
            share = dout[:, :, i, j] / (ph * pw)
            dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += share[:, :, None, None]
    return dx
    ### END SOLUTION


def flatten_forward(x):
    """Task 3.5: flatten every example into one row.

    Args:
        x: input, shape (N, d_1, ..., d_k).

    Returns:
        Tuple ``(out, cache)``: ``out`` of shape (N, d_1 * ... * d_k), in
        row-major (C) order.
    """
    ### BEGIN SOLUTION
    return x.reshape(x.shape[0], -1), x.shape
    ### END SOLUTION


def flatten_backward(dout, cache):
    """Task 3.6: backward pass of flatten.

    Args:
        dout: upstream gradient, shape (N, D).
        cache: the cache returned by ``flatten_forward``.

    Returns:
        ``dx`` of the input's shape (N, d_1, ..., d_k).
    """
    ### BEGIN SOLUTION
    return dout.reshape(cache)
    ### END SOLUTION


def _pool_windows(x, ph, pw, s):
    """Read-only view (N, C, H', W', ph, pw) of every pooling window."""
    view = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))
    return view[:, :, ::s, ::s]


def max_pool_forward_fast(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Vectorized max pooling (provided): the contract of ``max_pool_forward_naive``."""
    ph, pw, s, Ho, Wo = _pool_shape(x, pool_param)
    windows = _pool_windows(x, ph, pw, s)
    N, C = x.shape[:2]
    # argmax over the flattened window returns the first maximum: TensorFlow's tie rule
    arg = windows.reshape(N, C, Ho, Wo, ph * pw).argmax(axis=-1)
    out = np.take_along_axis(windows.reshape(N, C, Ho, Wo, ph * pw), arg[..., None], -1)[..., 0]
    return out, (x.shape, pool_param, arg)


def max_pool_backward_fast(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Vectorized max-pooling gradient (provided): the contract of ``max_pool_backward_naive``."""
    x_shape, pool_param, arg = cache
    pw, s = pool_param["pool_width"], pool_param["stride"]
    N, C, H, W = x_shape
    Ho, Wo = dout.shape[2:]
    rows = np.arange(Ho)[:, None] * s + arg // pw
    cols = np.arange(Wo)[None, :] * s + arg % pw
    flat = (np.arange(N * C).reshape(N, C, 1, 1) * H + rows) * W + cols
    dx = np.bincount(flat.ravel(), weights=dout.ravel(), minlength=N * C * H * W)
    return dx.reshape(x_shape)


def avg_pool_forward_fast(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Vectorized average pooling (provided): the contract of ``avg_pool_forward_naive``."""
    ph, pw, s, Ho, Wo = _pool_shape(x, pool_param)
    total = np.zeros(x.shape[:2] + (Ho, Wo))
    for p in range(ph):  # one strided slice per window position: 4x faster than .mean on a view
        for q in range(pw):
            total += x[:, :, p:p + s * Ho:s, q:q + s * Wo:s]
    return total / (ph * pw), (x.shape, pool_param)


def avg_pool_backward_fast(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Vectorized average-pooling gradient (provided): the contract of ``avg_pool_backward_naive``."""
    x_shape, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    Ho, Wo = dout.shape[2:]
    dx = np.zeros(x_shape)
    share = dout / (ph * pw)
    for p in range(ph):  # one strided addition per window position
        for q in range(pw):
            dx[:, :, p:p + s * Ho:s, q:q + s * Wo:s] += share
    return dx


def adaptive_avg_pool_forward(x: np.ndarray,
                              output_size: int | tuple[int, int]) -> tuple[np.ndarray, tuple]:
    """Adaptive average pooling to a given output size (provided).

    Output cell (i, j) averages rows floor(i*H/H') to ceil((i+1)*H/H') - 1 and
    the matching columns, as PyTorch's ``AdaptiveAvgPool2d`` does; windows may
    differ in size by one when H' does not divide H. Output size (1, 1) is
    global average pooling.

    Args:
        x: input, shape (N, C, H, W).
        output_size: int or pair (H', W'), each at most the input size.

    Returns:
        Tuple ``(out, cache)``, ``out`` of shape (N, C, H', W').
    """
    Ho, Wo = (output_size, output_size) if np.ndim(output_size) == 0 else output_size
    N, C, H, W = x.shape
    if not (1 <= Ho <= H and 1 <= Wo <= W):
        raise ValueError(f"output size {(Ho, Wo)} must lie between (1, 1) and the input's {(H, W)}")
    rows = [(i * H // Ho, -(-(i + 1) * H // Ho)) for i in range(Ho)]
    cols = [(j * W // Wo, -(-(j + 1) * W // Wo)) for j in range(Wo)]
    out = np.zeros((N, C, Ho, Wo))
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].mean(axis=(2, 3))
    return out, (x.shape, rows, cols)


def adaptive_avg_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of ``adaptive_avg_pool_forward`` (provided); ``dx`` has the input's shape."""
    x_shape, rows, cols = cache
    dx = np.zeros(x_shape)
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            dx[:, :, r0:r1, c0:c1] += (dout[:, :, i, j] / ((r1 - r0) * (c1 - c0)))[:, :, None, None]
    return dx


def global_avg_pool_forward(x: np.ndarray) -> tuple[np.ndarray, tuple]:
    """Global average pooling (provided): the mean of each channel, shape (N, C)."""
    out, cache = adaptive_avg_pool_forward(x, 1)
    return out[:, :, 0, 0], cache


def global_avg_pool_backward(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Gradient of ``global_avg_pool_forward`` (provided): ``dout`` (N, C) -> ``dx`` (N, C, H, W)."""
    return adaptive_avg_pool_backward(dout[:, :, None, None], cache)
