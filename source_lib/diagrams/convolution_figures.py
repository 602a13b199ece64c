"""Diagrams of Chapter 2: a sliding filter, im2col, transposed convolution, receptive fields."""
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ._draw import FONT_SIZE, PALETTE, arrow, box, canvas, grid, label

# Okabe-Ito colours for the outlines that tell several windows apart, and light
# tints of them for the cells they mark.
_LINES = ["#d55e00", "#0072b2", "#009e73", "#cc79a7"]
_TINTS = ["#f7c8ad", "#b5d3ec", "#b3e3d3", "#efcde0"]


def _outline(ax, x, y, w, h, color, lw=2.6, inset=0.0, ls="-"):
    """An unfilled rectangle in ``color``, shrunk by ``inset`` on every side."""
    ax.add_patch(Rectangle((x + inset, y + inset), w - 2 * inset, h - 2 * inset,
                           facecolor="none", edgecolor=color, linewidth=lw, linestyle=ls,
                           zorder=5))


def _cells(ax, x, y, values, fills, size=10, fmt="{:g}"):
    """Like ``grid``, but each cell (r, c) filled with ``fills[r][c]``, drawn once."""
    rows = len(values)
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            box(ax, x + c, y + rows - 1 - r, 1, 1, "" if value is None else fmt.format(value),
                fill=fills[r][c], size=size)


def _cell(ax, grid_x, grid_y, rows, r, c):
    """Lower-left corner of cell (r, c) of a grid drawn by ``grid`` at (grid_x, grid_y)."""
    return grid_x + c, grid_y + rows - 1 - r


def sliding_window() -> Figure:
    """A 3x3 filter sliding with stride 2 over a 5x5 input padded by 1.

    Three positions of the filter are outlined on the padded input in three colours,
    and the output entries they compute are marked in the same colours on the 3x3
    output; the output-size formula is written with the diagram's numbers.
    """
    fig, ax = canvas(18.5, 10.2)
    H, P, K, S = 5, 1, 3, 2
    n = H + 2 * P
    out = (H + 2 * P - K) // S + 1

    # the filter, at the left
    label(ax, 1.5, 8.6, "filter $w$, 3×3")
    grid(ax, 0, 4.6, [[f"$w_{{{p}{q}}}$" for q in range(K)] for p in range(K)],
         fill="weight", size=10, fmt="{}")

    # the padded input: padding cells grey with their zeros, input cells blank
    gx, gy = 4.5, 1.8
    values = [["0" if min(r, c) < P or max(r, c) >= P + H else None for c in range(n)]
              for r in range(n)]
    grid(ax, gx, gy, values, fill="input", fmt="{}", size=10,
         highlight=[(r, c) for r in range(n) for c in range(n) if values[r][c] is not None],
         highlight_fill="pad")
    label(ax, gx + n / 2, gy + n + 0.95, "input 5×5 (blue), padded by $P = 1$ (grey zeros)")

    # three filter positions and the output entries they compute
    positions = [(0, 0), (0, 1), (1, 1)]
    for k, (i, j) in enumerate(positions):
        x0, y0 = _cell(ax, gx, gy, n, S * i + K - 1, S * j)
        _outline(ax, x0, y0, K, K, _LINES[k], inset=0.06 + 0.09 * k)
    # the stride: the distance between the first two positions
    arrow(ax, (gx + 1.5, gy + n + 0.25), (gx + 1.5 + S, gy + n + 0.25), color=_LINES[1],
          head=10, lw=1.6)
    label(ax, gx + 2.5 + S, gy + n + 0.27, "stride $s = 2$", ha="left", size=10)

    ox, oy = 14.5, 3.8
    names = [[f"$y_{{{i}{j}}}$" for j in range(out)] for i in range(out)]
    fills = [["output"] * out for _ in range(out)]
    for k, (i, j) in enumerate(positions):
        fills[i][j] = _TINTS[k]
    _cells(ax, ox, oy, names, fills, fmt="{}")
    for k, (i, j) in enumerate(positions):
        x0, y0 = _cell(ax, ox, oy, out, i, j)
        _outline(ax, x0, y0, 1, 1, _LINES[k], inset=0.06)
    label(ax, ox + out / 2, oy + out + 0.6, "output 3×3")
    arrow(ax, (gx + n + 0.3, oy + out / 2), (ox - 0.3, oy + out / 2))

    label(ax, 9.25, 0.7,
          r"$H' = \lfloor (H + 2P - HH)/s \rfloor + 1"
          r" = \lfloor (5 + 2 \cdot 1 - 3)/2 \rfloor + 1 = 3$", size=FONT_SIZE + 1)
    return fig


