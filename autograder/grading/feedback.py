"""What a student and the instructor are told: feedback pages and the hints by kind of problem."""

import html
import queue
import threading
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


class FeedbackPages:
    """nbgrader's feedback pages of one chapter, written by the executor's workers.

    A student's page is queued (``add``) once their grade is recorded, so pages are
    written while the rest of the class is graded, in the gaps the grading leaves;
    ``close`` waits for every page queued.
    """

    def __init__(
        self,
        chapter: Chapter,
        executor: LocalExecutor | DaskExecutor,
        log: Callable[[str], None],
        recorder: Recorder | None = None,
    ):
        self.chapter, self.log, self.recorder = chapter, log, recorder
        self.queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._write, args=(executor,), daemon=True)
        self.thread.start()

    def add(self, student: str) -> None:
        """Write ``student``'s page, after the pages queued before it."""
        self.queue.put(Job(self.chapter.assignment, student, "feedback"))

    def close(self) -> None:
        """Wait until every page queued is written; raise what stopped the writing."""
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error

    def _write(self, executor):
        try:
            for outcome in executor.run(iter(self.queue.get, None), SUBMISSION_TIMEOUT):
                # a notebook that could not be graded gets a page of its own instead
                if not outcome.ok and not (
                    self.recorder and self.recorder.problems(self.chapter, outcome.student)
                ):
                    why = [*outcome.problems.values(), *([outcome.problem] if outcome.problem else [])]
                    self.log(
                        f"{self.chapter.assignment}: nbgrader wrote no feedback for {outcome.student} "
                        f"({describe(why)})"
                    )
        except BaseException as exc:  # noqa: BLE001 - raised again by close, in the batch's thread
            self.error = exc


def describe(problems: Iterable[dict[str, str]]) -> str:
    """Problems for the grading log: ``timeout: grading took longer than 45 s ...; ...``."""
    return "; ".join(f"{p['kind']}: {p['detail']}" for p in problems) or "no reason given"
