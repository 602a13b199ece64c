"""End to end: the sample class graded by real nbgrader into its gradebook, feedback and CSV."""

import csv
import html
import json
import os
import re
import shutil
import sys
from html.parser import HTMLParser

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.api import Gradebook

from autograder.checks import checks_named_in
from autograder.corpus import corpus
from autograder.course import CHAPTERS, Course
from autograder.grading import Job, Outcome, table
from autograder.grading.executors import run_one_job
from autograder.grading.feedback import DEFAULT_HINT, HINTS, describe, write_problem_feedback
from autograder.grading.gradebook import Recorder
from autograder.nbgrader_ext.autograde_one import KINDS, Unreadable, classify, problem, read_submitted
from autograder.release import find_leaks, secret_lines
from conftest import RECORDED, autograder

CHAPTER = CHAPTERS[0]
CASES = [(ch, sub) for ch in CHAPTERS for sub in corpus(ch.module).SAMPLE_CLASS]


def check_of_cell(course, chapter):
    """grade_id -> trusted check names, for the grade cells of the instructor's notebook."""
    nb = nbformat.read(course.book / chapter.notebook, as_version=4)
    return {
        c.metadata["nbgrader"]["grade_id"]: set(checks_named_in(c.source))
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
    }


@pytest.fixture(scope="module")
def all_rows(graded):
    return {(r.assignment, r.student): r for r in table(graded)}


@pytest.fixture(scope="module")
def rows(all_rows):
    return {student: r for (a, student), r in all_rows.items() if a == CHAPTER.assignment}


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.assignment)
def test_every_sample_student_is_in_the_gradebook(all_rows, chapter):
    students = {s for a, s in all_rows if a == chapter.assignment}
    expected = {s.student for s in corpus(chapter.module).SAMPLE_CLASS}
    assert students == expected | (BAD_INPUT if chapter == CHAPTER else set())


BAD_INPUT = {"corrupt-json", "missing-notebook", "junk"}


@pytest.mark.parametrize(
    "student, kind", [("corrupt-json", "unreadable-notebook"), ("missing-notebook", "missing-notebook")]
)
def test_a_submission_that_cannot_be_graded_scores_zero_and_is_told_why(graded, rows, student, kind):
    assert rows[student].score == 0
    problems = Recorder(graded).problems(CHAPTER, student)
    assert [p["kind"] for p in problems.values()] == [kind]
    detail = problems[CHAPTER.module]["detail"]
    assert detail.startswith(CHAPTER.notebook)  # names the file, e.g. "is not a notebook ..."
    text = page_text(feedback_page(graded, student))
    assert "could not be graded" in text and detail in text and HINTS[kind] in text
    assert f"Score: 0 / {rows['solution'].max_score:g}" in text


def test_a_worker_run_as_a_command_answers_with_the_same_data(graded):
    """The Dask path: a job in a worker of its own, its answer read back as data."""
    outcome = run_one_job(str(graded.root), Job(CHAPTER.assignment, "corrupt-json"), timeout=300)
    assert not outcome.ok and outcome.timed_out_after is None
    assert outcome.problems[CHAPTER.module]["kind"] == "unreadable-notebook"
    assert (
        outcome.problem_of(CHAPTER.module)
        == Recorder(graded).problems(CHAPTER, "corrupt-json")[CHAPTER.module]
    )


def test_graded_submissions_record_no_problem(graded):
    assert Recorder(graded).problems(CHAPTER, "solution") == {}


# A verdict crosses from the worker as data (autograde_one): its kind, where it happened.


