"""Tampering with a notebook's graded cells costs only the tampered cell (autograder/nbgrader_ext/cells.py).

The unit tests run ``RestoreCells`` on tampered Chapter 1 submissions against a
real release and gradebook: the graded cells come back as released, nbgrader's
own sanitize checks then find nothing to fix, and a note says what happened.
The end-to-end tests read the tamperers of ``autograder/corpus/attacks_tamper.py``
as the attack batch graded them, with honest students: each keeps the points of
its honest cells, and its feedback page explains.

The attack batch's course (conftest.py) has one read-only cell more in Chapter 1
than the book: the written question's text is locked (nbgrader's "Read-only"
cell), so that tampering with a locked markdown cell can be tested too.
"""

import copy

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.preprocessors import CheckCellMetadata, DeduplicateIds, OverwriteCells
from nbgrader.utils import determine_grade
from test_grading import page_text
from traitlets.config import Config

from autograder.corpus import make_submission
from autograder.corpus.attack_batch import BATCH
from autograder.corpus.attacks_tamper import ANSWER_ID, SOLUTION, TAMPER_ATTACKS
from autograder.course import CHAPTERS
from autograder.nbgrader_ext import notes
from autograder.nbgrader_ext.cells import RestoreCells
from conftest import READ_ONLY_QUESTION, REPO

CHAPTER = CHAPTERS[0]
QUESTION_ID = READ_ONLY_QUESTION  # the read-only cell the attack batch's course adds


def _after(grade_id):
    """The number (from 1) of the cell right after the one with ``grade_id`` in Chapter 1's
    notebook: where the tamperers paste a graded cell's twin."""
    nb = nbformat.read(REPO / "book" / CHAPTERS[0].notebook, as_version=4)
    return 2 + next(
        i for i, cell in enumerate(nb.cells) if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id
    )


ADVICE = "Don't change graded cells or their metadata."
TEST = "the grader restored the original test cell and graded your code with it. " + ADVICE

# The notes each tamperer must get (all of them, and no other).
EXPECTED = {
    "attack-tamper-test-to-solution": [
        "The test cell task_1_3_forward_propagation (Task 1.3: forward_propagation) had been "
        "changed into a solution cell and had been edited; " + TEST
    ],
    "attack-tamper-test-to-markdown": [
        "The test cell task_1_2_sigmoid_grad (Task 1.2: sigmoid_grad) had been changed into a "
        "markdown cell; " + TEST
    ],
    "attack-tamper-extra-points": [
        "The test cell task_1_5_back_propagation (Task 1.5: back_propagation) had its points "
        "changed from 3 to 100; " + TEST,
        "Cell 3 of your notebook (which starts \"print('bonus')\") was marked as a graded cell "
        "(bonus_points) that is not part of the assignment: the grader treated it as an "
        "ordinary cell, worth no points. Don't mark cells of your own as graded.",
    ],
    "attack-tamper-duplicate-test": [
        f"Cell {_after('task_1_4_mse_loss')} of your notebook (which starts "
        "\"print('OK: all tests passed')\") had the same "
        "grade_id as the test cell task_1_4_mse_loss (Task 1.4: mse_loss): the grader graded "
        "only the cell in its place in the notebook and treated this one as an ordinary cell, "
        "worth no points. " + ADVICE
    ],
    "attack-tamper-duplicate-answer": [
        f"Cell {_after(ANSWER_ID)} of your notebook (which starts "
        '"A second draft of my answer.") had the same '
        "grade_id as the written-answer cell written_1_saturation (Written question): the "
        "grader graded only the cell in its place"
    ],
    "attack-tamper-rename": [
        "The test cell task_1_6_affine_forward (Task 1.6: affine_forward) had its grade_id "
        "changed to task_1_6_mine; " + TEST
    ],
    "attack-tamper-strip-answer": [
        "The written-answer cell written_1_saturation (Written question) had lost its grader "
        "metadata; the grader restored its metadata and kept your answer. " + ADVICE
    ],
    "attack-tamper-checksum": [
        "The test cell task_1_7_affine_backward (Task 1.7: affine_backward) had its checksum "
        "changed; " + TEST,
        "The written-answer cell written_1_saturation (Written question) had its checksum "
        "changed; the grader restored its metadata and kept your answer.",
    ],
    "attack-tamper-old-schema": [
        "The test cell task_1_8_relu_forward (Task 1.8: relu_forward) had its grader metadata "
        "changed; " + TEST
    ],
    "attack-tamper-delete-answer": [
        "The written-answer cell written_1_saturation (Written question) was missing; the "
        "grader put back the empty cell, which scores 0. Don't delete graded cells."
    ],
}
# The one cell in which a tamperer's grade may differ from the honest solution's: a
# deleted written answer comes back as the release's empty stub, which nbgrader scores 0
# at once instead of leaving it for a human grader.
MAY_DIFFER = {"attack-tamper-delete-answer": {ANSWER_ID}}
TAMPERERS = {s.student: s for s in TAMPER_ATTACKS}


@pytest.fixture(scope="module")
def course(attacked):
    """The attack batch's course: Chapter 1 released, its written question read-only."""
    return attacked.course


@pytest.fixture(scope="module")
def release(course):
    """The released notebook, and the gradebook's source cells by grade_id."""
    with Gradebook(course.db_url) as gb:
        sources = {
            s.name: (s.source, s.checksum)
            for s in gb.find_notebook(CHAPTER.module, CHAPTER.assignment).source_cells
        }
    path = course.folder("release", CHAPTER.assignment, CHAPTER.notebook)
    return nbformat.read(path, as_version=4), sources


