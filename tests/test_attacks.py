"""Attacks on the grader, graded in one batch with honest students (autograder/corpus/).

The batch (fixture ``attacked`` in conftest.py, ``autograder/corpus/attack_batch.py``)
holds every attack of the corpus: on the sandbox (attacks.py), at intake
(attacks_intake.py), on notebook metadata (attacks_tamper.py), on what the next
student finds (attacks_leftover.py), on what crosses back and on lent code. No
attack may gain a point, harm a classmate's grade or files, reach the network,
or leak a solution into its feedback; the honest students get exactly the grades
the sample class's batch gave them. The batch runs with short limits (5 s per
cell, 10 s per check, 45 s per submission) because several attacks wait them out.
This file checks the batch as a whole and the sandbox's attacks; test_intake.py
and test_tamper.py check theirs.
"""

import os
import shutil
import sqlite3

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.api import Gradebook
from test_grading import page_text

from autograder.corpus import make_submission
from autograder.corpus.attack_batch import BATCH, ZERO
from autograder.corpus.attacks import ATTACKS, HONEST, LENT_CHAPTER, SLOW_CHECK
from autograder.course import CHAPTERS, Course
from autograder.grading import table
from autograder.grading.feedback import HINTS
from autograder.grading.gradebook import Recorder
from autograder.release import find_leaks, secret_lines
from conftest import RECORDED, REPO, _digest

CHAPTER = CHAPTERS[0]
# the batch grades under 5-second limits and counts sandbox processes machine-wide
pytestmark = pytest.mark.exclusive


def autograded_outputs(course, student):
    path = course.folder("autograded", student, CHAPTER.assignment, CHAPTER.notebook)
    if not path.is_file():
        return ""
    nb = nbformat.read(path, as_version=4)
    return "\n".join(
        str(o.get("text", "")) + str(o.get("evalue", ""))
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
    )


def test_the_batch_grades_everyone(attacked):
    assert set(attacked.rows) == {s.student for s in BATCH}
    assert "Traceback" not in attacked.out


@pytest.mark.parametrize("attack", ZERO, ids=lambda s: s.student)
def test_no_attack_gains_a_point(attacked, attack):
    row = attacked.rows[attack.student]
    assert row.score == 0
    # nothing is left for a human to grade but the written answer
    assert all(c.grade_id.startswith("written_") for c in row.cells if c.needs_manual_grade)


def test_honest_students_get_the_grades_they_get_alone(attacked):
    """Graded alone: the sample class's recorded grades (``conftest.RECORDED``)."""
    alone = RECORDED[CHAPTER.assignment]
    for sub in HONEST:
        twin = "solution" if sub.student == "solution-twin" else sub.student
        mine = {c.grade_id: c.score for c in attacked.rows[sub.student].cells if not c.needs_manual_grade}
        assert mine == alone[twin], sub.student


def test_no_one_elses_files_or_grades_change(attacked):
    course = attacked.course
    assert _digest(course.folder("submitted")) == attacked.submitted
    with Gradebook(course.db_url) as gb:
        manual = [
            (g.student.id, g.name)
            for sub in gb.find_assignment(CHAPTER.assignment).submissions
            for nb in sub.notebooks
            for g in nb.grades
            if g.manual_score is not None
        ]
    assert manual == []
    vandal = autograded_outputs(course, "attack-vandal")
    assert "WROTE" not in vandal and "VANDALIZED" not in vandal


def test_no_network(attacked):
    assert not attacked.reached
    out = autograded_outputs(attacked.course, "attack-network")
    assert "Network is unreachable" in out and "CONNECTED" not in out


def test_no_solution_or_check_reaches_an_attackers_feedback(attacked):
    course = attacked.course
    secrets = secret_lines(course)
    leaks = []
    for sub in ZERO:
        page = course.folder("feedback", sub.student, CHAPTER.assignment, CHAPTER.module + ".html")
        assert page.is_file(), page
        text = page_text(page)
        own = "\n".join(
            p.read_text()
            for p in course.folder("submitted", sub.student, CHAPTER.assignment).rglob("*.py")
            if p.is_file() and not p.is_symlink()
        )
        leaks += find_leaks([(str(page), text)], {s for s in secrets if s not in own})
        printed = autograded_outputs(course, sub.student)
        assert "STOLEN FROM" not in printed and "SECRET /" not in printed, sub.student
    assert leaks == []


def feedback(attacked, student, chapter=CHAPTER):
    return page_text(
        attacked.course.folder("feedback", student, chapter.assignment, chapter.module + ".html")
    )


@pytest.mark.parametrize("student", ["attack-results-bomb", "attack-results-zero", "attack-results-fifo"])
def test_results_are_checked_before_they_are_read(attacked, student):
    """A compressed bomb, a link to /dev/zero or a FIFO as results: refused unread, in time."""
    page = feedback(attacked, student)
    assert "the results of your code could not be read back" in page
    assert f"could not grade {student}" not in attacked.out  # graded, not stopped by a limit


