"""A batch: autograde the submissions of some chapters, then feedback, class summaries and the CSV.

A submission reaches the grader only as a sanitized copy (``nbgrader_ext/intake.py``).
Each batch grades the submissions without a matching record (``gradebook.Recorder``,
``fingerprint.py``), so a rerun after a crash finishes the batch and gives the
grades an uninterrupted run would have.
"""

import os
import stat
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..course import CHAPTERS, Chapter, Course
from ..nbgrader_ext import intake
from ..nbgrader_ext.engines import keep_engines
from . import report, scratch
from .executors import executor
from .feedback import describe, generate_feedback, write_problem_feedback
from .fingerprint import grader_fingerprint
from .gradebook import Recorder
from .jobs import SUBMISSION_TIMEOUT, Job, default_workers, worker_memory
from .lock import course_lock
from .report import write_report
from .results import export


def _is_folder(path):
    """A folder, not a link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def submitted_students(course: Course, chapter: Chapter) -> list[str]:
    """Students with a folder for ``chapter`` in ``submitted/``; a link, at either level, is none."""
    root = course.folder("submitted")
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if _is_folder(p) and _is_folder(p / chapter.assignment))


def grade(
    course: Course,
    chapters: Iterable[Chapter] = CHAPTERS,
    workers: int | None = None,
    scheduler: str | None = None,
    regrade: bool = False,
    timeout: float | None = None,
    log: Callable[[str], None] = print,
    memory: int | None = None,
) -> list[Chapter]:
    """Autograde the submissions of ``chapters`` not graded yet, then write feedback and the CSV.

    Args:
        workers: submissions graded at once on this machine (default: one per core).
        scheduler: address of a Dask scheduler (``tcp://host:8786``) to grade on
            its workers instead.
        regrade: grade every submission again, even those already recorded.
        timeout: seconds allowed for one submission (default ``SUBMISSION_TIMEOUT``).
        memory: address-space limit of a grading worker (default ``worker_memory()``).
    """
    workers = workers or default_workers()
    timeout = timeout or SUBMISSION_TIMEOUT
    memory = memory or worker_memory()
    scratch.check_socket_room()
    keep_engines()  # this process records every submission: compile its queries once
    with course_lock(course, "grade"):
        scratch.sweep()  # what a killed batch left in the temporary directory
        with executor(course, workers, scheduler, memory) as jobs:
            return _grade(course, chapters, workers, jobs, scheduler, regrade, timeout, log)


def _grade(course, chapters, workers, jobs, scheduler, regrade, timeout, log):
    recorder = Recorder(course)
    graded = []
    submitted = {chapter: submitted_students(course, chapter) for chapter in chapters}
    if any(regrade or not recorder.has_record(c, s) for c, students in submitted.items() for s in students):
        # Submissions to grade: the workers load nbgrader (seconds) while this process
        # takes the submissions in, and the class summaries' plotting library meanwhile.
        jobs.start()
        threading.Thread(target=report.load_plotting, daemon=True).start()
    for chapter in chapters:
        students = submitted[chapter]
        if students and not course.folder("source", chapter.assignment).is_dir():
            log(
                f"{chapter.assignment}: not released yet, so nbgrader cannot grade it: "
                f"run 'autograder release' first"
            )
            continue
        if not students:
            log(f"{chapter.assignment}: no submissions in {course.folder('submitted')}")
            continue
        for student in students:  # from here on, only the sanitized copies are read
            left_out = intake.take_in(course.nbgrader_root, chapter.assignment, student).problems
            if left_out:
                log(
                    f"{chapter.assignment}: the intake left out of {student}'s submission: "
                    + ", ".join(sorted({intake.shown(p.path) for p in left_out}))
                )
        grader = grader_fingerprint(course, chapter)
        prints = {s: recorder.fingerprint(chapter, s, grader) for s in students}
        todo = [s for s in students if regrade or not recorder.is_graded(chapter, s, prints[s], timeout)]
        if todo:
            jobs.start()  # unless started above
        where = f"on the Dask cluster at {scheduler}" if scheduler else f"with {workers} workers"
        log(
            f"{chapter.assignment}: grading {len(todo)} of {len(students)} submissions {where}"
            + (f" ({len(students) - len(todo)} already graded)" if len(todo) < len(students) else "")
        )
        _grade_batch(chapter, todo, prints, recorder, jobs, timeout, log)
        # the students just graded, and any whose page is older than their grade (a crash)
        stale = [s for s in students if s in todo or recorder.feedback_is_stale(chapter, s)]
        graded.append((chapter, students, stale))
    _write_results(course, recorder, graded, jobs, log)
    return [chapter for chapter, _, _ in graded]


def _write_results(course, recorder, graded, jobs, log):
    """Feedback pages, class summaries and the grades CSV, side by side.

    nbgrader's feedback (in the executor's workers, where nbgrader is loaded already)
    and export run in other processes while this one draws the class summaries.
    """
    with ThreadPoolExecutor(max_workers=len(graded) + 1) as threads:
        feedback = [
            threads.submit(generate_feedback, chapter, stale, len(students), log, jobs, recorder)
            for chapter, students, stale in graded
        ]
        exported = threads.submit(export, course)
        for chapter, _, _ in graded:
            log(f"{chapter.assignment}: class summary in {write_report(course, chapter)}")
        for (chapter, students, _), done in zip(graded, feedback):
            done.result()
            for student in students:  # after nbgrader's pages, which they replace
                for notebook, why in recorder.problems(chapter, student).items():
                    write_problem_feedback(course, chapter, student, notebook, why)
        exported.result()


def _grade_batch(chapter, students, prints, recorder, jobs, timeout, log):
    if not students:
        return

    def opened(student):  # in the gradebook before its worker starts, the next one meanwhile
        recorder.open(chapter, student)
        return Job(chapter.assignment, student)

    outcomes = jobs.run(map(opened, students), timeout)
    started = time.monotonic()
    columns = (
        TextColumn(chapter.assignment),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    console = Console(stderr=True)
    with Progress(*columns, console=console, disable=not console.is_terminal, transient=True) as progress:
        task = progress.add_task("grading", total=len(students))
        failed = []
        for outcome in outcomes:
            problems = recorder.record(chapter, outcome, prints[outcome.student])
            if problems:
                failed.append(outcome.student)
                log(
                    f"{chapter.assignment}: could not grade {outcome.student} "
                    f"({describe(problems.values())}); it scores 0"
                )
            progress.advance(task)
    minutes = (time.monotonic() - started) / 60
    log(
        f"{chapter.assignment}: graded {len(students)} submissions in {minutes * 60:.0f} s "
        f"({len(students) / max(minutes, 1e-9):.1f} per minute)"
        + (f"; could not grade {', '.join(failed)}" if failed else "")
    )
