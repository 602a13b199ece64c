"""Diagrams of the LeNet chapter: the LeNet-5 architecture, layer by layer."""
from matplotlib.figure import Figure

from ._draw import FONT_SIZE, arrow, box, canvas, label

# (name, operation, channels, height = width of the maps or None, units, parameters)
LENET5 = [
    ("input", "pad 2", 1, 32, None, 0),
    ("C1", "conv 5×5", 6, 28, None, 156),
    ("S2", "max pool", 6, 14, None, 0),
    ("C3", "conv 5×5", 16, 10, None, 2416),
    ("S4", "max pool", 16, 5, None, 0),
    ("C5", "dense", None, None, 120, 48120),
    ("F6", "dense", None, None, 84, 10164),
    ("output", "dense", None, None, 10, 850),
]


def _stack(ax, cx, base, channels, side, fill, shown=4, step=0.5):
    """``min(channels, shown)`` overlapping squares of ``side`` units centred at ``cx``.

    Returns the x of the stack's left and right edges."""
    n = min(channels, shown)
    width = side + (n - 1) * step
    x0 = cx - width / 2
    for k in range(n):
        box(ax, x0 + k * step, base + k * step, side, side, fill=fill, lw=0.8)
    return x0, x0 + width


def lenet5_architecture() -> Figure:
    """LeNet-5 as built in this chapter: every layer with its output and parameters.

    The input is drawn as a 28 x 28 digit inside its 2-pixel border of zeros (the
    32 x 32 input of the original); feature maps as stacks of squares (a few of
    the maps) whose sides grow with their height and width, dense layers as bars
    whose heights grow with their units. Under each layer: its operation, its
    output (maps@height x width, or units) and its number of parameters.
    """
    width, height = 80, 29
    fig, ax = canvas(width, height)
    xs = [5 + 10 * k for k in range(len(LENET5))]
    base, names = 11.5, 27.4                     # bottom of the drawings, row of names
    small = FONT_SIZE - 1
    edges = []
    for x, (name, op, channels, side, units, params) in zip(xs, LENET5):
        if side is not None:                     # feature maps
            drawn = 1.0 + 0.2 * side
            if name == "input":
                inner = 1.0 + 0.2 * 28
                box(ax, x - drawn / 2, base, drawn, drawn, fill="pad", lw=0.8)
                box(ax, x - inner / 2, base + (drawn - inner) / 2, inner, inner,
                    fill="input", lw=0.8)
                edges.append((x - drawn / 2, x + drawn / 2))
            else:
                fill = "output" if op.startswith("conv") else "weight"
                edges.append(_stack(ax, x, base, channels, drawn, fill))
            shape = f"{channels}@{side}×{side}"
        else:                                    # a dense layer: a bar of units
            bar = 2.0 + units / 10
            box(ax, x - 0.8, base, 1.6, bar, fill="highlight", lw=0.8)
            edges.append((x - 0.8, x + 0.8))
            shape = f"{units}"
        label(ax, x, names, name, fontweight="bold")
        label(ax, x, base - 1.5, op, size=small)
        label(ax, x, base - 3.4, shape)
        label(ax, x, base - 5.3, f"{params:,}")
    for (_, right), (left, _) in zip(edges, edges[1:]):
        arrow(ax, (right + 0.3, base + 1.0), (left - 0.3, base + 1.0), lw=1.0, head=8)
    total = sum(row[-1] for row in LENET5)
    label(ax, width / 2, 3.3, "under each layer: its operation, its output "
          "(maps@height×width, or units) and its parameters", size=small)
    label(ax, width / 2, 1.2, f"{total:,} parameters; ReLU after C1, C3, C5 and F6, "
          "softmax on the output", size=small)
    return fig
