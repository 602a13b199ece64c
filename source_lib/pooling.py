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


def _image_blocks(a, budget=1 << 20):
    """Slices of the batch of about ``budget`` bytes of ``a`` each (provided).

    The fast pooling functions pass over a block several times (once per window
    position); a block this size stays in a core's cache between the passes.
    """
    per_block = max(1, budget // max(1, a[0].nbytes))
    return [slice(i, i + per_block) for i in range(0, len(a), per_block)]


def _window_views(a, ph, pw, s, Ho, Wo):
    """The ph * pw strided views (n, C, H', W') of ``a``, one per position in the window,
    in row-major order: view k holds that position of every window."""
    return [a[:, :, p:p + s * (Ho - 1) + 1:s, q:q + s * (Wo - 1) + 1:s]
            for p in range(ph) for q in range(pw)]


def _fold(ufunc, views, out):
    """``out`` = ufunc(...ufunc(ufunc(views[0], views[1]), views[2])..., views[-1]), in place."""
    if len(views) == 1:
        out[...] = views[0]
        return
    ufunc(views[0], views[1], out=out)
    for view in views[2:]:
        ufunc(out, view, out=out)


def _tiles(shape, ph, pw, s, Ho, Wo):
    """Whether the windows tile the input exactly: no overlap, no gap, no leftover row or column."""
    return s == ph == pw and shape[2:] == (Ho * ph, Wo * pw)


def _window_sums(x, ph, pw, s, Ho, Wo, out):
    """``out`` (N, C, H', W') = the sum of each window of ``x`` (N, C, H, W), a block of
    images at a time (provided).

    Windows that tile the input add up each window row first, over all rows of all
    images at once (one long addition per column of the window), then the rows of each
    window: numpy's cost goes with the number of short inner loops, not of values.
    Otherwise one addition per position in the window, in row-major order.
    """
    tiles = _tiles(x.shape, ph, pw, s, Ho, Wo)
    for block in _image_blocks(x):
        if not tiles:
            _fold(np.add, _window_views(x[block], ph, pw, s, Ho, Wo), out[block])
            continue
        cells = np.ascontiguousarray(x[block]).reshape(-1, pw)  # one window row a line
        rows = np.empty(len(cells), out.dtype)
        _fold(np.add, [cells[:, q] for q in range(pw)], rows)
        rows = rows.reshape(-1, ph, Wo)  # (images * C * H', window rows, W')
        _fold(np.add, [rows[:, p] for p in range(ph)], out[block].reshape(-1, Wo))


def max_pool_forward_fast(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Vectorized max pooling (provided): the contract of ``max_pool_forward_naive``.

    One ``np.maximum`` per position in the window, over that position of every window
    at once (a NaN in a window makes its maximum NaN, as ``.max`` does). ``x`` (N, C, H, W)
    gives ``out`` (N, C, H', W') in the dtype of ``x``; the cache is ``(x, pool_param, out)``.
    """
    ph, pw, s, Ho, Wo = _pool_shape(x, pool_param)
    out = np.empty(x.shape[:2] + (Ho, Wo), x.dtype)
    for block in _image_blocks(x):
        _fold(np.maximum, _window_views(x[block], ph, pw, s, Ho, Wo), out[block])
    return out, (x, pool_param, out)


def max_pool_backward_fast(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Vectorized max-pooling gradient (provided): the contract of ``max_pool_backward_naive``.

    Position k of a window gets the window's gradient if it holds the maximum (or a
    NaN, which ``np.argmax`` takes as the maximum) and no earlier position does: the
    first maximum in row-major order, the tie rule. The gradient is placed by
    multiplying its bit pattern by 0 or 1, so a NaN or inf in ``dout`` goes only to its
    window's maximum, as in the naive loop. ``dout`` (N, C, H', W') gives ``dx``
    (N, C, H, W), in the dtype of ``x`` and ``dout`` together.
    """
    x, pool_param, out = cache
    ph, pw, s, Ho, Wo = _pool_shape(x, pool_param)
    dtype = np.result_type(x, dout)
    bits = np.dtype(f"u{dtype.itemsize}")  # an unsigned integer as wide as the floats
    dbits = np.asarray(dout, dtype).view(bits)
    tiles = _tiles(x.shape, ph, pw, s, Ho, Wo)
    dx = (np.empty if tiles else np.zeros)(x.shape, dtype)  # tiles: every value is written
    overlap = s < max(ph, pw)
    for block in _image_blocks(x):
        o = out[block]
        nan = np.isnan(o).any()
        hits, taken = [], None
        for view in _window_views(x[block], ph, pw, s, Ho, Wo):
            hit = view == o
            if nan:
                hit |= np.isnan(view)
            if taken is None:
                taken = hit.copy()
            else:
                np.greater(hit, taken, out=hit)  # a maximum here, and none before: hit & ~taken
                taken |= hit
            hits.append(hit)
        # in reverse, so that overlapping windows add into dx in the naive loop's order
        views = _window_views(dx[block], ph, pw, s, Ho, Wo)
        for hit, view in reversed(list(zip(hits, views))):
            if overlap:
                view += np.multiply(dbits[block], hit, dtype=bits).view(dtype)
            else:
                np.multiply(dbits[block], hit, out=view.view(bits))
    return dx


def avg_pool_forward_fast(x: np.ndarray, pool_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Vectorized average pooling (provided): the contract of ``avg_pool_forward_naive``.

    The sum of each window (``_window_sums``: the additions in another order than the
    naive loop's, equal to rounding), then one division. ``x`` (N, C, H, W) gives ``out``
    (N, C, H', W'); float inputs keep their dtype, integers give float64.
    """
    ph, pw, s, Ho, Wo = _pool_shape(x, pool_param)
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    out = np.empty(x.shape[:2] + (Ho, Wo), dtype)
    _window_sums(x, ph, pw, s, Ho, Wo, out)
    out /= ph * pw
    return out, (x.shape, pool_param)


def avg_pool_backward_fast(dout: np.ndarray, cache: tuple) -> np.ndarray:
    """Vectorized average-pooling gradient (provided): the contract of ``avg_pool_backward_naive``.

    ``dout`` (N, C, H', W') gives ``dx`` (N, C, H, W) in the dtype of ``dout``. Windows
    that tile the input: each share copied over its window (``np.repeat`` along the
    window's row, then down its rows). Otherwise one strided addition per position in
    the window, in reverse so that overlapping windows add in the naive loop's order.
    """
    x_shape, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    Ho, Wo = dout.shape[2:]
    share = dout / (ph * pw)
    if _tiles(x_shape, ph, pw, s, Ho, Wo):
        # each share repeated along its window row, then each such row down its window
        row = np.repeat(share.reshape(-1, Wo), pw, axis=1)  # (N * C * H', W)
        return np.repeat(row, ph, axis=0).reshape(x_shape)
    dx = np.zeros(x_shape, share.dtype)
    for block in _image_blocks(dx):
        for view in reversed(_window_views(dx[block], ph, pw, s, Ho, Wo)):
            view += share[block]
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
