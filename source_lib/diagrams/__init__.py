"""Diagrams of the book, drawn by code: one module per chapter, named as its chapter's module.

Each public function draws one diagram with matplotlib and returns its ``Figure``.
A chapter notebook shows it from a cell tagged ``remove-input`` and ``grading-skip``
whose ``mystnb`` metadata gives the image's alt text and the figure's caption; the
drawing is deterministic (no randomness, no dates), so every build shows the same
picture. Provided code: nothing here is a task, and nothing here calls one.
"""