def _notebook(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "error, kind",
    [
        (
            lambda tmp: read_submitted(_notebook(tmp / "feedforward.ipynb", '{"cells": [')),
            "unreadable-notebook",
        ),
        (
            lambda tmp: read_submitted(_notebook(tmp / "feedforward.ipynb", '{"nbformat": 4}')),
            "unreadable-notebook",
        ),
        (lambda tmp: read_submitted(_notebook(tmp / "feedforward.ipynb", "[1]")), "unreadable-notebook"),
        (lambda tmp: MemoryError(), "out-of-memory"),
        (lambda tmp: DeadKernelError("Kernel died"), "kernel-died"),
        (
            lambda tmp: CellTimeoutError(
                "A cell timed out while it was being executed, after 5 "
                "seconds.\nThe message was: Timeout waiting for IOPub output."
            ),
            "timeout",
        ),
        # a bug of ours, whatever its message says
        (
            lambda tmp: ValueError("Notebook does not appear to be JSON; Kernel died; took longer than"),
            "grader-error",
        ),
    ],
)
def test_the_worker_classifies_a_failure_by_what_raised_it(tmp_path, error, kind):
    try:
        exc = error(tmp_path)
    except Unreadable as raised:
        exc = raised
    verdict = classify(exc)
    assert verdict["kind"] == kind and set(verdict) == {"kind", "detail"}
    assert verdict["detail"] and "\n" not in verdict["detail"] and len(verdict["detail"]) <= 300
    if kind == "unreadable-notebook":
        assert verdict["detail"].startswith("feedforward.ipynb is not a notebook")


def test_every_kind_has_its_own_hint():
    assert set(HINTS) == set(KINDS)


def test_a_notebooks_own_problem_comes_before_the_submissions():
    own, whole = problem("kernel-died", "died"), problem("timeout", "stopped")
    outcome = Outcome("s", False, problems={"feedforward": own}, problem=whole)
    assert outcome.problem_of("feedforward") == own and outcome.problem_of("other") == whole
    assert Outcome("s", False).problem_of("feedforward")["kind"] == "grader-error"
    answer = json.loads(
        json.dumps(
            {"student": "s", "ok": False, "problems": {"feedforward": own}, "problem": None, "restart": False}
        )
    )
    assert Outcome.from_answer(answer) == Outcome("s", False, problems={"feedforward": own})


@pytest.fixture
def one_notebook_course(tmp_path, monkeypatch):
    """A course with an empty gradebook entry for one student's Chapter 1 notebook."""
    monkeypatch.delenv("NNFS_GRADEBOOK", raising=False)
    # nbgrader runs alembic from the environment's bin folder
    monkeypatch.setenv("PATH", os.pathsep.join((os.path.dirname(sys.executable), os.environ["PATH"])))
    course = Course(tmp_path / "nnfs")
    course.nbgrader_root.mkdir(parents=True)
    with Gradebook(course.db_url) as gb:
        gb.add_assignment(CHAPTER.assignment)
        gb.add_notebook(CHAPTER.module, CHAPTER.assignment)
        gb.add_grade_cell("task_1_1", CHAPTER.module, CHAPTER.assignment, max_score=3, cell_type="code")
        gb.add_student("s")
        gb.add_submission(CHAPTER.assignment, "s")
    return course


@pytest.mark.parametrize("kind", KINDS)
def test_the_hint_is_chosen_by_kind_not_by_the_details_words(one_notebook_course, kind):
    """A detail quoting words of other kinds ("JSON", "took longer than") changes nothing."""
    detail = (
        "NotJSONError: Notebook does not appear to be JSON; grading took longer than 1 s; "
        "feedforward.ipynb is missing from the submission; <b>Kernel died</b>"
    )
    page = write_problem_feedback(one_notebook_course, CHAPTER, "s", CHAPTER.module, problem(kind, detail))
    text = page_text(page)
    assert "could not be graded" in text and "Score: 0 / 3" in text
    assert f"Reason: {detail}" in text  # escaped in the page, shown as written
    assert [h for h in set(HINTS.values()) if h in text] == [HINTS[kind]]


def test_an_unknown_kind_gets_the_default_hint(one_notebook_course):
    page = write_problem_feedback(
        one_notebook_course,
        CHAPTER,
        "s",
        CHAPTER.module,
        {"kind": "new-kind", "detail": "took longer than; JSON"},
    )
    text = page_text(page)
    assert DEFAULT_HINT in text and not [h for h in set(HINTS.values()) if h in text]


