"""The graded cells of the release, put back into a submission before it is graded.

A student who edits the metadata of a graded cell (turns a test cell into a
solution cell or into markdown, changes its points or checksum, duplicates,
renames or removes its grade_id, marks a cell of their own as graded) would
make nbgrader's sanitize steps (DeduplicateIds, OverwriteCells,
CheckCellMetadata) reject the whole notebook, honest cells included.
``RestoreCells`` runs before them and puts every graded and read-only cell of
the release, as the gradebook recorded it, back in its place:

- the submission is aligned with the instructor's source notebook (difflib on
  the cells' grade_ids and, for ordinary cells, their text), so a duplicated
  grade_id goes to the copy that sits where the release has it, and a graded
  cell moved out of order is still found by its grade_id;
- a graded cell whose grade_id was removed or changed is the one cell of its
  type between the same matched neighbours, where there is exactly one;
- a matched cell gets the release's type and nbgrader metadata, a locked cell
  (a test) also the release's source, while an answer keeps the student's text;
- every other cell loses its nbgrader metadata, and a graded cell still
  missing is put back from the release (a test with its source, an answer with
  the release's stub, which scores 0).

Each cell restored or stripped is explained to the student in a grader note.
"""

from bisect import insort
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_markdown_cell
from nbgrader.api import Gradebook
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from nbgrader.utils import compute_checksum

from . import notes

FLAGS = ("grade", "solution", "locked", "task")
ADVICE = "Don't change graded cells or their metadata."


@dataclass
class Released:
    """One graded or read-only cell of the release, as the gradebook recorded it."""

    name: str
    cell_type: str
    source: str  # hidden tests included: what is graded
    checksum: str  # the gradebook's, for that source
    grade: bool
    solution: bool
    locked: bool
    task: bool
    points: float = None  # grade and task cells only
    title: str = ""  # the heading above it in the notebook
    shown: str = ""  # the source students received (no hidden tests)
    shown_checksum: str = ""  # the checksum students received

    def nbgrader(self, checksum: str | None = None) -> dict[str, Any]:
        """The cell's nbgrader metadata, with ``checksum`` (default: the gradebook's)."""
        meta = {
            "cell_type": self.cell_type,
            "checksum": checksum or self.checksum,
            "grade": self.grade,
            "grade_id": self.name,
            "locked": self.locked,
            "schema_version": 3,
            "solution": self.solution,
        }
        if self.task:
            meta["task"] = True
        if self.points is not None:
            meta["points"] = self.points
        return meta

    def cell(self, source: str | None = None) -> NotebookNode:
        """A new notebook cell as released, holding ``source`` (default: the gradebook's)."""
        make = new_code_cell if self.cell_type == "code" else new_markdown_cell
        cell = make(self.source if source is None else source, id=self.name[:64])
        # as nbgrader's LockCells left it; the checksum is the gradebook's, as
        # OverwriteCells sets it, so that SaveAutoGrades spots an unchanged answer
        cell.metadata = {"deletable": False, "nbgrader": self.nbgrader()}
        if self.locked:
            cell.metadata["editable"] = False
        return cell

    def __str__(self):
        """'the test cell task_1_3_forward_propagation (Task 1.3: forward_propagation)'."""
        kind = _kind(self.grade, self.solution, self.locked, self.task)
        if self.grade and self.solution:
            kind = "written-answer cell" if self.cell_type == "markdown" else "answer cell"
        return f"the {kind} {self.name}" + (f" ({self.title})" if self.title else "")


def _kind(grade, solution, locked, task):
    return (
        "solution cell"
        if solution
        else "test cell"
        if grade
        else "task cell"
        if task
        else "read-only cell"
        if locked
        else "ordinary cell"
    )


def released_cells(
    gb: Gradebook, notebook: str, assignment: str, hidden: ClearHiddenTests
) -> dict[str, Released]:
    """Grade_id -> ``Released`` for every cell the gradebook recorded for ``notebook``.

    ``hidden`` is nbgrader's ``ClearHiddenTests`` (with the course's markers):
    it gives the source and checksum the students received.
    """
    nb = gb.find_notebook(notebook, assignment)
    points = {c.name: c.max_score for c in nb.grade_cells + nb.task_cells}
    kinds = [{c.name for c in cells} for cells in (nb.grade_cells, nb.solution_cells, nb.task_cells)]
    released = {}
    for s in nb.source_cells:
        grade, solution, task = (s.name in names for names in kinds)
        r = Released(
            s.name,
            s.cell_type,
            s.source or "",
            s.checksum,
            grade,
            solution,
            s.locked,
            task,
            points.get(s.name),
        )
        shown = r.cell()
        hidden._remove_hidden_test_region(shown)  # what generate_assignment did to it
        r.shown, r.shown_checksum = shown.source, compute_checksum(shown)
        released[s.name] = r
    return released


