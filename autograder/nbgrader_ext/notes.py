"""Notes from the grader to the student, shown at the top of the feedback page.

The grading pipeline (intake, cell restoring, trusted checks) tells the student
what it did to their submission and why ("``source_lib/feedforward.py`` is a
symbolic link; submit the file itself"). Notes go into one markdown cell at the
top of the autograded notebook, which nbgrader's feedback page shows; a note
is plain text and is escaped, so a student's file name cannot inject markup.
"""

import html

from nbformat import NotebookNode
from nbformat.v4 import new_markdown_cell

MARK = "nnfs_grader_notes"  # metadata key of the notes cell
TITLE = "**Notes from the grader**"


def _is_notes(cell):
    return cell.cell_type == "markdown" and cell.metadata.get(MARK) is True


def _escape(text):
    # markdown and HTML special characters of a student-controlled name
    return (
        html.escape(text)
        .replace("*", "&#42;")
        .replace("_", "&#95;")
        .replace("`", "&#96;")
        .replace("[", "&#91;")
        .replace("]", "&#93;")
        .replace("$", "&#36;")
    )


def add(nb: NotebookNode, *notes: str) -> NotebookNode:
    """Append ``notes`` (plain text) to the notes cell at the top of ``nb``, made if needed.

    The first preprocessor of the sanitize pass removes cells a student made
    to look like notes (``strip_forged``), so the marked first cell is ours.
    """
    notes = [n for n in notes if n]
    if not notes:
        return nb
    cell = nb.cells[0] if nb.cells and _is_notes(nb.cells[0]) else None
    if cell is None:
        cell = new_markdown_cell(TITLE + "\n")
        cell.metadata[MARK] = True
        nb.cells.insert(0, cell)
    cell.source += "".join(f"\n- {_escape(n)}" for n in notes)
    return nb


def strip_forged(nb: NotebookNode) -> NotebookNode:
    """Remove cells a student made to look like grader notes (before the grader adds its own)."""
    nb.cells = [c for c in nb.cells if not (c.cell_type == "markdown" and MARK in c.metadata)]
    return nb


def read(nb: NotebookNode) -> list[str]:
    """The notes in ``nb`` (plain text as written, unescaped), for tests and reports."""
    if not nb.cells or not _is_notes(nb.cells[0]):
        return []
    return [html.unescape(line[2:]) for line in nb.cells[0].source.splitlines() if line.startswith("- ")]
