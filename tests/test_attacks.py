"""Attacks on the grader, graded in one batch with honest students (autograder/corpus/attacks.py).

No attack may gain a point, harm a classmate's grade or files, reach the network,
or leak a solution into its feedback; the honest students get exactly the grades
the sample class's batch gave them. The batch runs with short limits (5 s per
cell, 10 s for the checks, 45 s per submission) because several attacks wait them out.
"""
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile

import nbformat
import pytest
from nbclient import NotebookClient
from nbgrader.api import Gradebook

from autograder.corpus import make_submission
from autograder.corpus.attacks import ATTACKS, HONEST, PORT
from autograder.course import CHAPTERS, Course
from autograder.grading import table
from autograder.jail import SLOT_UID, SLOTS
from autograder.release import find_leaks, secret_lines

from conftest import REPO, autograder, chapter_one_course
from test_grading import page_text

CHAPTER = CHAPTERS[0]
SHORT_LIMITS = """
# test_attacks: short limits, since several attacks wait them out
c.Execute.timeout = 5
c.TrustedChecks.wall_seconds = 10
"""
TEMPORARY = ("nnfs-job-", "nnfs-worker-", "nnfs-kernel-", "nnfs-root-", "nnfs-ipc-")


def digest(folder):
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def temporary_files():
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith(TEMPORARY)}


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    course = chapter_one_course(tmp_path_factory.mktemp("attacks"), ATTACKS + HONEST, SHORT_LIMITS)
    submitted = digest(course.folder("submitted"))
    temporary = temporary_files()
    with socket.socket() as listener:  # what the network attack tries to reach
        listener.bind(("127.0.0.1", PORT))
        listener.listen()
        listener.setblocking(False)
        out = autograder(course, "grade", CHAPTER.assignment, "--timeout", "45").stdout
        try:
            listener.accept()
            reached = True
        except BlockingIOError:
            reached = False
    rows = {r.student: r for r in table(course, [CHAPTER])}
    return dict(course=course, rows=rows, out=out, submitted=submitted, reached=reached,
                temporary=temporary)


def autograded_outputs(course, student):
    path = course.folder("autograded", student, CHAPTER.assignment, CHAPTER.notebook)
    if not path.is_file():
        return ""
    nb = nbformat.read(path, as_version=4)
    return "\n".join(str(o.get("text", "")) + str(o.get("evalue", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_the_batch_grades_everyone(attacked):
    assert set(attacked["rows"]) == {s.student for s in ATTACKS + HONEST}


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda s: s.student)
def test_no_attack_gains_a_point(attacked, attack):
    row = attacked["rows"][attack.student]
    assert row.score == 0
    # nothing is left for a human to grade but the written answer
    assert all(c.grade_id.startswith("written_") for c in row.cells if c.needs_manual_grade)


def test_honest_students_get_the_grades_they_get_alone(attacked, graded):
    alone = {(r.student, c.grade_id): c.score for r in table(graded, [CHAPTER]) for c in r.cells
             if not c.needs_manual_grade}
    for sub in HONEST:
        twin = "solution" if sub.student == "solution-twin" else sub.student
        mine = {c.grade_id: c.score for c in attacked["rows"][sub.student].cells
                if not c.needs_manual_grade}
        assert mine == {g: s for (st, g), s in alone.items() if st == twin}, sub.student


def test_no_one_elses_files_or_grades_change(attacked):
    course = attacked["course"]
    assert digest(course.folder("submitted")) == attacked["submitted"]
    with Gradebook(course.db_url) as gb:
        manual = [(g.student.id, g.name) for sub in gb.find_assignment(CHAPTER.assignment).submissions
                  for nb in sub.notebooks for g in nb.grades if g.manual_score is not None]
    assert manual == []
    vandal = autograded_outputs(course, "attack-vandal")
    assert "WROTE" not in vandal and "VANDALIZED" not in vandal


def test_no_network(attacked):
    assert not attacked["reached"]
    out = autograded_outputs(attacked["course"], "attack-network")
    assert "Network is unreachable" in out and "CONNECTED" not in out


def test_no_solution_or_check_reaches_an_attackers_feedback(attacked):
    course = attacked["course"]
    secrets = secret_lines(course)
    leaks = []
    for sub in ATTACKS:
        page = course.folder("feedback", sub.student, CHAPTER.assignment, CHAPTER.module + ".html")
        assert page.is_file(), page
        text = page_text(page)
        own = "\n".join(p.read_text() for p in
                        course.folder("submitted", sub.student, CHAPTER.assignment).rglob("*.py"))
        leaks += find_leaks([(str(page), text)], {s for s in secrets if s not in own})
        printed = autograded_outputs(course, sub.student)
        assert "STOLEN FROM" not in printed and "SECRET /" not in printed, sub.student
    assert leaks == []


def test_output_spam_is_cut(attacked):
    course = attacked["course"]
    for path in (course.folder("autograded", "attack-output-spam", CHAPTER.assignment, CHAPTER.notebook),
                 course.folder("feedback", "attack-output-spam", CHAPTER.assignment,
                               CHAPTER.module + ".html")):
        assert path.stat().st_size < 2 * 1024**2, path
    assert "more characters of output were cut" in autograded_outputs(course, "attack-output-spam")


@pytest.mark.parametrize("student, reason", [
    ("attack-ignore-sigterm", "CellTimeoutError: A cell timed out"),
    ("attack-slow-cells", "grading took longer than 45 s and was stopped"),
    ("attack-os-exit-cell", "DeadKernelError: Kernel died")])
def test_a_submission_stopped_by_a_limit_is_told_why(attacked, student, reason):
    page = attacked["course"].folder("feedback", student, CHAPTER.assignment, CHAPTER.module + ".html")
    assert reason in page_text(page)
    assert f"could not grade {student} ({reason}" in attacked["out"]


def test_nothing_is_left_behind(attacked):
    ps = subprocess.run(["ps", "-eo", "uid="], capture_output=True, text=True).stdout.split()
    assert not [u for u in ps if SLOT_UID <= int(u) < SLOT_UID + SLOTS]
    assert temporary_files() <= attacked["temporary"]


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
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute(
                       env=dict(os.environ, NNFS_OFFLINE="1"))
    return nb, "\n".join(str(o.get("text", "")) for c in nb.cells if c.cell_type == "code"
                         for o in c.outputs)


def test_the_disk_attacks_work_outside_the_sandbox(tmp_path):
    """Proof that the attacks are real: without the sandbox they steal and vandalize."""
    nb, out = run_outside_the_sandbox(tmp_path / "steal", "attack-steal-solution")
    assert "STOLEN FROM" in out and "SECRET" in out
    sigmoid = next(c for c in nb.cells
                   if c.metadata.get("nbgrader", {}).get("grade_id") == "task_1_1_sigmoid")
    assert not [o for o in sigmoid.outputs if o.output_type == "error"]
    _, out = run_outside_the_sandbox(tmp_path / "vandal", "attack-vandal")
    assert "WROTE" in out and "VANDALIZED" in out
    db = tmp_path / "vandal" / "nnfs" / "assignments" / "gradebook.db"
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT manual_score FROM grade").fetchall() == [(1000,)]
