"""Diagrams of Chapter 1: the two-layer network and its computation graphs."""
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from ._draw import FONT_SIZE, PALETTE, arrow, box, canvas, label

_RADIUS = 0.55


def _unit(ax, x, y, text, fill):
    """One unit of a layer: a circle centred at (x, y) with ``text`` in it."""
    ax.add_patch(Circle((x, y), _RADIUS, facecolor=PALETTE[fill],
                        edgecolor=PALETTE["edge"], linewidth=1.0, zorder=3))
    label(ax, x, y, text, zorder=4)


def _line(ax, start, end, color="muted", lw=0.8, style="-", zorder=1):
    """A plain connection between two units, drawn from centre to centre under them."""
    ax.plot([start[0], end[0]], [start[1], end[1]], color=PALETTE.get(color, color),
            linewidth=lw, linestyle=style, zorder=zorder)


def network() -> Figure:
    """The chapter's two-layer network: D inputs, K hidden units, C output units.

    Every input is connected to every hidden unit by an entry of ``W1`` (K, D), every
    hidden unit to every output unit by an entry of ``W2`` (C, K); a constant unit 1
    feeds the biases ``b1`` (K,) and ``b2`` (C,). The connections into hidden unit 1,
    row 1 of ``W1``, are drawn in the accent colour. Below each layer: its arrays and
    their shapes for a batch of N examples, in the chapter's notation.
    """
    fig, ax = canvas(20, 12.6)
    x_in, x_hid, x_out = 2.3, 10.0, 17.7
    inputs = {"$x_1$": 10.4, "$x_2$": 9.0, "$x_3$": 7.6, "$x_D$": 5.2}
    hidden = {"$h_1$": 9.7, "$h_2$": 8.3, "$h_K$": 5.9}
    outputs = {"$y_1$": 8.9, "$y_C$": 6.5}
    bias_in, bias_hid = (x_in, 3.6), (x_hid, 4.3)

    # connections first, so that the units are drawn over them
    for yi in inputs.values():
        for hname, yh in hidden.items():
            first = hname == "$h_1$"
            _line(ax, (x_in, yi), (x_hid, yh), color="accent" if first else "muted",
                  lw=1.6 if first else 0.8, zorder=2 if first else 1)
    for yh in hidden.values():
        _line(ax, bias_in, (x_hid, yh), style="--")
        for yo in outputs.values():
            _line(ax, (x_hid, yh), (x_out, yo))
    for yo in outputs.values():
        _line(ax, bias_hid, (x_out, yo), style="--")

    for name, y in inputs.items():
        _unit(ax, x_in, y, name, "input")
    for name, y in hidden.items():
        _unit(ax, x_hid, y, name, "pad")
    for name, y in outputs.items():
        _unit(ax, x_out, y, name, "output")
    for x, y in (bias_in, bias_hid):
        _unit(ax, x, y, "1", "neutral")
    for x, y in ((x_in, 6.45), (x_hid, 7.15), (x_out, 7.75)):
        label(ax, x, y, r"$\vdots$", size=FONT_SIZE + 1)

    # what the connections hold
    label(ax, 6.1, 11.55, r"$W_1$: $(K, D)$", color=PALETTE["edge"])
    label(ax, 6.1, 10.95, r"row 1 feeds $h_1$", color=PALETTE["accent"])
    label(ax, 6.1, 3.3, r"$b_1$: $(K,)$")
    label(ax, 13.85, 10.3, r"$W_2$: $(C, K)$")
    label(ax, 13.85, 3.9, r"$b_2$: $(C,)$")

    # the layers' arrays, for a batch of N examples
    label(ax, x_in, 1.9, "inputs\n" + r"$X$: $(N, D)$", va="center")
    label(ax, x_hid, 1.55, "hidden layer\n" + r"$Z_1 = X W_1^\top + b_1$" + "\n"
          + r"$H = \sigma(Z_1)$: $(N, K)$", va="center")
    label(ax, x_out, 1.55, "output layer\n" + r"$Z_2 = H W_2^\top + b_2$" + "\n"
          + r"$Y = \sigma(Z_2)$: $(N, C)$", va="center")
    return fig