def _text(cell):
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _claim(cell):
    """The grade_id a cell's nbgrader metadata names (a string), or None."""
    meta = cell.get("metadata", {}).get("nbgrader")
    name = meta.get("grade_id") if isinstance(meta, dict) else None
    return name if isinstance(name, str) else None


def _key(cell, released):
    """What aligns a cell with the release: its grade_id if the release has it, else its text."""
    name = _claim(cell)
    return ("id", name) if name in released else ("text", cell.get("cell_type"), _text(cell))


def layout(path: str | Path, released: dict[str, Released]) -> list[tuple[str | None, ...]]:
    """The release's cells in order, as alignment keys; names the ``released`` cells' titles.

    Read from the instructor's source notebook ``path``, whose ordinary cells are
    the release's; graded cells it lacks (or all, without it) follow in the
    gradebook's order.
    """
    try:
        source = nbformat.read(path, as_version=4).cells
    except (OSError, ValueError):
        source = []
    keys, title = [], ""
    for cell in source:
        if cell.cell_type == "markdown":  # a cell's title is its heading, or the last one above
            title = next(
                (line.lstrip("#").strip() for line in _text(cell).splitlines() if line.startswith("#")), title
            )
        key = _key(cell, released)
        if key[0] == "id":
            released[key[1]].title = title
        keys.append(key)
    return keys + [("id", name) for name in released if ("id", name) not in keys]


def _gap(anchors, position, end):
    """Indices of the submitted cells matched just before and after release ``position``."""
    before = max((b for a, b in anchors if a < position), default=-1)
    after = min((b for a, b in anchors if a > position), default=end)
    return before, after


def align(
    keys: list[tuple[str | None, ...]], cells: list[NotebookNode], released: dict[str, Released]
) -> tuple[dict[str, int], list[tuple[int, int]]]:
    """Grade_id -> index in ``cells`` of the cell that stands for it; and the anchors.

    Anchors are (release position, submitted index) pairs, increasing in both.
    """
    found = [_key(c, released) for c in cells]
    anchors = [
        (a + k, b + k)
        for a, b, n in SequenceMatcher(None, keys, found, autojunk=False).get_matching_blocks()
        for k in range(n)
    ]
    match = {}
    for k, (a, _b) in enumerate(anchors):
        if keys[a][0] != "id":
            continue
        # of the copies of a duplicated grade_id in this place, the one as released, else the first
        before, after = _gap(anchors, a, len(cells))
        r = released[keys[a][1]]
        twins = [i for i in range(before + 1, after) if found[i] == keys[a]]
        match[r.name] = min(twins, key=lambda i: (bool(_changes(r, cells[i])), i))
        anchors[k] = (a, match[r.name])
    for name in released:  # moved out of order: its grade_id alone places it
        spare = [i for i, key in enumerate(found) if key == ("id", name) and i not in match.values()]
        if name not in match and spare:
            match[name] = spare[0]
    for position, key in enumerate(keys):  # grade_id removed or changed: the cell in its place
        if key[0] != "id" or key[1] in match:
            continue
        before, after = _gap(anchors, position, len(cells))
        fits = [
            i
            for i in range(before + 1, after)
            if i not in match.values() and cells[i].get("cell_type") == released[key[1]].cell_type
        ]
        if len(fits) == 1:
            match[key[1]] = fits[0]
            insort(anchors, (position, fits[0]))
    return match, anchors


def _changes(r, cell):
    """What the student changed in the cell that stands for ``r`` (phrases after its name)."""
    meta, claim = cell.get("metadata", {}).get("nbgrader"), _claim(cell)
    if claim is None:
        return ["had lost its grader metadata"]
    found = []
    if claim != r.name:
        found.append(f"had its grade_id changed to {claim}")
    if cell.get("cell_type") != r.cell_type:
        found.append(f"had been changed into a {cell.get('cell_type')} cell")
    flags, released_flags = [bool(meta.get(f)) for f in FLAGS], [getattr(r, f) for f in FLAGS]
    if flags != released_flags:
        kind = _kind(*flags)
        found.append(
            "had its grader flags changed"
            if kind == _kind(*released_flags)
            else f"had been changed into a {kind}"
        )
    if r.points is not None and not _same_number(meta.get("points"), r.points):
        found.append(f"had its points changed from {r.points:g} to {meta.get('points')}")
    if r.locked and _text(cell) != r.shown:
        found.append("had been edited")
    if meta.get("checksum") != r.shown_checksum:
        found.append("had its checksum changed")
    if not found and meta != r.nbgrader(r.shown_checksum):
        found.append("had its grader metadata changed")
    return found


