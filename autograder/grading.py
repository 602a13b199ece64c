"""Autograde submissions into nbgrader's gradebook, then feedback and a grades CSV.

``nbgrader autograde`` runs each student's notebook in the sandboxed kernel and
the ``TrustedChecks`` preprocessor (see ``assignments/nbgrader_config.py``)
decides the graded cells; ``nbgrader generate_feedback`` writes one HTML page
per student and notebook with the hidden tests stripped; ``nbgrader export``
writes the CSV a learning-management system imports.
"""
import re
from dataclasses import dataclass

from nbgrader.api import Gradebook, MissingEntry

from .course import CHAPTERS
from .nbgrader_cli import nbgrader

FAILED_RE = re.compile(r"There was an error processing assignment '[^']*' for student '([^']*)'")


@dataclass
class CellScore:
    grade_id: str
    score: float
    max_score: float
    needs_manual_grade: bool


@dataclass
class Row:
    student: str
    assignment: str
    score: float
    max_score: float
    cells: list


def submitted_students(course, chapter):
    root = course.folder("submitted")
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / chapter.assignment).is_dir())


def grade(course, chapters=CHAPTERS, log=print):
    """Autograde every submission of ``chapters``, then write feedback and the CSV."""
    graded = []
    for chapter in chapters:
        students = submitted_students(course, chapter)
        if students and not course.folder("source", chapter.assignment).is_dir():
            log(f"{chapter.assignment}: not released yet, so nbgrader cannot grade it: "
                f"run 'autograder release' first")
            continue
        if not students:
            log(f"{chapter.assignment}: no submissions in {course.folder('submitted')}")
            continue
        log(f"{chapter.assignment}: autograding {len(students)} submissions")
        proc = nbgrader(course, "autograde", chapter.assignment, "--force", check=False)
        if proc.returncode != 0:
            # nbgrader goes on past a submission it cannot grade; say which, and go on too
            failed = sorted(set(FAILED_RE.findall(proc.stdout)))
            log(proc.stdout[-4000:])
            log(f"{chapter.assignment}: nbgrader could not autograde "
                f"{', '.join(failed) or 'some submissions'} (its log is above); the others are graded")
        log(f"{chapter.assignment}: generating feedback")
        nbgrader(course, "generate_feedback", chapter.assignment, "--force")
        graded.append(chapter)
    export(course)
    return graded


def export(course):
    """Write the grades CSV (nbgrader's CSV export: one row per student and assignment)."""
    nbgrader(course, "export", f"--to={course.grades_csv}")
    return course.grades_csv


def table(course, chapters=CHAPTERS):
    """Rows of the grade table, read back from the gradebook."""
    rows = []
    if course.db_url.startswith("sqlite:") and not course.gradebook.exists():
        return rows
    with Gradebook(course.db_url) as gb:
        for chapter in chapters:
            try:
                assignment = gb.find_assignment(chapter.assignment)
            except MissingEntry:
                continue
            for sub in sorted(assignment.submissions, key=lambda s: s.student.id):
                cells = [CellScore(g.name, g.score, g.max_score, g.needs_manual_grade)
                         for nb in sub.notebooks for g in nb.grades]
                rows.append(Row(sub.student.id, chapter.assignment, sub.score, sub.max_score,
                                sorted(cells, key=lambda c: _task_order(c.grade_id))))
    return rows


def _task_order(grade_id):
    # task_1_10_softmax_loss sorts after task_1_9_relu_backward
    parts = grade_id.split("_")
    return [int(p) if p.isdigit() else 10**6 for p in parts[:3]] + [grade_id]