def test_the_batch_log_prints_kind_and_detail():
    assert describe([problem("timeout", "grading took longer than 45 s and was stopped")]) == (
        "timeout: grading took longer than 45 s and was stopped"
    )


def test_junk_files_change_nothing(rows):
    assert rows["junk"].score == rows["solution"].score > 0
    assert [c.score for c in rows["junk"].cells] == [c.score for c in rows["solution"].cells]


@pytest.mark.parametrize("chapter, sub", CASES, ids=[f"{c.module}-{s.student}" for c, s in CASES])
def test_each_submission_loses_exactly_the_points_of_its_bugs(graded, all_rows, chapter, sub):
    row = all_rows[(chapter.assignment, sub.student)]
    checks = check_of_cell(graded, chapter)
    autograded = [c for c in row.cells if checks.get(c.grade_id)]
    assert len(autograded) == len(corpus(chapter.module).ALL)
    for cell in autograded:
        should_fail = bool(checks[cell.grade_id] & set(sub.fails))
        expected = 0 if should_fail else cell.max_score
        assert cell.score == expected, f"{sub.student}: {cell.grade_id} scored {cell.score}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.assignment)
def test_solution_gets_full_marks_and_written_answer_waits_for_a_human(all_rows, chapter):
    row = all_rows[(chapter.assignment, "solution")]
    auto = [c for c in row.cells if not c.needs_manual_grade]
    assert sum(c.score for c in auto) == sum(c.max_score for c in auto) > 0
    manual = [c.grade_id for c in row.cells if c.needs_manual_grade]
    assert len(manual) == 1 and manual[0].startswith("written_")


@pytest.mark.parametrize("student", ["blank", "attack-cell", "attack-library"])
def test_blank_release_and_attacks_score_zero(rows, student):
    assert rows[student].score == 0


def run_submission(course, student, tmp_path):
    """The student's notebook executed as they would run it: visible checks only."""
    folder = tmp_path / student
    shutil.copytree(course.folder("submitted", student, CHAPTER.assignment), folder)
    nb = nbformat.read(folder / CHAPTER.notebook, as_version=4)
    NotebookClient(
        nb,
        timeout=300,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    ).execute(env=dict(os.environ, NNFS_OFFLINE="1"))
    return nb


def test_visible_check_names_expected_and_actual_shapes(graded, tmp_path):
    nb = run_submission(graded, "bug-bias-axis", tmp_path)
    cell = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "task_1_5_back_propagation"
    )
    errors = [o for o in cell.outputs if o.output_type == "error"]
    assert errors and errors[0].ename == "CheckFailure"
    assert "gradient db1: wrong shape: expected (3,), got (1000,)" in errors[0].evalue


@pytest.mark.parametrize("student", ["attack-cell", "attack-library"])
def test_attacks_would_fool_a_grader_that_trusted_the_notebook(graded, student, tmp_path):
    """Proof that the attacks are real: run alone, their check cells pass."""
    nb = run_submission(graded, student, tmp_path)
    fooled = [
        c.metadata.nbgrader.grade_id
        for c in nb.cells
        if c.metadata.get("nbgrader", {}).get("grade")
        and c.cell_type == "code"
        and not any(o.output_type == "error" for o in c.outputs)
    ]
    assert "task_1_1_sigmoid" in fooled, fooled


def test_autograde_keeps_the_students_source_lib(graded):
    for student in ("solution", "blank", "bug-bias-axis"):
        submitted = graded.folder("submitted", student, CHAPTER.assignment, "source_lib")
        autograded = graded.folder("autograded", student, CHAPTER.assignment, "source_lib")
        for path in submitted.glob("*.py"):
            assert (autograded / path.name).read_text() == path.read_text()


class TextOf(HTMLParser):
    """The visible text of an HTML page (syntax highlighting split into spans rejoined)."""

    def __init__(self):
        super().__init__()
        self.parts = []

    def handle_data(self, data):
        self.parts.append(data)


def page_text(path):
    parser = TextOf()
    parser.feed(path.read_text())
    return html.unescape("".join(parser.parts))


