"""Diagrams of Chapter 5: the sparse autoencoder, from a patch to a sparse code and back."""
import numpy as np
from matplotlib.figure import Figure

from ._draw import PALETTE, arrow, box, canvas, label

_SIDE = 8       # the patch is 8 x 8 pixels: D = 64 inputs
_CODE = 5       # the code is drawn as a 5 x 5 grid: H = 25 hidden units
_ACTIVE = {(1, 3): 0.95, (3, 1): 0.6}   # the few units active for this patch


def _grey(value):
    """A hex grey for ``value`` in [0, 1] (0 black, 1 white)."""
    level = int(round(255 * float(np.clip(value, 0, 1))))
    return f"#{level:02x}{level:02x}{level:02x}"


def _edge_patch():
    """A deterministic 8 x 8 patch: a light region and a dark one split by an oblique edge."""
    rows, cols = np.mgrid[0:_SIDE, 0:_SIDE]
    distance = (cols - 0.6 * rows - 1.8) / 1.2          # signed distance to the edge
    return 0.5 + 0.35 * np.tanh(distance)


def _blurred(patch):
    """The patch smoothed by a 3 x 3 average and pulled towards grey: a plausible
    reconstruction, which keeps the large edge and loses detail."""
    padded = np.pad(patch, 1, mode="edge")
    smooth = sum(padded[r:r + _SIDE, c:c + _SIDE] for r in range(3) for c in range(3)) / 9
    return 0.5 + 0.7 * (smooth - 0.5)


def _pixels(ax, x, y, values):
    """An array of grey values drawn as unit cells, row 0 at the top, corner at (x, y)."""
    rows = len(values)
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            box(ax, x + c, y + rows - 1 - r, 1, 1, fill=_grey(value), lw=0.6)


def sparse_autoencoder() -> Figure:
    """The sparse autoencoder of the chapter, with D = 64 and H = 25.

    An 8 x 8 input patch (64 input units, one per pixel) goes through ``W1``
    (25 x 64), ``b1`` and the sigmoid to a code of 25 hidden units, of which only
    two are active for this patch; ``W2`` (64 x 25), ``b2`` and the sigmoid map
    the code back to an 8 x 8 reconstruction. Below the code, bars show each
    hidden unit's mean activation over the batch, close to the target rho.
    """
    fig, ax = canvas(33, 18)
    patch = _edge_patch()

    # input patch, D = 64
    x_in, y_grid = 0.5, 7.5
    _pixels(ax, x_in, y_grid, patch)
    label(ax, x_in + 4, 16.6, "input patch $x$")
    label(ax, x_in + 4, 6.6, "$D = 64$ inputs")

    # hidden layer, H = 25, few active
    x_h, y_h = 14, 9
    for r in range(_CODE):
        for c in range(_CODE):
            level = _ACTIVE.get((r, c), 0.0)
            fill = "accent" if level > 0.8 else ("highlight" if level > 0 else "neutral")
            box(ax, x_h + c, y_h + _CODE - 1 - r, 1, 1, fill=fill, lw=0.8)
    label(ax, x_h + 2.5, 16.6, "code $a$ (hidden layer)")
    label(ax, x_h + 2.5, 15.2, "few units active", color=PALETTE["accent"])
    label(ax, x_h + 2.5, 8.1, "$H = 25$ units")
    label(ax, x_h + 2.5, 6.6, r"$a = \sigma(W_1 x + b_1)$")

    # reconstruction
    x_out = 24.5
    _pixels(ax, x_out, y_grid, _blurred(patch))
    label(ax, x_out + 4, 16.6, r"reconstruction $\hat{x}$")
    label(ax, x_out + 4, 6.6, r"$\hat{x} = \sigma(W_2 a + b_2)$")

    # the two layers' weights, with their shapes
    for x0, name, shape in ((9.0, "$W_1$", r"$25 \times 64$"),
                            (19.5, "$W_2$", r"$64 \times 25$")):
        arrow(ax, (x0, 11.5), (x0 + 4.5, 11.5), name, offset=(0, 0.3))
        label(ax, x0 + 2.25, 11.0, shape, va="top")

    # sparsity: the mean activation of each unit over the batch, against the target
    rho, scale = 0.01, 180.0                       # bar height in units per activation
    base, left, step, width = 0.5, 9.5, 0.56, 0.4
    rho_hat = rho * (1.0 + 0.12 * np.cos(np.arange(25) * 2.4) + 0.08)
    for j, value in enumerate(rho_hat):
        box(ax, left + j * step, base, width, value * scale, fill="weight", lw=0.6)
    right = left + 25 * step
    ax.plot([left - 0.3, right], [base + rho * scale] * 2,
            linestyle="--", color=PALETTE["edge"], linewidth=1.2)
    label(ax, right + 0.3, base + rho * scale, r"target $\rho$", ha="left")
    label(ax, left - 0.5, base + 1.1, r"$\hat{\rho}_j$", ha="right")
    label(ax, (left + right) / 2, 4.2,
          r"mean activation $\hat{\rho}_j$ of each hidden unit over the batch",
          va="bottom")
    return fig
