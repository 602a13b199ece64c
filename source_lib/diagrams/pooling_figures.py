"""Diagrams of Chapter 3: pooling windows, the backward pass's routing, adaptive windows."""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..pooling import (
    adaptive_avg_pool_forward,
    avg_pool_backward_fast,
    avg_pool_forward_fast,
    max_pool_backward_fast,
    max_pool_forward_fast,
)
from ._draw import PALETTE, arrow, box, canvas, label

# The chapter's worked example, and the upstream gradient of its backward pass.
EXAMPLE = np.array([[1.0, 3.0, 2.0, 0.0],
                    [4.0, 2.0, 1.0, 5.0],
                    [0.0, 1.0, 7.0, 2.0],
                    [6.0, 3.0, 2.0, 4.0]])
UPSTREAM = np.array([[1.0, 2.0],
                     [3.0, 4.0]])
BLOCKS = {"pool_height": 2, "pool_width": 2, "stride": 2}
# One fill per 2x2 window, in row-major window order.
WINDOW_FILLS = [["input", "weight"], ["output", "highlight"]]


def _window_fill(r, c):
    """The fill of the 2x2 window (stride 2) that holds entry (r, c)."""
    return WINDOW_FILLS[r // 2][c // 2]


def _by_window(r, c):
    """The fill of output (or dout) entry (r, c): one entry per window."""
    return WINDOW_FILLS[r][c]


def _array(ax, x, y, values, fills, fmt="{:g}", bold=(), title=None):
    """A 2-d array as unit cells, row 0 on top, lower-left corner at (x, y).

    ``fills`` gives each cell's fill as a function of (row, col); cells listed in
    ``bold`` get bold text and a thick border in the accent colour.
    """
    rows, cols = len(values), len(values[0])
    marked = set(bold)
    for r in range(rows):
        for c in range(cols):
            heavy = (r, c) in marked
            box(ax, x + c, y + rows - 1 - r, 1, 1, fill=fills(r, c))
            if heavy:  # a thick accent border, drawn over the neighbours' edges
                ax.add_patch(Rectangle((x + c + 0.04, y + rows - 1 - r + 0.04), 0.92, 0.92,
                                       fill=False, edgecolor=PALETTE["accent"], lw=2.6,
                                       zorder=3))
            label(ax, x + c + 0.5, y + rows - 0.5 - r, fmt.format(values[r][c]),
                  fontweight="bold" if heavy else "normal", zorder=4)
    if title:
        label(ax, x + cols / 2, y + rows + 0.45, title)


def _argmax_cells(x, pool_param):
    """(row, col) of the entry that wins each window (first maximum in row-major order)."""
    out, cache = max_pool_forward_fast(x[None, None], pool_param)
    dx = max_pool_backward_fast(np.ones_like(out), cache)
    return [tuple(int(v) for v in rc) for rc in np.argwhere(dx[0, 0] != 0)]


def pooling_windows() -> Figure:
    """Max and average pooling of a 4x4 input with 2x2 windows and stride 2.

    The four windows are coloured, each window's maximum is marked, and the 2x2
    outputs of max pooling and average pooling repeat each window's colour.
    """
    x = EXAMPLE
    pooled_max = max_pool_forward_fast(x[None, None], BLOCKS)[0][0, 0]
    pooled_avg = avg_pool_forward_fast(x[None, None], BLOCKS)[0][0, 0]
    fig, ax = canvas(11.2, 6.5)
    _array(ax, 0.3, 1.0, x, _window_fill, bold=_argmax_cells(x, BLOCKS),
           title="input x, 4x4: four 2x2 windows")
    _array(ax, 8.6, 3.6, pooled_max, _by_window, title="max pooling, 2x2")
    _array(ax, 8.6, 0.4, pooled_avg, _by_window, title="average pooling, 2x2")
    arrow(ax, (4.6, 4.6), (8.4, 4.6), "maximum of each window", offset=(0, 0.12))
    arrow(ax, (4.6, 1.4), (8.4, 1.4), "mean of each window", offset=(0, 0.12))
    label(ax, 2.3, 0.45, "stride 2: no overlap", color=PALETTE["muted"])
    return fig


def gradient_routing() -> Figure:
    """The backward pass of 2x2 pooling with stride 2, with numbers.

    Top row, max pooling: each upstream gradient goes to the maximum of its
    window in x, every other entry of dx is 0. Bottom row, average pooling: each
    upstream gradient is split equally, dout / 4, over its window, whatever x is.
    """
    x, dout = EXAMPLE, UPSTREAM
    winners = _argmax_cells(x, BLOCKS)
    dx_max = max_pool_backward_fast(dout[None, None],
                                    max_pool_forward_fast(x[None, None], BLOCKS)[1])[0, 0]
    dx_avg = avg_pool_backward_fast(dout[None, None],
                                    avg_pool_forward_fast(x[None, None], BLOCKS)[1])[0, 0]
    fig, ax = canvas(14.4, 10.8)
    top, bottom = 5.6, 0.2
    # max pooling
    _array(ax, 0.1, top, x, _window_fill, bold=winners, title="input x (maxima marked)")
    _array(ax, 6.0, top + 1, dout, _by_window, title="upstream dout")
    _array(ax, 10.3, top, dx_max,
           lambda r, c: _window_fill(r, c) if (r, c) in winners else "neutral",
           bold=winners, title="max pooling: dx")
    arrow(ax, (8.3, top + 2), (10.1, top + 2), "to the max", offset=(0, 0.1))
    # average pooling
    label(ax, 2.1, bottom + 2.6, "average pooling", fontweight="bold")
    label(ax, 2.1, bottom + 1.8, "does not look at x:")
    label(ax, 2.1, bottom + 1.2, "each entry gets")
    label(ax, 2.1, bottom + 0.6, "dout / 4 of its window")
    _array(ax, 6.0, bottom + 1, dout, _by_window, title="upstream dout")
    _array(ax, 10.3, bottom, dx_avg, _window_fill, title="average pooling: dx")
    arrow(ax, (8.3, bottom + 2), (10.1, bottom + 2), "split in 4", offset=(0, 0.1))
    return fig


def adaptive_windows(cases: tuple[tuple[int, int], ...] = ((5, 2), (5, 3))) -> Figure:
    """The rows that each output row of adaptive average pooling averages.

    One panel per (H, H') in ``cases``: the H input rows as a strip of cells, and
    below it one bar per output row i, spanning input rows floor(i H / H') to
    ceil((i + 1) H / H') - 1, as ``adaptive_avg_pool_forward`` computes them.
    """
    fills = ["input", "weight", "output", "highlight"]
    width = sum(h for h, _ in cases) + 2.6 * len(cases)
    height = 2.3 + 0.9 * max(ho for _, ho in cases)
    fig, ax = canvas(width, height)
    x0 = 1.4
    for h, ho in cases:
        _, (_, rows, _) = adaptive_avg_pool_forward(np.zeros((1, 1, h, 1)), (ho, 1))
        top = height - 1.6
        label(ax, x0 + h / 2, height - 0.35, f"H = {h}, H' = {ho}")
        for r in range(h):
            box(ax, x0 + r, top, 1, 1, str(r), fill="pad")
        label(ax, x0 - 0.15, top + 0.5, "row", ha="right")
        for i, (r0, r1) in enumerate(rows):
            y = top - 0.9 * (i + 1)
            box(ax, x0 + r0 + 0.05, y + 0.08, r1 - r0 - 0.1, 0.7,
                f"rows {r0}\u2013{r1 - 1}", fill=fills[i % len(fills)])
            label(ax, x0 - 0.15, y + 0.43, f"i = {i}", ha="right")
        x0 += h + 2.6
    return fig