# The two networks of the chapter as computation graphs: the arrays on the edges
# (name, shape), the parameters entering each affine step from above, and the
# gradients of the backward pass below, named as in the chapter's code.
_GRAPHS = {
    "sigmoid": {
        "ops": [r"affine", r"$\sigma$", r"affine", r"$\sigma$", "MSE\nloss"],
        "edges": [(r"$X$", "(N, D)"), (r"$Z_1$", "(N, K)"), (r"$H$", "(N, K)"),
                  (r"$Z_2$", "(N, C)"), (r"$Y$", "(N, C)"), (r"$L$", "scalar")],
        "back": [None, r"$dZ_1$", r"$dH$", r"$dZ_2$", r"$dY$"],
        "params": {0: (r"$W_1$ (K, D)", r"$b_1$ (K,)", r"$dW_1$", r"$db_1$"),
                   2: (r"$W_2$ (C, K)", r"$b_2$ (C,)", r"$dW_2$", r"$db_2$")},
        "target": (4, r"$Y_T$ (N, C)"),
        "box": 2.3, "gaps": [4.0, 2.6, 2.6, 2.6, 2.6, 3.0],
    },
    "relu": {
        "ops": ["affine", "ReLU", "affine", "softmax\nloss"],
        "edges": [("x", "(N, D)"), ("hidden_in", "(N, K)"), ("hidden_out", "(N, K)"),
                  ("class_scores", "(N, C)"), ("loss", "scalar")],
        "back": [None, "d_hidden_in", "d_hidden_out", "d_scores"],
        "params": {0: ("w1 (D, K)", "b1 (K,)", "dw1", "db1"),
                   2: ("w2 (K, C)", "b2 (C,)", "dw2", "db2")},
        "target": (3, "y (N,)"),
        "box": 2.7, "gaps": [3.6, 3.9, 4.1, 4.1, 2.8], "size": 10,
    },
}


def computation_graph(network: str = "sigmoid") -> Figure:
    """The forward and the backward pass of one of the chapter's networks as a graph.

    ``network="sigmoid"`` draws the two-layer sigmoid network with the MSE loss of
    ``back_propagation`` (arrays named as in its formulas); ``"relu"`` draws the
    affine - ReLU - affine - softmax cross-entropy network built from the layers
    (arrays named as in the training code). Operations are boxes; the black arrows
    above carry the forward pass, each labelled with its array and the array's
    shape; the accent-coloured arrows below run the other way and carry the
    gradients of the backward pass, each of the shape of the array above it;
    parameters enter the affine steps from above and their gradients leave below.
    """
    spec = _GRAPHS[network]
    ops, edges = spec["ops"], spec["edges"]
    n = len(ops)
    box_w, box_h, gaps = spec["box"], 1.6, spec["gaps"]
    size = spec.get("size", FONT_SIZE)
    lefts = [gaps[0]]
    for i in range(1, n):
        lefts.append(lefts[-1] + box_w + gaps[i])
    width = lefts[-1] + box_w + gaps[n]
    fig, ax = canvas(width, 9.2)
    y0 = 3.6                               # bottom of the operation boxes
    y_fwd, y_bwd = y0 + 1.15, y0 + 0.45    # forward arrows above, backward below
    accent = PALETTE["accent"]
    for text, left in zip(ops, lefts):
        fill = "weight" if text == "affine" else "output" if "loss" in text else "input"
        box(ax, left, y0, box_w, box_h, text, fill=fill, size=size)

    for i, (name, shape) in enumerate(edges):   # edge i enters op i (the last leaves)
        start = lefts[i - 1] + box_w if i > 0 else 0.15
        end = lefts[i] if i < n else width - 0.15
        arrow(ax, (start, y_fwd), (end, y_fwd))
        label(ax, (start + end) / 2, y_fwd + 0.95, name, va="bottom", size=size)
        label(ax, (start + end) / 2, y_fwd + 0.25, shape, va="bottom", size=size)
        grad = spec["back"][i] if i < n else None
        if grad:
            arrow(ax, (end, y_bwd), (start, y_bwd), color="accent")
            label(ax, (start + end) / 2, y_bwd - 0.3, grad, va="top", color=accent,
                  size=size)

    for i, (weight, bias, dweight, dbias) in spec["params"].items():
        mid = lefts[i] + box_w / 2
        for dx, text, grad in ((-0.55, weight, dweight), (0.55, bias, dbias)):
            x = mid + dx
            shift, ha = (-0.15, "right") if dx < 0 else (0.15, "left")
            arrow(ax, (x, 8.05), (x, y0 + box_h))
            label(ax, x + shift, 8.3, text, va="bottom", ha=ha, size=size)
            arrow(ax, (x, y0), (x, 1.35), color="accent")
            label(ax, x + shift, 1.1, grad, va="top", ha=ha, color=accent, size=size)
    i, target = spec["target"]
    mid = lefts[i] + box_w / 2
    arrow(ax, (mid, 8.05), (mid, y0 + box_h))
    label(ax, mid, 8.3, target, va="bottom", size=size)
    return fig
