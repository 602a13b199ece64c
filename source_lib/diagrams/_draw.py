"""Drawing primitives shared by the chapters' diagrams: one palette, one font size, one look.

Coordinates are data units on an axes with equal aspect and no frame, so a
diagram is laid out in "cells" (one array entry = one unit square) and scales
with the page width.
"""
from collections.abc import Iterable
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

# Colour-blind-safe (Okabe-Ito) fills, light enough for black text on them.
PALETTE = {
    "input": "#cfe3f3", "weight": "#fde0b0", "output": "#cdebd9",
    "highlight": "#f4b6b6", "pad": "#eeeeee", "neutral": "#ffffff",
    "edge": "#333333", "accent": "#d55e00", "muted": "#777777",
}
FONT_SIZE = 11


def canvas(width: float, height: float,
           size: tuple[float, float | None] = (7.0, None)) -> tuple[Figure, Axes]:
    """A figure whose axes span ``[0, width] x [0, height]`` in data units, y up.

    ``size`` is the figure's (width, height) in inches; a height of ``None`` keeps the
    data's aspect ratio. 7 inches wide is the book's text column, so labels stay legible.
    """
    w_in = size[0]
    h_in = size[1] if size[1] is not None else max(1.2, w_in * height / width)
    fig, ax = plt.subplots(figsize=(w_in, h_in))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=0.99)
    return fig, ax


def box(ax: Axes, x: float, y: float, w: float, h: float, text: str | int = "", fill: str = "neutral",
        size: float = FONT_SIZE, **kw: Any) -> None:
    """A rectangle with its lower-left corner at (x, y) and ``text`` centred in it."""
    ax.add_patch(Rectangle((x, y), w, h, facecolor=PALETTE.get(fill, fill),
                           edgecolor=PALETTE["edge"], linewidth=kw.pop("lw", 1.0), **kw))
    if text != "":
        ax.text(x + w / 2, y + h / 2, str(text), ha="center", va="center", fontsize=size)


def grid(ax: Axes, x: float, y: float, values: np.ndarray | list[list] | tuple[int, int],
         fill: str = "input", highlight: Iterable[tuple[int, int]] = (),
         highlight_fill: str = "highlight", size: float = FONT_SIZE, fmt: str = "{:g}") -> None:
    """A 2-d array drawn as unit cells, row 0 at the top, its lower-left corner at (x, y).

    ``values`` is a 2-d sequence (entries drawn with ``fmt``, ``None`` leaves a cell
    blank) or a (rows, cols) shape; ``highlight`` lists (row, col) cells to fill with
    ``highlight_fill``.
    """
    if isinstance(values, tuple) and len(values) == 2 and all(isinstance(v, int) for v in values):
        values = [[None] * values[1] for _ in range(values[0])]
    rows = len(values)
    marked = set(map(tuple, highlight))
    for r, row in enumerate(values):
        for c, value in enumerate(row):
            text = "" if value is None else fmt.format(value)
            box(ax, x + c, y + rows - 1 - r, 1, 1, text,
                fill=highlight_fill if (r, c) in marked else fill, size=size)


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], text: str = "",
          color: str = "edge", size: float = FONT_SIZE, offset: tuple[float, float] = (0, 0.25),
          **kw: Any) -> None:
    """An arrow from ``start`` to ``end`` (data coordinates), ``text`` beside its middle."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=kw.pop("style", "-|>"),
                                 mutation_scale=kw.pop("head", 14),
                                 color=PALETTE.get(color, color), linewidth=kw.pop("lw", 1.3),
                                 **kw))
    if text:
        mx, my = (start[0] + end[0]) / 2 + offset[0], (start[1] + end[1]) / 2 + offset[1]
        ax.text(mx, my, text, ha="center", va="bottom", fontsize=size)


def label(ax: Axes, x: float, y: float, text: str, size: float = FONT_SIZE, **kw: Any) -> None:
    """Text at (x, y), centred unless ``ha``/``va`` say otherwise."""
    kw.setdefault("ha", "center")
    kw.setdefault("va", "center")
    ax.text(x, y, text, fontsize=size, **kw)