def test_a_slow_function_costs_only_its_own_task(attacked):
    """Each check has its own budget: the checks after the slow one are graded as usual."""
    slow, honest = attacked.rows[SLOW_CHECK.student], attacked.rows["solution"]
    lost = {c.grade_id for c, h in zip(slow.cells, honest.cells) if c.score != h.score}
    assert lost == {"task_1_5_back_propagation"}
    assert (
        "back_propagation did not finish within 10 seconds (an infinite loop, or far too slow?)"
    ) in feedback(attacked, SLOW_CHECK.student)


def test_the_code_lent_to_a_check_stays_out_of_reach(attacked):
    """Chapter 5's training runs on the course's cost through a stand-in: the attacker
    finds no line of it, and its exception reaches the feedback cut short."""
    page = feedback(attacked, "attack-read-lent-code", LENT_CHAPTER)
    assert "Task 5.3 (train_autoencoder) failed" in page
    assert find_leaks([("page", page)], secret_lines(attacked.course)) == []
    verdict = page[page.index("Task 5.3 (train_autoencoder) failed") :]
    assert "RuntimeError: " in verdict and len(verdict.split("\n")[1]) < 300
    rows = {r.student: r for r in table(attacked.course, [LENT_CHAPTER])}
    assert rows["attack-read-lent-code"].score == 0
    assert all(c.score == c.max_score for c in rows["solution"].cells if not c.needs_manual_grade)


def test_output_spam_is_cut(attacked):
    course = attacked.course
    for path in (
        course.folder("autograded", "attack-output-spam", CHAPTER.assignment, CHAPTER.notebook),
        course.folder("feedback", "attack-output-spam", CHAPTER.assignment, CHAPTER.module + ".html"),
    ):
        assert path.stat().st_size < 2 * 1024**2, path
    assert "more characters of output were cut" in autograded_outputs(course, "attack-output-spam")


@pytest.mark.parametrize(
    "student, kind, reason",
    [
        ("attack-ignore-sigterm", "timeout", "a cell ran past its time limit and did not stop"),
        ("attack-slow-cells", "timeout", "grading took longer than 45 s and was stopped"),
        ("attack-os-exit-cell", "kernel-died", "the Python kernel running the notebook died"),
    ],
)
def test_a_submission_stopped_by_a_limit_is_told_why(attacked, student, kind, reason):
    problems = Recorder(attacked.course).problems(CHAPTER, student)
    assert [p["kind"] for p in problems.values()] == [kind]
    detail = problems[CHAPTER.module]["detail"]
    assert detail.startswith(reason)
    text = page_text(
        attacked.course.folder("feedback", student, CHAPTER.assignment, CHAPTER.module + ".html")
    )
    assert detail in text and HINTS[kind] in text
    assert f"could not grade {student} ({kind}: {detail}); it scores 0" in attacked.out


def test_nothing_is_left_behind(attacked):
    """No process of a sandbox user anywhere, no temporary folder, as the batch ended."""
    assert attacked.left.processes == [] and attacked.left.temporary == []


def run_outside_the_sandbox(tmp_path, student):
    """The attack's notebook in a plain kernel, inside a course folder holding secrets."""
    course = Course(tmp_path / "nnfs")
    shutil.copytree(REPO / "source_lib", course.source_lib)  # the instructor's solutions
    folder = course.folder("autograded", student, CHAPTER.assignment)
    sub = next(s for s in ATTACKS if s.student == student)
    release = course.folder("release", CHAPTER.assignment)
    release.mkdir(parents=True)
    shutil.copy(REPO / "book" / CHAPTER.notebook, release / CHAPTER.notebook)
    make_submission(course, CHAPTER, sub, folder)
    victim = course.folder("submitted", "victim", CHAPTER.assignment, "source_lib")
    shutil.copytree(folder / "source_lib", victim)
    with sqlite3.connect(course.nbgrader_root / "gradebook.db") as db:  # a gradebook to find
        db.execute("CREATE TABLE grade (id TEXT, manual_score REAL)")
        db.execute("INSERT INTO grade VALUES ('victim', NULL)")
    nb = nbformat.read(folder / CHAPTER.notebook, as_version=4)
    NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(folder)}},
    ).execute(env=dict(os.environ, NNFS_OFFLINE="1"))
    return nb, "\n".join(str(o.get("text", "")) for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_the_disk_attacks_work_outside_the_sandbox(tmp_path):
    """Proof that the attacks are real: without the sandbox they steal and vandalize."""
    nb, out = run_outside_the_sandbox(tmp_path / "steal", "attack-steal-solution")
    assert "STOLEN FROM" in out and "SECRET" in out
    sigmoid = next(
        c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "task_1_1_sigmoid"
    )
    assert not [o for o in sigmoid.outputs if o.output_type == "error"]
    _, out = run_outside_the_sandbox(tmp_path / "vandal", "attack-vandal")
    assert "WROTE" in out and "VANDALIZED" in out
    db = tmp_path / "vandal" / "nnfs" / "assignments" / "gradebook.db"
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT manual_score FROM grade").fetchall() == [(1000,)]