def _same_number(value, number):
    try:
        return float(value) == number
    except (TypeError, ValueError):
        return False


def _changed_note(r, cell):
    """The note on a cell restored as ``r``, or None if the student left it as released."""
    changes = _changes(r, cell)
    if not changes:
        return None
    did = (
        "the grader restored the original test cell and graded your code with it"
        if r.grade and r.locked
        else "the grader restored the original cell"
        if r.locked
        else "the grader restored its metadata and kept your answer"
    )
    said = ", ".join(changes[:-1]) + (" and " if len(changes) > 1 else "") + changes[-1]
    return f"{_capital(r)} {said}; {did}. {ADVICE}"


def _stripped_note(index, cell, released):
    """The note on a cell whose nbgrader metadata is removed, or None if it claimed nothing."""
    meta = cell.get("metadata", {}).get("nbgrader")
    if meta is None or isinstance(meta, dict) and not any(meta.get(f) for f in FLAGS):
        return None
    first = next((line.strip() for line in _text(cell).splitlines() if line.strip()), "")
    where = f"Cell {index + 1} of your notebook"
    if first:
        where += f' (which starts "{first[:50]}")'
    claim = _claim(cell)
    if claim in released:
        said = (
            f"had the same grade_id as {released[claim]}: the grader graded only the cell in "
            "its place in the notebook and treated this one as an ordinary cell, worth no "
            f"points. {ADVICE}"
        )
    else:
        said = (
            f"was marked as a graded cell{f' ({claim})' if claim else ''} that is not part of "
            "the assignment: the grader treated it as an ordinary cell, worth no points. "
            "Don't mark cells of your own as graded."
        )
    return f"{where} {said}"


def _missing_note(r):
    did = (
        "put the original back and graded your code with it"
        if r.grade and r.locked
        else "put back the empty cell, which scores 0"
        if r.solution
        else "put the original back"
    )
    return f"{_capital(r)} was missing; the grader {did}. Don't delete graded cells."


def _capital(r):
    text = str(r)
    return text[0].upper() + text[1:]


def restore(
    cells: list[NotebookNode], released: dict[str, Released], keys: list[tuple[str | None, ...]]
) -> tuple[list[NotebookNode], list[str]]:
    """The submitted ``cells`` with the ``released`` cells restored, and the notes.

    ``keys`` is the release's ``layout``.
    """
    match, anchors = align(keys, cells, released)
    standing_for = {i: released[name] for name, i in match.items()}
    missing = {}  # submitted index -> release cells to put back after it
    for position, key in enumerate(keys):
        if key[0] == "id" and key[1] not in match:
            missing.setdefault(_gap(anchors, position, len(cells))[0], []).append(released[key[1]])
    out, said = [], []

    def put_back(index):
        for r in missing.get(index, ()):
            out.append(r.cell())
            said.append(_missing_note(r))

    put_back(-1)
    for index, cell in enumerate(cells):
        r = standing_for.get(index)
        if r is not None:
            said.append(_changed_note(r, cell))
            new = r.cell() if r.locked else r.cell(_text(cell))  # an answer keeps its text
            new.id = cell.get("id", new.id)
            if new.cell_type == "markdown" and not r.locked and cell.get("attachments"):
                new.attachments = cell.attachments  # images of a written answer
            out.append(new)
        else:
            said.append(_stripped_note(index, cell, released))
            cell.get("metadata", {}).pop("nbgrader", None)
            out.append(cell)
        put_back(index)
    return out, [s for s in said if s]


class RestoreCells(NbGraderPreprocessor):
    """Sanitize step: the release's graded cells back in the submission, with a note on each change.

    The release comes from the gradebook (source, type, flags, points, checksum)
    and the order of the cells from the instructor's notebook in nbgrader's
    source folder.
    """

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        info = resources["nbgrader"]
        with Gradebook(info["db_url"]) as gb:
            released = released_cells(gb, info["notebook"], info["assignment"], ClearHiddenTests(parent=self))
        coursedir = CourseDirectory(parent=self)
        folder = Path(coursedir.format_path(coursedir.source_directory, ".", info["assignment"]))
        keys = layout(folder / f"{info['notebook']}.ipynb", released)
        # the notes cell that IntakeNotes may have put first is the grader's, not the student's
        head = [c for c in nb.cells[:1] if c.get("metadata", {}).get(notes.MARK) is True]
        for cell in head:
            cell.metadata.pop("nbgrader", None)
        cells, said = restore(nb.cells[len(head) :], released, keys)
        nb.cells = head + cells
        for note in said:
            self.log.warning("%s: %s", info["student"], note)
        notes.add(nb, *said)
        return nb, resources