def feedback_page(course, student, chapter=CHAPTER):
    return course.folder("feedback", student, chapter.assignment, chapter.module + ".html")


def test_feedback_for_every_student_without_secrets(graded):
    """No solution line or hidden test, except the lines the student wrote themselves.

    Fixture students built from the instructor solution wrote its lines, and a
    traceback may quote their own code back to them.
    """
    secrets = secret_lines(graded)
    leaks = []
    for chapter, sub in CASES:
        page = feedback_page(graded, sub.student, chapter)
        assert page.is_file(), page
        own = "\n".join(
            p.read_text() for p in graded.folder("submitted", sub.student, chapter.assignment).rglob("*.py")
        )
        leaks += find_leaks([(str(page), page_text(page))], {s for s in secrets if s not in own})
    assert leaks == []


def test_feedback_explains_a_wrong_shape(graded):
    text = page_text(feedback_page(graded, "bug-transposed-dw1"))
    assert re.search(r"gradient dW1: wrong shape: expected \(\d+, \d+\), got \(\d+, \d+\)", text)
    assert (
        "Task 1.5 (back_propagation) failed 2 of 2 hidden test cases. The smallest that failed, a random network"
        in text
    )
    assert "It looks transposed" in text


def test_feedback_of_the_blank_release_names_the_tasks(graded):
    text = page_text(feedback_page(graded, "blank"))
    assert "NotImplementedError: Task 1.1: implement sigmoid" in text


def test_grades_csv_has_one_row_per_student_and_assignment(graded, all_rows):
    with open(graded.grades_csv, newline="") as fh:
        records = {(r["assignment"], r["student_id"]): r for r in csv.DictReader(fh)}
    assert set(records) >= set(all_rows)
    for key, record in records.items():
        # nbgrader lists every student for every assignment: no submission scores 0
        score = all_rows[key].score if key in all_rows else 0
        assert float(record["raw_score"]) == pytest.approx(score), key


def test_table_and_export_commands(graded, exported):
    out = exported["table"]  # run once a session, as the instructor guide writes them
    assert "ch01_feedforward" in out and "bug-bias-axis" in out
    out = exported["export"]
    assert "grades.csv" in out
    out = autograder(graded, "report", CHAPTER.assignment).stdout
    assert f"class summary in {graded.nbgrader_root / 'reports' / CHAPTER.assignment}.html" in out


def test_class_summary_shows_each_tests_pass_rate(graded):
    """Pass rates from the report against those the corpus predicts, with the histogram."""
    page = (graded.nbgrader_root / "reports" / f"{CHAPTER.assignment}.html").read_text()
    assert re.search(r'<img[^>]+src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}"', page)
    shown = dict(re.findall(r"<tr><td>(task_\w+)</td><td>(\d+/\d+)</td>", page))
    students = corpus(CHAPTER.module).SAMPLE_CLASS
    expected = {}
    for grade_id, names in check_of_cell(graded, CHAPTER).items():
        if names:  # of the bad input, only the junk submission passes
            full = sum(1 for s in students if not names & set(s.fails)) + 1
            expected[grade_id] = f"{full}/{len(students) + len(BAD_INPUT)}"
    assert shown == expected


def recorded_grades(course):
    """assignment -> student -> grade_id -> score, for the autograded cells of ``course``."""
    grades = {}
    for row in table(course):
        cells = {c.grade_id: c.score for c in row.cells if not c.needs_manual_grade}
        grades.setdefault(row.assignment, {})[row.student] = cells
    return grades


def test_the_sample_class_gets_the_grades_recorded_before_the_redesign(graded):
    grades = recorded_grades(graded)
    assert sum(len(students) for students in RECORDED.values()) == 105
    for assignment, students in RECORDED.items():
        for student, cells in students.items():
            assert grades[assignment][student] == cells, (assignment, student)
    # the graded fixture's extra students: junk files cost nothing
    assert grades[CHAPTER.assignment]["junk"] == RECORDED[CHAPTER.assignment]["solution"]