def im2col() -> Figure:
    """im2col: the windows of a 3x4 input become the columns of a matrix.

    Two 2x2 filters become the rows of a weight matrix; one matrix product gives
    every output, and a reshape turns its rows back into feature maps. Two windows
    and the columns they become are marked in colour; every matrix is labelled with
    its shape.
    """
    x = np.arange(1, 13).reshape(3, 4)
    w = np.array([[[1, 2], [0, -1]], [[1, 1], [1, 1]]])
    HH = WW = 2
    Ho, Wo = x.shape[0] - HH + 1, x.shape[1] - WW + 1
    cols = np.array([[x[i + p, j + q] for i in range(Ho) for j in range(Wo)]
                     for p in range(HH) for q in range(WW)])            # (4, 6)
    wmat = w.reshape(2, -1)                                               # (2, 4)
    prod = wmat @ cols                                                    # (2, 6)
    marked = [(0, 0), (1, 2)]                      # windows (i, j) shown in colour
    marked_cols = [i * Wo + j for i, j in marked]

    fig, ax = canvas(24.0, 12.2)
    size = 10

    # top row: the filters, the input, the output maps
    fy = 8.4
    for f in range(2):
        grid(ax, 0.2 + 2.7 * f, fy, w[f], fill="weight", size=size)
        label(ax, 1.2 + 2.7 * f, fy + 2.5, f"filter {f}", size=size)
    label(ax, 0.2, fy - 0.55, "$w$: (F, C, HH, WW)\n= (2, 1, 2, 2)", size=size, ha="left",
          va="top")

    ix, iy = 7.5, 8.0
    grid(ax, ix, iy, x, fill="input", size=size)
    for k, (i, j) in enumerate(marked):
        x0, y0 = _cell(ax, ix, iy, 3, i + HH - 1, j)
        _outline(ax, x0, y0, WW, HH, _LINES[k], inset=0.07)
    label(ax, ix + 2, iy + 3.5, "$x$: one image, one channel, 3×4", size=size)

    mx, my = 15.6, 8.6
    maps = prod.reshape(2, Ho, Wo)
    fills = [["output"] * Wo for _ in range(Ho)]
    for k, (i, j) in enumerate(marked):
        fills[i][j] = _TINTS[k]
    for f in range(2):
        _cells(ax, mx + 4 * f, my, maps[f], fills, size=size)
        label(ax, mx + 1.5 + 4 * f, my + 2.5, f"map {f}", size=size)
        for k, (i, j) in enumerate(marked):
            x0, y0 = _cell(ax, mx + 4 * f, my, Ho, i, j)
            _outline(ax, x0, y0, 1, 1, _LINES[k], inset=0.06)
    label(ax, mx + 3.5, my - 0.55, "out: (N, F, H', W') = (1, 2, 2, 3)", size=size)

    # bottom row: W @ cols = product
    by = 1.6
    grid(ax, 0.2, by + 1, wmat, fill="weight", size=size)
    label(ax, 2.2, by + 0.3, "(F, C·HH·WW)\n= (2, 4)", size=size, va="top")
    label(ax, 5.0, by + 2, "@", size=FONT_SIZE + 4)
    cx = 6.0
    grid(ax, cx, by, cols, fill="input", size=size)
    for k, col in enumerate(marked_cols):
        _outline(ax, cx + col, by, 1, 4, _LINES[k], inset=0.07)
    label(ax, cx + 3, by - 0.2, "cols: (C·HH·WW, N·H'·W') = (4, 6)", size=size, va="top")
    label(ax, 12.9, by + 2, "=", size=FONT_SIZE + 4)
    px = 13.8
    fills = [["output"] * prod.shape[1] for _ in range(2)]
    for k, col in enumerate(marked_cols):
        fills[0][col] = fills[1][col] = _TINTS[k]
    _cells(ax, px, by + 1, prod, fills, size=size)
    for k, col in enumerate(marked_cols):
        _outline(ax, px + col, by + 1, 1, 2, _LINES[k], inset=0.07)
    label(ax, px + 3, by + 0.3, "(F, N·H'·W') = (2, 6)", size=size, va="top")

    # arrows between the rows
    arrow(ax, (2.2, fy - 2.0), (2.2, by + 3.2), "each filter\n→ a row", size=size,
          offset=(0.15, -0.5))
    ax.texts[-1].set_ha("left")
    arrow(ax, (ix + 2, iy - 0.15), (cx + 3, by + 4.15), "each window → a column",
          size=size, offset=(0.2, -0.25))
    ax.texts[-1].set_ha("left")
    arrow(ax, (px + 3, by + 3.15), (mx + 3.5, my - 1.1), "reshape", size=size,
          offset=(0.25, -0.25))
    ax.texts[-1].set_ha("left")
    return fig


