"""The student release: nbgrader notebooks, stubbed source_lib, nothing secret, runs on stubs."""
import os
import re

import nbformat
import pytest
from nbclient import NotebookClient

from autograder.course import CHAPTERS
from autograder.release import find_leaks, release_texts, secret_lines


def grade_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.assignment)
def test_release_layout(released, chapter):
    out = released.folder("release", chapter.assignment)
    assert (out / chapter.notebook).is_file()
    assert (out / "source_lib" / f"{chapter.module}.py").is_file()
    assert not (released.folder("source", chapter.assignment) / "source_lib").exists()
    text = (out / "source_lib" / f"{chapter.module}.py").read_text()
    assert "BEGIN SOLUTION" not in text and "NotImplementedError(\"Task" in text


def test_no_solution_line_or_hidden_test_in_the_release(released):
    secrets = secret_lines(released)
    assert any("trusted check" in s for s in secrets)  # the search knows the hidden tests
    assert len(secrets) > 20
    leaks = find_leaks(release_texts(released.folder("release")), secrets)
    assert leaks == []


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.assignment)
def test_stubbed_chapter_runs_top_to_bottom_failing_with_task_messages(released, chapter):
    out = released.folder("release", chapter.assignment)
    nb = nbformat.read(out / chapter.notebook, as_version=4)
    env = dict(os.environ, NNFS_OFFLINE="1")
    # the kernel starts in the release folder, as a student's would
    nb = NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                        resources={"metadata": {"path": str(out)}}).execute(env=env)
    cells = grade_cells(nb)
    assert cells
    for cell in cells:
        task = re.match(r"task_(\d+)_(\d+)_(\w+)", cell.metadata.nbgrader.grade_id)
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors, f"{cell.metadata.nbgrader.grade_id} did not fail on the stubs"
        message = f"Task {task[1]}.{task[2]}: implement"
        assert errors[0].ename == "NotImplementedError" and message in errors[0].evalue, errors[0]
