"""Grading a class: autograde submissions in parallel into nbgrader's gradebook; then feedback,
class summaries and a grades CSV.

Submissions are graded by ``nbgrader_ext/autograde_one.py`` workers: nbgrader's autograde
with the course's configuration, which runs the notebook in the sandboxed
kernel and lets the ``TrustedChecks`` preprocessor decide the graded cells, but
only reads the gradebook. On this machine, ``workers`` long-lived worker
processes grade one submission at a time each (nbgrader loads once per worker,
not per submission); on a Dask cluster, given its scheduler address, each Dask
worker process keeps such a worker between its jobs. This process is
the gradebook's only writer: it creates each submission before its worker
starts and records the scores from the autograded notebook when the worker
ends, so SQLite stays safe and any SQLAlchemy URL works.

A submission reaches this side only as a sanitized copy: before anything
reads it, ``intake.take_in`` copies ``submitted/<student>/<assignment>`` into
``intake/<student>/<assignment>`` (regular files and folders only, within
caps; links and special files are left out and reported to the student), and
everything here and in the workers reads only that copy.

Grading resumes: a submission is recorded in ``assignments/.grading/`` once its
scores are committed, with a fingerprint of its files and of the grader
(solutions, checks, released notebook, configuration). A rerun grades only the
submissions without a matching record, so after a crash it finishes the batch
and gives the grades an uninterrupted run would have.

``nbgrader generate_feedback`` then writes one HTML page per student and
notebook with the hidden tests stripped; ``nbgrader export`` writes the CSV a
learning-management system imports.

Rule: runs in the instructor's process; uses ``nbgrader_ext`` and ``sandbox`` below it,
and nothing above it (the commands) imports back.

- ``batch``: ``grade``, the whole run of a batch.
- ``jobs``: ``Job`` and ``Outcome``, what crosses to the workers and back.
- ``executors``: ``LocalExecutor`` and ``DaskExecutor``, one interface.
- ``fingerprint``, ``gradebook``: what a grade depends on; the gradebook's single writer.
- ``feedback``: feedback pages and the hints by kind of problem.
- ``results``, ``report``: the grade table and CSV export; the class summary page.
- ``scratch``: the workers' and jobs' folders, swept by the next batch if this one is killed.
"""

from .batch import grade, submitted_students
from .jobs import SUBMISSION_TIMEOUT, Job, Outcome, default_workers
from .results import CellScore, Row, export, short_id, table, task_order
from .scratch import TemporaryDirectoryTooLong

__all__ = [
    "SUBMISSION_TIMEOUT",
    "CellScore",
    "TemporaryDirectoryTooLong",
    "Job",
    "Outcome",
    "Row",
    "default_workers",
    "export",
    "grade",
    "short_id",
    "submitted_students",
    "table",
    "task_order",
]