def transposed_convolution() -> Figure:
    """A transposed convolution with a 3x3 filter, stride 2 and padding 1.

    Each entry of a 2x2 input scatters a copy of the filter scaled by it into a 5x5
    map, the copies 2 positions apart and summed where they overlap; cropping the
    padding leaves the 3x3 output. The same computation is the input gradient of
    a 3x3 convolution with stride 2 and padding 1 that maps 3x3 to 2x2.
    """
    x = np.array([[1, 2], [3, 4]])
    w = np.arange(1, 10).reshape(3, 3)
    S, P, K = 2, 1, 3
    n = (x.shape[0] - 1) * S + K
    full = np.zeros((n, n), dtype=int)
    cover = np.zeros((n, n), dtype=int)
    owner = np.zeros((n, n), dtype=int)
    for k, (i, j) in enumerate(np.ndindex(*x.shape)):
        full[S * i:S * i + K, S * j:S * j + K] += x[i, j] * w
        cover[S * i:S * i + K, S * j:S * j + K] += 1
        owner[S * i:S * i + K, S * j:S * j + K] = k
    out = full[P:n - P, P:n - P]

    fig, ax = canvas(22.0, 10.6)
    size = 10
    gy = 3.4

    # the input, one colour per entry, and the filter
    _cells(ax, 0.2, gy + 1.5, x, [_TINTS[:2], _TINTS[2:]], size=size)
    for k, (i, j) in enumerate(np.ndindex(*x.shape)):
        x0, y0 = _cell(ax, 0.2, gy + 1.5, 2, i, j)
        _outline(ax, x0, y0, 1, 1, _LINES[k], inset=0.06)
    label(ax, 1.2, gy + 4.1, "input $x$\n2×2", size=size)
    grid(ax, 3.2, gy + 1, w, fill="weight", size=size)
    label(ax, 4.7, gy + 4.6, "filter $w$\n3×3", size=size)

    # the scattered copies, summed
    fx = 9.0
    values = [[int(v) for v in row] for row in full]
    fills = [["highlight" if cover[r, c] > 1 else _TINTS[owner[r, c]] for c in range(n)]
             for r in range(n)]
    _cells(ax, fx, gy, values, fills, size=size)
    for k, (i, j) in enumerate(np.ndindex(*x.shape)):
        x0, y0 = _cell(ax, fx, gy, n, S * i + K - 1, S * j)
        _outline(ax, x0, y0, K, K, _LINES[k], lw=2.0, inset=0.04 + 0.06 * k)
    _outline(ax, fx + P, gy + P, n - 2 * P, n - 2 * P, PALETTE["edge"], lw=2.2, ls="--",
             inset=-0.02)
    label(ax, fx + n / 2, gy + n + 1.15, "$x_{ij} \\cdot w$ scattered $s = 2$ apart,\n"
          "pink: overlaps, summed", size=size)
    arrow(ax, (6.6, gy + 2.5), (fx - 0.3, gy + 2.5), "scatter", size=size)

    # the cropped output
    ox = 18.3
    grid(ax, ox, gy + 1, out, fill="output", size=size)
    label(ax, ox + 1.5, gy + 4.6, "output 3×3", size=size)
    arrow(ax, (fx + n + 0.3, gy + 2.5), (ox - 0.3, gy + 2.5), "crop $P = 1$", size=size)

    label(ax, 11.0, 2.35,
          r"$H' = (H - 1)\,s + HH - 2P = (2 - 1) \cdot 2 + 3 - 2 \cdot 1 = 3$",
          size=FONT_SIZE)
    label(ax, 11.0, 0.85,
          "The same as the backward pass of a 3×3 convolution with $s = 2$, $P = 1$\n"
          "(3×3 → 2×2) for $\\mathrm{dout} = x$: "
          "the 5×5 map is $d\\tilde{x}$, the crop is $dx$.",
          size=size)
    return fig


