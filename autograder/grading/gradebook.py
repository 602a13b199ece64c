"""The gradebook's single writer, and the record of what is graded (``assignments/.grading/``).

Workers only read the gradebook; this process creates each submission before its
worker starts and records the scores from the autograded notebook when it ends, so
SQLite stays safe and any SQLAlchemy URL works.
"""

import hashlib
import json
import warnings
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook
from sqlalchemy.exc import SAWarning

from ..course import Chapter, Course
from ..nbgrader_ext import intake
from ..nbgrader_ext.autograde_one import GRADEBOOK_WRITERS, problem
from .fingerprint import _digest, _files
from .jobs import Outcome


class Recorder:
    """The gradebook's single writer, and the record of what is graded."""

    def __init__(self, course: Course):
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader

        self.course = course
        self.config = PyFileConfigLoader("nbgrader_config.py", path=str(course.nbgrader_root)).load_config()
        self.coursedir = CourseDirectory(config=self.config)

    def _state(self, chapter, student):
        return self.course.nbgrader_root / ".grading" / chapter.assignment / f"{student}.json"

    def fingerprint(self, chapter: Chapter, student: str, grader: str) -> str:
        """Of the submission's intake copy and report (what is graded and what the student is told)."""
        copy = self.course.folder(intake.INTAKE, student, chapter.assignment)
        report = intake.report_path(self.course.nbgrader_root, chapter.assignment, student)
        return hashlib.sha256(
            (grader + _digest(_files(copy), copy) + _digest([report], report.parent)).encode()
        ).hexdigest()

    def _read_state(self, chapter, student):
        try:
            return json.loads(self._state(chapter, student).read_text())
        except (OSError, ValueError):
            return {}

    def has_record(self, chapter: Chapter, student: str) -> bool:
        """Graded before, whatever the submission was then."""
        return self._state(chapter, student).is_file()

    def is_graded(self, chapter: Chapter, student: str, fingerprint: str, timeout: float) -> bool:
        """Recorded with this fingerprint, and not stopped by a shorter time limit than ``timeout``."""
        state = self._read_state(chapter, student)
        stopped = state.get("timed_out_after")
        return state.get("fingerprint") == fingerprint and not (stopped and timeout > stopped)

    def open(self, chapter: Chapter, student: str) -> None:
        """Create the student and the submission (with its timestamp) before grading."""
        copy = self.course.folder(intake.INTAKE, student, chapter.assignment)
        try:
            timestamp = self.coursedir.get_existing_timestamp(str(copy))
        except (ValueError, SystemExit):  # an unreadable timestamp.txt: graded as on time
            timestamp = None
        self._state(chapter, student).unlink(missing_ok=True)
        # nbgrader's models warn about their own autoflush when a submission is created
        with Gradebook(self.course.db_url) as gb, warnings.catch_warnings():
            warnings.simplefilter("ignore", SAWarning)
            gb.update_or_create_student(student)
            if timestamp:
                gb.update_or_create_submission(chapter.assignment, student, timestamp=timestamp)
            else:
                gb.update_or_create_submission(chapter.assignment, student)

    def record(self, chapter: Chapter, outcome: Outcome, fingerprint: str) -> dict[str, dict[str, str]]:
        """Save the scores of a graded submission; zero for notebooks nbgrader could not grade.

        Returns notebook name -> why it could not be graded (a problem, ``{"kind", "detail"}``),
        for those notebooks.
        """
        student, problems = outcome.student, {}
        with Gradebook(self.course.db_url) as gb:
            names = [nb.name for nb in gb.find_assignment(chapter.assignment).notebooks]
        copy = self.course.folder(intake.INTAKE, student, chapter.assignment)
        for name in names:
            path = self.course.folder("autograded", student, chapter.assignment, f"{name}.ipynb")
            resources = {
                "nbgrader": {
                    "notebook": name,
                    "assignment": chapter.assignment,
                    "student": student,
                    "db_url": self.course.db_url,
                }
            }
            if outcome.ok and path.is_file():
                nb = nbformat.read(path, as_version=nbformat.NO_CONVERT)
                for writer in GRADEBOOK_WRITERS:
                    writer(config=self.config).preprocess(nb, resources)
                continue
            self._zero(student, chapter.assignment, name)
            if not (copy / f"{name}.ipynb").is_file():
                problems[name] = problem("missing-notebook", f"{name}.ipynb is missing from the submission")
            else:
                problems[name] = outcome.problem_of(name)
        state = self._state(chapter, student)
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(
            json.dumps(
                {"fingerprint": fingerprint, "problems": problems, "timed_out_after": outcome.timed_out_after}
            )
        )
        return problems

    def feedback_is_stale(self, chapter: Chapter, student: str) -> bool:
        """The student's feedback page is missing or older than their recorded grade."""
        page = self.course.folder(
            "feedback", student, chapter.assignment, Path(chapter.notebook).with_suffix(".html").name
        )
        state = self._state(chapter, student)
        return not page.is_file() or (state.is_file() and state.stat().st_mtime > page.stat().st_mtime)

    def problems(self, chapter: Chapter, student: str) -> dict[str, dict[str, str]]:
        """What kept the submission's notebooks from being graded, as recorded: notebook name ->
        ``{"kind", "detail"}``."""
        return self._read_state(chapter, student).get("problems", {})

    def _zero(self, student, assignment, notebook):
        # as nbgrader does for a notebook that was not submitted
        with Gradebook(self.course.db_url) as gb:
            for grade in gb.find_submission_notebook(notebook, assignment, student).grades:
                grade.auto_score = 0
                grade.needs_manual_grade = False
            gb.db.commit()
