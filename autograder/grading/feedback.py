"""What a student and the instructor are told: feedback pages and the hints by kind of problem."""

import html
from collections.abc import Callable, Iterable
from pathlib import Path

from nbgrader.api import Gradebook

from ..course import Chapter, Course
from ..nbgrader_ext import intake
from .executors import DaskExecutor, LocalExecutor
from .gradebook import Recorder
from .jobs import SUBMISSION_TIMEOUT, Job

RUN_ALL = (
    "Check that the notebook runs from top to bottom in a fresh kernel (Kernel > Restart "
    "Kernel and Run All Cells), then hand it in again."
)
MEMORY_HINT = (
    "Your notebook used more memory than the grader allows: look for a very large "
    "array or a loop that keeps everything it makes. " + RUN_ALL
)
# What a student is told to do, by the kind of problem (autograde_one.KINDS)
HINTS = {
    "missing-notebook": "Hand in the notebook together with your source_lib folder, as the setup "
    "page explains.",
    "unreadable-notebook": "The file is damaged or is not a notebook. Check that it opens in "
    "JupyterLab; if it does not, save your work again (File > Download) "
    "and hand it in again.",
    "timeout": "Your notebook ran longer than the time limit: look for an infinite loop or a very slow cell.",
    "out-of-memory": MEMORY_HINT,
    "worker-died": MEMORY_HINT,
    "kernel-died": "Python stopped while it ran your notebook: look for a cell that ends it "
    "(exit(), sys.exit(), os._exit()) or that uses a great deal of memory. " + RUN_ALL,
    "grader-error": "This is a fault of the grader, not of your notebook: your instructor sees it "
    "in the grading log. If your grade does not change once it is fixed, tell "
    "them.",
}
DEFAULT_HINT = RUN_ALL


def write_problem_feedback(
    course: Course, chapter: Chapter, student: str, notebook: str, problem: dict[str, str]
) -> Path:
    """The feedback page of a notebook that could not be graded (``problem``: ``{"kind",
    "detail"}``): why, what to do, and what the intake left out of the submission."""
    hint = HINTS.get(problem.get("kind"), DEFAULT_HINT)
    left_out = intake.read_messages(course.nbgrader_root, chapter.assignment, student)
    left_out = (
        "<p>The grader left out of your submission:</p>\n<ul>\n"
        + "".join(f"<li>{html.escape(m)}</li>\n" for m in left_out)
        + "</ul>\n"
        if left_out
        else ""
    )
    with Gradebook(course.db_url) as gb:
        max_score = gb.find_submission_notebook(notebook, chapter.assignment, student).max_score
    title = f"{chapter.assignment}: {notebook}.ipynb could not be graded"
    page = course.folder("feedback", student, chapter.assignment, f"{notebook}.html")
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title></head>\n<body><h1>{html.escape(title)}</h1>\n"
        f"<p>Score: 0 / {max_score:g}</p>\n"
        f"<p>Reason: {html.escape(str(problem.get('detail', '')))}</p>\n"
        f"<p>{html.escape(hint)}</p>\n{left_out}</body></html>\n"
    )
    return page


def generate_feedback(
    chapter: Chapter,
    students: list[str],
    total: int,
    log: Callable[[str], None],
    executor: LocalExecutor | DaskExecutor,
    recorder: Recorder | None = None,
) -> None:
    """nbgrader's feedback pages for ``students``, written by the executor's workers."""
    if not students:
        return
    log(f"{chapter.assignment}: generating feedback for {len(students)} of {total} students")
    jobs = [Job(chapter.assignment, s, "feedback") for s in students]
    for outcome in executor.run(jobs, SUBMISSION_TIMEOUT):
        # a notebook that could not be graded gets a page of its own instead
        if not outcome.ok and not (recorder and recorder.problems(chapter, outcome.student)):
            why = [*outcome.problems.values(), *([outcome.problem] if outcome.problem else [])]
            log(f"{chapter.assignment}: nbgrader wrote no feedback for {outcome.student} ({describe(why)})")


def describe(problems: Iterable[dict[str, str]]) -> str:
    """Problems for the grading log: ``timeout: grading took longer than 45 s ...; ...``."""
    return "; ".join(f"{p['kind']}: {p['detail']}" for p in problems) or "no reason given"
