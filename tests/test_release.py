"""The student release: nbgrader notebooks, stubbed source_lib, nothing secret, runs on stubs."""

import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.course import CHAPTERS
from autograder.nbgrader_ext.preprocessors import SKIP_TAG
from autograder.release import find_leaks, hidden_test_lines, release_texts, secret_lines


def grade_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.assignment)
def test_release_layout(released, chapter):
    out = released.folder("release", chapter.assignment)
    assert (out / chapter.notebook).is_file()
    assert (out / "source_lib" / f"{chapter.module}.py").is_file()
    assert not (released.folder("source", chapter.assignment) / "source_lib").exists()
    text = (out / "source_lib" / f"{chapter.module}.py").read_text()
    assert "BEGIN SOLUTION" not in text and 'NotImplementedError(unwritten("Task' in text


def test_no_solution_line_or_hidden_test_in_the_release(released):
    secrets = secret_lines(released)
    assert "return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))" in secrets  # the solutions
    assert any("trusted check" in s for s in secrets)  # and the hidden tests
    assert len(secrets) > 20
    leaks = find_leaks(release_texts(released.folder("release")), secrets)
    assert leaks == []


def test_the_leak_search_knows_hidden_tests(tmp_path):
    """Whatever an instructor puts in a hidden part is kept out of every release."""
    cell = nbformat.v4.new_code_cell(
        "x = 1\n### BEGIN HIDDEN TESTS\nassert secret_value(x) == 42\n### END HIDDEN TESTS\nprint(x)"
    )
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), path)
    assert hidden_test_lines(path) == {"assert secret_value(x) == 42"}


STUB_MESSAGE = re.compile(r"Task (\d+)\.(\d+): implement \w+")
# Chapter 6 on the blank release: its first check meets Chapter 1's unwritten layers first
CROSS_MESSAGE = re.compile(
    r"Chapter (\d+) uses your Chapter (\d+) `(\w+)`: finish Task (\d+\.\d+) in "
    r"source_lib/(\w+)\.py, or copy your Chapter \2 `\5\.py` into this source_lib"
)
FIRST_MESSAGE = {
    6: "Chapter 6 uses your Chapter 1 `affine_forward`: finish Task 1.6 in "
    "source_lib/feedforward.py, or copy your Chapter 1 `feedforward.py` into this source_lib"
}


def _errors(cell):
    return [o for o in cell.get("outputs", []) if o.output_type == "error"]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.assignment)
def test_stubbed_chapter_runs_top_to_bottom_failing_with_task_messages(released, chapter):
    """Restart and Run All on the blank release stops at the chapter's first task cell, with
    that task's message (Chapter 6: Chapter 1's first unwritten layer, in Chapter 6's words),
    never in provided code or a demonstration; the traceback ends at the stub's own line.
    Every later check cell fails the same way (run here with errors allowed)."""
    out = released.folder("release", chapter.assignment)
    nb = nbformat.read(out / chapter.notebook, as_version=4)
    # Long demonstrations after the first task cell (tagged grading-skip: the checks never
    # need them) cannot change what is asserted here, and Chapter 4's took half a minute.
    first = nb.cells.index(grade_cells(nb)[0])
    nb.cells[first + 1 :] = [c for c in nb.cells[first + 1 :] if SKIP_TAG not in c.metadata.get("tags", [])]
    env = dict(os.environ, NNFS_OFFLINE="1")
    # the kernel starts in the release folder, as a student's would
    nb = NotebookClient(
        nb, timeout=300, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(out)}}
    ).execute(env=env)
    cells = grade_cells(nb)
    assert cells
    first_error = next(c for c in nb.cells if c.cell_type == "code" and _errors(c))
    assert first_error is cells[0], (
        f"Run All stops before the first task cell, at:\n{first_error.source[:300]}\n"
        f"{_errors(first_error)[0].evalue}"
    )
    task = re.match(r"task_(\d+)_(\d+)_(\w+)", cells[0].metadata.nbgrader.grade_id)
    first = _errors(cells[0])[0]
    expected = FIRST_MESSAGE.get(chapter.number, f"Task {task[1]}.{task[2]}: implement ")
    assert first.ename == "NotImplementedError" and first.evalue.startswith(expected), first
    for cell in cells:
        errors = _errors(cell)
        assert errors, f"{cell.metadata.nbgrader.grade_id} did not fail on the stubs"
        error = errors[0]
        own = STUB_MESSAGE.fullmatch(error.evalue)
        cross = CROSS_MESSAGE.fullmatch(error.evalue)
        assert error.ename == "NotImplementedError" and (
            (own and own[1] == str(chapter.number))
            or (cross and cross[1] == str(chapter.number) and int(cross[2]) < chapter.number)
        ), error
        # the student's own raising line ends the traceback, not a check's except clause
        trace = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(error.traceback))
        assert 'raise NotImplementedError(unwritten("Task' in trace.split("File ")[-1], trace
        assert "except NotImplementedError" not in trace, trace