def _cone(ax, layer_y, x0, top_layer, top_index, color, tint):
    """The units below ``top_index`` of ``top_layer`` that reach it, with path counts."""
    counts = {top_layer: {top_index: 1}}
    for layer in range(top_layer, 0, -1):
        below = {}
        for i, n_paths in counts[layer].items():
            for d in (-1, 0, 1):
                below[i + d] = below.get(i + d, 0) + n_paths
                ax.plot([x0 + i + 0.5, x0 + i + d + 0.5],
                        [layer_y[layer], layer_y[layer - 1] + 1], color=color, lw=1.0,
                        zorder=1)
        counts[layer - 1] = below
    for layer, row in counts.items():
        for i, n_paths in row.items():
            box(ax, x0 + i, layer_y[layer], 1, 1, n_paths, fill=tint, size=10)
        lo = min(row)
        _outline(ax, x0 + lo, layer_y[layer], len(row), 1, color, lw=2.2, inset=0.05)
    return counts


def receptive_field() -> Figure:
    """The receptive fields of stacked 3x3 convolutions with stride 1.

    Left, a side view of one row of an input and of three stacked layers: a unit of
    layer 2 reaches 5 input pixels, a unit of layer 3 reaches 7; each cell shows how
    many paths lead from it to the unit. Right, the input seen from above: the 3x3,
    5x5 and 7x7 windows of units of layers 1, 2 and 3 centred on the same pixel, the
    5x5 window holding the path counts of the layer-2 unit.
    """
    fig, ax = canvas(33.6, 11.0)
    n, x0 = 14, 3.6
    layer_y = [0.8, 3.2, 5.6, 8.0]
    names = ["input", "layer 1", "layer 2", "layer 3"]
    for layer, y in enumerate(layer_y):
        grid(ax, x0, y, (1, n), fill="neutral")
        label(ax, x0 - 0.3, y + 0.5, names[layer], ha="right", size=10)
    _cone(ax, layer_y, x0, 2, 3, _LINES[1], _TINTS[1])
    _cone(ax, layer_y, x0, 3, 9, _LINES[0], _TINTS[0])
    label(ax, x0 + 3.5, 0.35, "5 pixels", size=10, color=_LINES[1])
    label(ax, x0 + 9.5, 0.35, "7 pixels", size=10, color=_LINES[0])

    # the input from above, with the path counts of a layer-2 unit in its 5x5 window
    gx, gy, m = 19.0, 0.8, 9
    ones = np.array([1, 2, 3, 2, 1])
    paths = np.zeros((m, m), dtype=int)
    paths[2:7, 2:7] = np.outer(ones, ones)
    values = [[v if v else None for v in row] for row in paths]
    grid(ax, gx, gy, values, fill="neutral", size=10,
         highlight=[(r, c) for r in range(m) for c in range(m) if paths[r, c]],
         highlight_fill=_TINTS[1])
    for half, color, lw in ((1, _LINES[2], 2.6), (2, _LINES[1], 2.6), (3, _LINES[0], 2.6)):
        c = m // 2
        _outline(ax, gx + c - half, gy + c - half, 2 * half + 1, 2 * half + 1, color,
                 lw=lw, inset=0.04)
    label(ax, gx + m / 2, gy + m + 0.45, "input from above", size=10)
    label(ax, gx + m + 0.3, gy + 5.5, "layer 1: 3×3", ha="left", size=10, color=_LINES[2])
    label(ax, gx + m + 0.3, gy + 4.5, "layer 2: 5×5", ha="left", size=10, color=_LINES[1])
    label(ax, gx + m + 0.3, gy + 3.5, "layer 3: 7×7", ha="left", size=10, color=_LINES[0])
    return fig
