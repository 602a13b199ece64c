"""Chapter 2 - Convolution.

Images are NCHW: ``x`` of shape (N, C, H, W). Filters are ``w`` of shape
(F, C, HH, WW) with one bias per filter, ``b`` of shape (F,). Like every deep
learning library, "convolution" here is cross-correlation: the filter is not
flipped,

    out[n, f, i, j] = b[f] + sum_{c, p, q} xpad[n, c, i*s + p, j*s + q] * w[f, c, p, q]

where ``xpad`` is ``x`` with ``pad`` zeros added on every side of both spatial
axes and ``s`` is the stride. ``conv_param = {'stride': s, 'pad': pad}``.

Every function marked "Task" is yours to write, between the solution markers;
the fast versions and the cost-table helper are provided.
"""
import numpy as np

from ._tasks import unwritten  # noqa: F401 (the student release's stubs call it)


def _pair(v):
    return (int(v), int(v)) if np.ndim(v) == 0 else (int(v[0]), int(v[1]))


def _windows(size, kernel, stride=1, pad=0):
    """How many windows of ``kernel`` fit along an axis of ``size`` padded by ``pad`` (provided).

    Counted, not computed: numpy lays every window position over an axis of
    the padded length and every ``stride``-th one is kept. The provided code
    uses it, so that it never calls your Task 2.1 (it raises ValueError, as
    yours should, when the window does not fit).
    """
    padded = np.broadcast_to(np.int8(0), (size + 2 * pad,))  # no memory: a view of one value
    return np.lib.stride_tricks.sliding_window_view(padded, kernel)[::stride].shape[0]


def conv_output_size(in_size, kernel, stride=1, pad=0):
    """Task 2.1: the output length of a convolution (or pooling) along one axis.

    out = floor((in_size + 2 * pad - kernel) / stride) + 1

    Positions where the window would stick out past the padded input are
    dropped (the floor), as in TensorFlow's 'VALID' padding.

    Args:
        in_size: input length (height or width), int >= 1.
        kernel: window length, int >= 1.
        stride: step between windows, int >= 1.
        pad: zeros added on each side, int >= 0.

    Returns:
        The output length, an int >= 1.

    Raises:
        ValueError: if the window is longer than the padded input, or an
            argument is out of range.
    """
    ### BEGIN SOLUTION
    if in_size < 1 or kernel < 1 or stride < 1 or pad < 0:
        raise ValueError(f"need in_size, kernel, stride >= 1 and pad >= 0, got "
                         f"in_size={in_size}, kernel={kernel}, stride={stride}, pad={pad}")
    padded = in_size + 2 * pad
    if kernel > padded:
        raise ValueError(f"a window of {kernel} does not fit in {padded} (input {in_size} "
                         f"with padding {pad} on each side)")
    return (padded - kernel) // stride + 1
    ### END SOLUTION


def conv_layer_cost(in_hw, in_channels, out_channels, kernel, stride=1, pad=0):
    """Task 2.2: output size, parameter count and multiply-adds of a conv layer.

    Counting convention: parameters are the weights plus one bias per output
    channel, ``out_channels * (in_channels * kh * kw + 1)``. Multiply-adds
    (MACs) are counted per example, one per weight per output position,
    ``out_h * out_w * out_channels * in_channels * kh * kw``; the bias
    additions are not counted.

    Args:
        in_hw: input height and width, an int (square) or a pair (H, W).
        in_channels: C, the number of input channels.
        out_channels: F, the number of filters.
        kernel: the filter size, an int (square) or a pair (kh, kw).
        stride: int, the same along both axes.
        pad: int, zeros on each side of both axes.

    Returns:
        Tuple ``((out_h, out_w), parameters, macs)`` of ints.
    """
    ### BEGIN SOLUTION
    (H, W), (kh, kw) = _pair(in_hw), _pair(kernel)
    out_h = conv_output_size(H, kh, stride, pad)
    out_w = conv_output_size(W, kw, stride, pad)
    params = out_channels * (in_channels * kh * kw + 1)
    macs = out_h * out_w * out_channels * in_channels * kh * kw
    return (out_h, out_w), params, macs
    ### END SOLUTION