def submitted(course, sub, tmp_path):
    folder = make_submission(course, CHAPTER, sub, tmp_path / sub.student)
    return nbformat.read(folder / CHAPTER.notebook, as_version=4)


def sanitize(course, nb):
    """``nb`` after RestoreCells, and its notes; nbgrader's own checks must then change nothing."""
    config = Config()
    config.CourseDirectory.root = str(course.nbgrader_root)
    info = {
        "db_url": course.db_url,
        "notebook": CHAPTER.module,
        "assignment": CHAPTER.assignment,
        "student": "tamperer",
    }
    nb, _ = RestoreCells(config=config).preprocess(nb, {"nbgrader": dict(info)})
    restored = copy.deepcopy(nb)
    for step in (DeduplicateIds, OverwriteCells, CheckCellMetadata):
        nb, _ = step(config=config).preprocess(nb, {"nbgrader": dict(info)})
    assert nb == restored, "nbgrader's sanitize steps changed the restored notebook"
    return nb, notes.read(nb)


def graded_cells(nb):
    """(grade_id, type, grade, solution, locked, points) of each nbgrader cell, in order."""
    return [
        (m["grade_id"], c.cell_type, m["grade"], m["solution"], m["locked"], float(m.get("points", 0)))
        for c in nb.cells
        for m in [c.metadata.get("nbgrader")]
        if m
    ]


def by_id(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def assert_as_released(nb, release):
    """The graded cells of ``nb`` are the release's: ids, order, types, flags, points, tests."""
    released, sources = release
    assert graded_cells(nb) == graded_cells(released)
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader")
        if meta:
            source, checksum = sources[meta["grade_id"]]
            assert meta["checksum"] == checksum  # as nbgrader's scoring expects it
            if meta["locked"]:
                assert cell.source == source


def test_an_honest_submission_is_left_as_it_is(course, release, tmp_path):
    nb, said = sanitize(course, submitted(course, SOLUTION, tmp_path))
    assert said == []
    assert_as_released(nb, release)
    assert determine_grade(by_id(nb, ANSWER_ID)) == (None, 2.0)  # an answer, for a human


@pytest.mark.parametrize("student", EXPECTED)
def test_a_tampered_cell_is_restored_and_explained(course, release, tmp_path, student):
    nb, said = sanitize(course, submitted(course, TAMPERERS[student], tmp_path))
    assert_as_released(nb, release)
    assert len(said) == len(EXPECTED[student]), said
    for expected in EXPECTED[student]:
        assert any(note.startswith(expected) for note in said), (expected, said)
    answer = by_id(nb, ANSWER_ID)
    if student == "attack-tamper-delete-answer":  # the release's stub: no answer, 0 points
        assert determine_grade(answer) == (0, 2.0)
    else:  # the student's own answer, kept for the human grader
        assert answer.source == SOLUTION.answer and determine_grade(answer) == (None, 2.0)


def test_a_changed_read_only_cell_is_restored(course, release, tmp_path):
    nb = submitted(course, SOLUTION, tmp_path)
    by_id(nb, QUESTION_ID).source = "## Written question\n\n(no question: full marks)"
    nb, said = sanitize(course, nb)
    assert_as_released(nb, release)
    assert said == [
        "The read-only cell written_1_question (Written question) had been edited; "
        "the grader restored the original cell. " + ADVICE
    ]


def test_a_deleted_test_cell_comes_back_in_its_place(course, release, tmp_path):
    nb = submitted(course, SOLUTION, tmp_path)
    nb.cells.remove(by_id(nb, "task_1_7_affine_backward"))
    nb, said = sanitize(course, nb)
    assert_as_released(nb, release)
    back = nb.cells.index(by_id(nb, "task_1_7_affine_backward"))
    assert nb.cells[back - 1].source.startswith("### Task 1.7")
    assert said == [
        "The test cell task_1_7_affine_backward (Task 1.7: affine_backward) was "
        "missing; the grader put the original back and graded your code with it. "
        "Don't delete graded cells."
    ]


@pytest.fixture(scope="module")
def tampered(attacked):
    """The tamperers and the honest solution, as graded in the attack batch (conftest.py):
    (rows by student, grade's output)."""
    return attacked.rows, attacked.out


def scores(row):
    return {c.grade_id: (c.score, c.needs_manual_grade) for c in row.cells}


@pytest.mark.parametrize("student", EXPECTED)
def test_tampering_costs_only_the_tampered_cell(attacked, tampered, student):
    rows, out = tampered
    assert f"could not grade {student}" not in out
    honest, mine = scores(rows["solution"]), scores(rows[student])
    assert all(c.score == c.max_score for c in rows["solution"].cells if not c.needs_manual_grade)
    assert set(mine) == set(honest)
    assert {g for g in honest if mine[g] != honest[g]} <= MAY_DIFFER.get(student, set())
    assert rows[student].max_score == rows["solution"].max_score
    page = page_text(
        attacked.course.folder("feedback", student, CHAPTER.assignment, CHAPTER.module + ".html")
    )
    for expected in EXPECTED[student]:
        assert expected in page


def test_extra_points_stay_within_the_notebook(tampered):
    rows, _ = tampered
    greedy = rows["attack-tamper-extra-points"]
    assert greedy.score == rows["solution"].score <= greedy.max_score == rows["solution"].max_score
    assert "bonus_points" not in scores(greedy)


def test_no_page_asks_for_what_a_student_cannot_do(attacked):
    for sub in BATCH:
        page = page_text(
            attacked.course.folder("feedback", sub.student, CHAPTER.assignment, CHAPTER.module + ".html")
        )
        assert "nbgrader update" not in page and "Inconsistent checksums" not in page, sub.student
