"""The grade table, read back from the gradebook, and nbgrader's CSV export."""

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

from ..course import CHAPTERS, Chapter, Course


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


def export(course: Course) -> Path:
    """Write the grades CSV (nbgrader's CSV export: one row per student and assignment).

    nbgrader's export plugin, run here: ``nbgrader export`` would load nbgrader
    in a process of its own for the same file.
    """
    from nbgrader.plugins import CsvExportPlugin

    with Gradebook(course.db_url) as gb:
        CsvExportPlugin(to=str(course.grades_csv)).export(gb)
    return course.grades_csv


def table(course: Course, chapters: Iterable[Chapter] = CHAPTERS) -> list[Row]:
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
                cells = [
                    CellScore(g.name, g.score, g.max_score, g.needs_manual_grade)
                    for nb in sub.notebooks
                    for g in nb.grades
                ]
                rows.append(
                    Row(
                        sub.student.id,
                        chapter.assignment,
                        sub.score,
                        sub.max_score,
                        sorted(cells, key=lambda c: task_order(c.grade_id)),
                    )
                )
    return rows


def task_order(grade_id: str) -> list[int | str]:
    # task_1_10_softmax_loss sorts after task_1_9_relu_backward
    parts = grade_id.split("_")
    return [int(p) if p.isdigit() else 10**6 for p in parts[:3]] + [grade_id]


def short_id(grade_id: str) -> str:
    """The column title of a grade cell: task_1_5_back_propagation -> 1.5, written_... -> written."""
    parts = grade_id.split("_")
    if parts[0] == "task" and len(parts) > 2:
        return f"{parts[1]}.{parts[2]}"
    return parts[0]