def network_cost(input_shape: tuple[int, ...], layers: list[tuple]) -> list[dict]:
    """Per-layer shapes, parameters and multiply-adds of a stack of layers (provided).

    Args:
        input_shape: (H, W, C) of one example.
        layers: list of ``(kind, options)`` with kind one of
            ``"conv"`` (options ``filters``, ``kernel``, ``stride`` = 1,
            ``pad`` = 0 or ``"same"``), ``"pool"`` (``size``, ``stride`` =
            size), ``"flatten"`` (no options), ``"dense"`` (``units``).

    Returns:
        List of dicts with keys ``layer``, ``input``, ``output`` (shapes as
        tuples, (H, W, C) or (D,)), ``parameters`` and ``macs``. Pooling and
        flatten have no parameters and no multiply-adds; a dense layer has
        ``D * units + units`` parameters and ``D * units`` multiply-adds.
    """
    rows, shape = [], tuple(input_shape)
    for kind, *rest in layers:
        opt = rest[0] if rest else {}
        if kind == "conv":
            H, W, C = shape
            kh, kw = _pair(opt["kernel"])
            stride = opt.get("stride", 1)
            pad = opt.get("pad", 0)
            if pad == "same":
                # TensorFlow's 'same': ceil(size / stride) along each axis, the padding
                # split as needed (unevenly for even kernels)
                oh, ow = -(-H // stride), -(-W // stride)
            else:
                oh, ow = _windows(H, kh, stride, pad), _windows(W, kw, stride, pad)
            # the counting convention of conv_layer_cost's docstring: one bias per filter,
            # one multiply-add per weight and output position
            weights = opt["filters"] * C * kh * kw
            params, macs = weights + opt["filters"], oh * ow * weights
            out, name = (oh, ow, opt["filters"]), f"conv {kh}x{kw}/{opt['filters']}"
            if stride != 1:
                name += f" stride {stride}"
        elif kind == "pool":
            H, W, C = shape
            size, stride = opt["size"], opt.get("stride", opt["size"])
            out = (_windows(H, size, stride), _windows(W, size, stride), C)
            params, macs, name = 0, 0, f"pool {size}x{size}"
        elif kind == "flatten":
            out, params, macs, name = (int(np.prod(shape)),), 0, 0, "flatten"
        elif kind == "dense":
            (D,), units = shape, opt["units"]
            out, params, macs, name = (units,), D * units + units, D * units, f"dense {units}"
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        rows.append({"layer": name, "input": shape, "output": out,
                     "parameters": params, "macs": macs})
        shape = out
    return rows


def print_cost_table(input_shape: tuple[int, ...], layers: list[tuple]) -> None:
    """Print ``network_cost`` as a table with totals (provided)."""
    rows = network_cost(input_shape, layers)
    fmt = "{:<22} {:>14} {:>14} {:>12} {:>14}"
    print(fmt.format("layer", "input", "output", "parameters", "multiply-adds"))
    for r in rows:
        print(fmt.format(r["layer"], "x".join(map(str, r["input"])),
                         "x".join(map(str, r["output"])), f"{r['parameters']:,}", f"{r['macs']:,}"))
    print(fmt.format("total", "", "", f"{sum(r['parameters'] for r in rows):,}",
                     f"{sum(r['macs'] for r in rows):,}"))


def conv_forward_naive(x, w, b, conv_param):
    """Task 2.3: forward pass of a convolutional layer, with explicit loops.

    Args:
        x: input, shape (N, C, H, W).
        w: filters, shape (F, C, HH, WW).
        b: biases, shape (F,).
        conv_param: dict with ``stride`` (int >= 1) and ``pad`` (int >= 0,
            zeros added on all four sides).

    Returns:
        Tuple ``(out, cache)``: ``out`` of shape (N, F, H', W') with
        H' = conv_output_size(H, HH, stride, pad) and likewise W';
        ``cache`` holds what ``conv_backward_naive`` needs.
    """
    ### BEGIN SOLUTION
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho = conv_output_size(H, HH, stride, pad)
    Wo = conv_output_size(W, WW, stride, pad)
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    out = np.zeros((N, F, Ho, Wo))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    window = xp[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    cache = (x, w, b, conv_param)
    return out, cache
    ### END SOLUTION


def conv_backward_naive(dout, cache):
    """Task 2.4: backward pass of a convolutional layer, with explicit loops.

    Args:
        dout: upstream gradient, shape (N, F, H', W').
        cache: the cache returned by ``conv_forward_naive``.

    Returns:
        Tuple ``(dx, dw, db)`` with the shapes of ``x`` (N, C, H, W), ``w``
        (F, C, HH, WW) and ``b`` (F,). Padding positions receive gradient too,
        but ``dx`` covers only the unpadded input.
    """
    ### BEGIN SOLUTION
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    _, _, Ho, Wo = dout.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(N):
        for f in range(F):
            for i in range(Ho):
                for j in range(Wo):
                    rows = slice(i * stride, i * stride + HH)
                    cols = slice(j * stride, j * stride + WW)
                    dw[f] += xp[n, :, rows, cols] * dout[n, f, i, j]
                    dxp[n, :, rows, cols] += w[f] * dout[n, f, i, j]
    dx = dxp[:, :, pad:pad + H, pad:pad + W]
    return dx, dw, db
    ### END SOLUTION


# The fast layers below cut the work into few, large numpy operations: copies that move
# long contiguous stretches of memory, and matrix products (BLAS).
_MIN_POSITIONS = 256  # from this many output positions per image, a few images at a time
_BLOCK_BYTES = 1 << 20  # their column matrices together: about the size of a core's cache


def _phases(size, pad, stride):
    """How one axis of a padded input is split by ``stride`` (provided).

    Padded index ``stride * a + r`` goes to phase ``r``, position ``a``. For each phase,
    ``(r, a0, i0, n)``: the input indices ``i0, i0 + stride, ...`` (``n`` of them) land at
    ``a = a0, a0 + 1, ...``. Split this way, every filter tap of a strided convolution reads
    (and its gradient writes) one plain block of one phase, not every ``stride``-th value.
    """
    phases = []
    for r in range(stride):
        a0 = max(0, -((r - pad) // stride))  # first position holding an input value, not padding
        i0 = stride * a0 + r - pad
        phases.append((r, a0, i0, len(range(i0, size, stride))))
    return phases


def _batch_last(a):
    """A copy of ``a`` (N, ...) with the batch axis last in memory, shape (..., N) (provided).

    Eight images at a time: numpy then reads eight rows side by side, several times
    faster than one transposing copy.
    """
    N = a.shape[0]
    rows = a.reshape(N, -1)
    out = np.empty((rows.shape[1], N), a.dtype)
    for n in range(0, N, 8):
        out[:, n:n + 8] = rows[n:n + 8].T
    return out.reshape(a.shape[1:] + (N,))


def _batch_first(a, out):
    """Copy ``a`` (..., N) into ``out`` (N, ...), 512 values of every image at a time (provided)."""
    N = a.shape[-1]
    cols, rows = a.reshape(-1, N), out.reshape(N, -1)
    for m in range(0, cols.shape[0], 512):
        rows[:, m:m + 512] = cols[m:m + 512].T
    return out


def _split_zeros(shape, stride, pad, dtype, batch_last):
    """Zeros for a padded (n, C, H, W) input split by phase: a view (n, C, s, s, A, B) (provided).

    With ``batch_last`` the batch axis lies last in memory, as in ``_batch_last``.
    """
    n, C, H, W = shape
    A, B = -(-(H + 2 * pad) // stride), -(-(W + 2 * pad) // stride)
    if batch_last:
        return np.zeros((C, stride, stride, A, B, n), dtype).transpose(5, 0, 1, 2, 3, 4)
    return np.zeros((n, C, stride, stride, A, B), dtype)


def _columns(x, HH, WW, Ho, Wo, stride, pad, batch_last):
    """The im2col matrix of ``x`` (n, C, H, W) with a last row of ones, for the bias (provided).

    Returns (C*HH*WW + 1, H'*W'*n), columns ordered (i, j, image), if ``batch_last``;
    else (n, C*HH*WW + 1, H'*W'), one matrix per image. Row ``(c, p, q)`` holds tap
    (p, q) of channel c of every window.
    """
    n, C, H, W = x.shape
    K = C * HH * WW
    if batch_last:
        x = _batch_last(x).transpose(3, 0, 1, 2)  # the same values, images side by side
    xq = _split_zeros(x.shape, stride, pad, x.dtype, batch_last)
    for r, a0, i0, nh in _phases(H, pad, stride):
        for t, b0, j0, nw in _phases(W, pad, stride):
            xq[:, :, r, t, a0:a0 + nh, b0:b0 + nw] = x[:, :, i0::stride, j0::stride]
    if batch_last:
        cols = np.empty((K + 1, Ho * Wo * n), x.dtype)
        taps = cols[:K].reshape(C, HH, WW, Ho, Wo, n).transpose(5, 0, 1, 2, 3, 4)
        cols[K] = 1
    else:
        cols = np.empty((n, K + 1, Ho * Wo), x.dtype)
        taps = cols[:, :K].reshape(n, C, HH, WW, Ho, Wo)
        cols[:, K] = 1
    for p in range(HH):  # one copy per filter tap, of a whole block of the phase it reads
        for q in range(WW):
            taps[:, :, p, q] = xq[:, :, p % stride, q % stride,
                                  p // stride:p // stride + Ho, q // stride:q // stride + Wo]
    return cols


def _col2im(dtaps, dx, stride, pad, batch_last):
    """Add the tap gradients ``dtaps`` (n, C, HH, WW, H', W') back into ``dx`` (n, C, H, W) (provided).

    col2im: one addition per filter tap into the padded, phase-split gradient, then the
    padding is dropped. Additions, never a matrix product: a NaN or inf lands only where
    the naive loops put it.
    """
    _, _, HH, WW, Ho, Wo = dtaps.shape
    n, C, H, W = dx.shape
    dxq = _split_zeros(dx.shape, stride, pad, dtaps.dtype, batch_last)
    for p in range(HH):
        for q in range(WW):
            dxq[:, :, p % stride, q % stride, p // stride:p // stride + Ho,
                q // stride:q // stride + Wo] += dtaps[:, :, p, q]
    target = np.empty((C, H, W, n), dx.dtype).transpose(3, 0, 1, 2) if batch_last else dx
    for r, a0, i0, nh in _phases(H, pad, stride):
        for t, b0, j0, nw in _phases(W, pad, stride):
            target[:, :, i0::stride, j0::stride] = dxq[:, :, r, t, a0:a0 + nh, b0:b0 + nw]
    if batch_last:
        _batch_first(target.transpose(1, 2, 3, 0), dx)


def _image_blocks(N, K, Ho, Wo, itemsize):
    """Slices of the batch for the fast convolution, and whether the batch axis goes last.

    Small outputs (under ``_MIN_POSITIONS`` positions per image): the whole batch at once,
    images side by side in memory, so that copies move long stretches and the matrix
    products are large. Large ones: blocks of images whose column matrix fits in a
    core's cache, each image's columns one matrix.
    """
    if Ho * Wo < _MIN_POSITIONS:
        return [slice(0, N)], True
    per_block = max(1, _BLOCK_BYTES // ((K + 1) * Ho * Wo * itemsize))
    return [slice(i, i + per_block) for i in range(0, N, per_block)], False


def conv_forward_fast(x: np.ndarray, w: np.ndarray, b: np.ndarray,
                      conv_param: dict[str, int]) -> tuple[np.ndarray, tuple]:
    """Vectorized forward pass (provided): the same contract as ``conv_forward_naive``.

    im2col: every window of the padded input becomes one column of a matrix with
    C*HH*WW rows (one per filter tap and channel) plus a row of ones, and a matrix
    product with the filters, shaped (F, C*HH*WW + 1) with the biases as last column,
    computes the outputs. Small images go all at once (one product), large ones a few
    at a time (one product per image).

    Args:
        x: input, shape (N, C, H, W).
        w: filters, shape (F, C, HH, WW).
        b: biases, shape (F,).
        conv_param: dict with ``stride`` and ``pad``.

    Returns:
        Tuple ``(out, cache)``: ``out`` of shape (N, F, H', W'), in the dtype of ``x`` and
        ``w`` together (float32 stays float32); ``cache`` is ``(x, w, b, conv_param,
        cols)``, ``cols`` the column matrix (C*HH*WW + 1, H'*W'*N) when the batch went at
        once, else None (the backward pass rebuilds it a few images at a time).
    """
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = _windows(H, HH, stride, pad), _windows(W, WW, stride, pad)
    dtype = np.result_type(x, w)
    x = np.asarray(x, dtype)
    K = C * HH * WW
    wb = np.empty((F, K + 1), dtype)  # (F, C*HH*WW + 1): filters as rows, then the biases
    wb[:, :K], wb[:, K] = w.reshape(F, K), b
    out = np.empty((N, F, Ho, Wo), dtype)
    blocks, batch_last = _image_blocks(N, K, Ho, Wo, dtype.itemsize)
    if batch_last:
        cols = _columns(x, HH, WW, Ho, Wo, stride, pad, True)  # (K + 1, H'*W'*N)
        _batch_first((wb @ cols).reshape(F, Ho, Wo, N), out)
        return out, (x, w, b, conv_param, cols)
    for block in blocks:
        cols = _columns(x[block], HH, WW, Ho, Wo, stride, pad, False)  # (n, K + 1, H'*W')
        np.matmul(wb, cols, out=out[block].reshape(-1, F, Ho * Wo))
    return out, (x, w, b, conv_param, None)


def conv_backward_fast(dout: np.ndarray, cache: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vectorized backward pass (provided): the same contract as ``conv_backward_naive``.

    With the column matrix ``cols`` of the forward pass and ``d``, the upstream gradient
    as an (F, positions) matrix: ``d @ cols.T`` gives ``dw`` and, in its last column
    (the row of ones), ``db``; ``w.T @ d`` gives the gradient of every column, which
    col2im adds back into ``dx`` with one strided addition per filter tap.

    Args:
        dout: upstream gradient, shape (N, F, H', W').
        cache: the cache returned by ``conv_forward_fast`` (or ``conv_forward_naive``).

    Returns:
        Tuple ``(dx, dw, db)`` with the shapes of ``x`` (N, C, H, W), ``w``
        (F, C, HH, WW) and ``b`` (F,).
    """
    x, w, b, conv_param = cache[:4]
    cols = cache[4] if len(cache) > 4 else None  # (a naive cache works too)
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F, _, HH, WW = w.shape
    Ho, Wo = dout.shape[2:]
    K = C * HH * WW
    dtype = np.result_type(dout, x, w)
    dout = np.asarray(dout, dtype)
    wt = w.reshape(F, K).T  # (C*HH*WW, F)
    dx = np.empty(x.shape, dtype)
    blocks, batch_last = _image_blocks(N, K, Ho, Wo, dtype.itemsize)
    if batch_last:
        if cols is None:
            cols = _columns(x, HH, WW, Ho, Wo, stride, pad, True)
        d = _batch_last(dout).reshape(F, Ho * Wo * N)
        dwb = d @ cols.T  # (F, K + 1)
        dtaps = (wt @ d).reshape(C, HH, WW, Ho, Wo, N).transpose(5, 0, 1, 2, 3, 4)
        _col2im(dtaps, dx, stride, pad, True)
    else:
        dwb = np.zeros((F, K + 1), dtype)
        for block in blocks:
            cols = _columns(x[block], HH, WW, Ho, Wo, stride, pad, False)
            d = dout[block].reshape(-1, F, Ho * Wo)
            dwb += np.matmul(d, cols.transpose(0, 2, 1)).sum(axis=0)
            dtaps = np.matmul(wt, d).reshape(-1, C, HH, WW, Ho, Wo)
            _col2im(dtaps, dx[block], stride, pad, False)
    return dx, dwb[:, :K].reshape(w.shape), dwb[:, K].copy()


def conv_transpose_forward(x, w, b, conv_param):
    """Task 2.5 (advanced): forward pass of a transposed convolution.

    The transposed convolution is the backward pass of a convolution with
    respect to its input: each input value scatters a copy of the filter,
    scaled by that value, into the output, at ``stride`` steps, and ``pad``
    rows and columns are then cropped from every side:

        full[n, f, i*s + p, j*s + q] += x[n, c, i, j] * w[c, f, p, q]
        out[n, f] = full[n, f, pad:H_full - pad, pad:W_full - pad] + b[f]

    with ``full`` of shape (N, F, H_full, W_full) = (N, F, (H - 1) * s + HH,
    (W - 1) * s + WW).

    Args:
        x: input, shape (N, C, H, W).
        w: filters, shape (C, F, HH, WW) (input channels first, as the
            convolution it transposes would have them second).
        b: biases, shape (F,).
        conv_param: dict with ``stride`` and ``pad``.

    Returns:
        Tuple ``(out, cache)``: ``out`` of shape (N, F, H', W') with
        H' = (H - 1) * stride + HH - 2 * pad, and likewise W'.
    """
    ### BEGIN SOLUTION
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    _, F, HH, WW = w.shape
    full = np.zeros((N, F, (H - 1) * stride + HH, (W - 1) * stride + WW))
    for p in range(HH):
        for q in range(WW):
            full[:, :, p:p + stride * H:stride, q:q + stride * W:stride] += \
                np.einsum("nchw,cf->nfhw", x, w[:, :, p, q])
    out = full[:, :, pad:full.shape[2] - pad, pad:full.shape[3] - pad] + b[None, :, None, None]
    return out, (x, w, b, conv_param)
    ### END SOLUTION


def conv_transpose_backward(dout, cache):
    """Task 2.6 (advanced): backward pass of a transposed convolution.

    Args:
        dout: upstream gradient, shape (N, F, H', W').
        cache: the cache returned by ``conv_transpose_forward``.

    Returns:
        Tuple ``(dx, dw, db)`` shaped like ``x`` (N, C, H, W), ``w``
        (C, F, HH, WW) and ``b`` (F,).
    """
    ### BEGIN SOLUTION
    x, w, b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    _, F, HH, WW = w.shape
    dfull = np.pad(dout, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dx = np.zeros_like(x)
    dw = np.zeros_like(w)
    for p in range(HH):
        for q in range(WW):
            window = dfull[:, :, p:p + stride * H:stride, q:q + stride * W:stride]
            dx += np.einsum("nfhw,cf->nchw", window, w[:, :, p, q])
            dw[:, :, p, q] = np.einsum("nchw,nfhw->cf", x, window)
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db
    ### END SOLUTION
