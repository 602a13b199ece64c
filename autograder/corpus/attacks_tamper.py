"""Chapter 1 submissions that tamper with the notebook's graded cells (tests/test_tamper.py).

Each is the instructor solution with one kind of tampering, as a student could
do it in JupyterLab's metadata editor or a text editor. The grader restores
the cells from the release (``autograder.nbgrader_ext.cells``): each keeps every point of
its honest cells and gets a note on what was restored, where nbgrader alone
would have rejected the whole notebook.
"""

import copy
from dataclasses import replace

from nbformat.v4 import new_code_cell, new_markdown_cell

from .feedforward import SAMPLE_CLASS

SOLUTION = next(s for s in SAMPLE_CLASS if s.student == "solution")
ANSWER_ID = "written_1_saturation"


def _index(nb, grade_id):
    return next(
        i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


def _meta(nb, grade_id):
    return nb.cells[_index(nb, grade_id)].metadata["nbgrader"]


def _test_to_solution(nb):
    """Task 1.3's test cell made an editable answer ("Autograded answer"), then emptied."""
    _meta(nb, "task_1_3_forward_propagation").update(solution=True, locked=False)
    nb.cells[_index(nb, "task_1_3_forward_propagation")].source = "pass"


def _test_to_markdown(nb):
    i = _index(nb, "task_1_2_sigmoid_grad")
    cell = nb.cells[i]
    nb.cells[i] = new_markdown_cell(cell.source, metadata=cell.metadata, id=cell.id)


def _extra_points(nb):
    """100 points on Task 1.5's test, and a graded cell of its own worth 50."""
    _meta(nb, "task_1_5_back_propagation")["points"] = 100
    bonus = new_code_cell("print('bonus')")
    bonus.metadata["nbgrader"] = {
        "grade": True,
        "grade_id": "bonus_points",
        "locked": False,
        "points": 50,
        "schema_version": 3,
        "solution": False,
    }
    nb.cells.insert(2, bonus)


def _duplicate_test(nb):
    """A copy of Task 1.4's test cell, changed to pass, right after it."""
    i = _index(nb, "task_1_4_mse_loss")
    twin = copy.deepcopy(nb.cells[i])
    twin.source = "print('OK: all tests passed')"
    twin.id += "-copy"  # JupyterLab gives a pasted cell an id of its own
    nb.cells.insert(i + 1, twin)


def _duplicate_answer(nb):
    i = _index(nb, ANSWER_ID)
    twin = copy.deepcopy(nb.cells[i])
    twin.source = "A second draft of my answer."
    twin.id += "-copy"  # JupyterLab gives a pasted cell an id of its own
    nb.cells.insert(i + 1, twin)


def _rename(nb):
    _meta(nb, "task_1_6_affine_forward")["grade_id"] = "task_1_6_mine"


def _strip_answer(nb):
    del nb.cells[_index(nb, ANSWER_ID)].metadata["nbgrader"]


def _checksums(nb):
    for grade_id in ("task_1_7_affine_backward", ANSWER_ID):
        _meta(nb, grade_id)["checksum"] = "0" * 32


def _old_schema(nb):
    """No schema_version: nbgrader alone asks for 'nbgrader update .'."""
    del _meta(nb, "task_1_8_relu_forward")["schema_version"]


def _delete_answer(nb):
    del nb.cells[_index(nb, ANSWER_ID)]


def _tamper(name, description, transform):
    return replace(
        SOLUTION, student=f"attack-tamper-{name}", description=description, transform=transform, kind="attack"
    )


TAMPER_ATTACKS = [
    _tamper("test-to-solution", "a test cell turned into a solution cell", _test_to_solution),
    _tamper("test-to-markdown", "a test cell turned into a markdown cell", _test_to_markdown),
    _tamper("extra-points", "100 points on a test cell and a graded cell of its own", _extra_points),
    _tamper("duplicate-test", "a test cell's grade_id twice", _duplicate_test),
    _tamper("duplicate-answer", "the written answer's grade_id twice", _duplicate_answer),
    _tamper("rename", "a test cell's grade_id renamed", _rename),
    _tamper("strip-answer", "the written answer's metadata removed", _strip_answer),
    _tamper("checksum", "checksums changed", _checksums),
    _tamper("old-schema", "a test cell's schema_version removed", _old_schema),
    _tamper("delete-answer", "the written answer deleted", _delete_answer),
]
