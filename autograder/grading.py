"""Autograde submissions into nbgrader's gradebook, in parallel; then feedback and a grades CSV.

Submissions are graded by ``autograde_one.py`` workers: nbgrader's autograde
with the course's configuration, which runs the notebook in the sandboxed
kernel and lets the ``TrustedChecks`` preprocessor decide the graded cells, but
only reads the gradebook. On this machine, ``workers`` long-lived worker
processes grade one submission at a time each (nbgrader loads once per worker,
not per submission); on a Dask cluster, given its scheduler address, each
submission gets a worker process of its own on a Dask worker. This process is
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
"""

import contextlib
import hashlib
import html
import json
import os
import queue
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from sqlalchemy.exc import SAWarning

from . import intake
from .autograde_one import problem
from .course import CHAPTERS, PACKAGE_DIR, Course
from .nbgrader_cli import nbgrader, nbgrader_env
from .sandbox import kill_session

SUBMISSION_TIMEOUT = 600.0  # seconds for one submission, all its notebooks and checks
# Address space of a grading worker (nbgrader, the trusted checks; the kernels and probes
# it starts inherit it and lower it to their own). Its VmPeak grading Chapter 4 and 6
# solutions was 0.62 GiB (2026-12-01): 8 GiB stops a runaway job, never an honest one,
# and two workers stay within this machine's 24 GiB. NNFS_WORKER_MEMORY overrides it (bytes).
WORKER_MEMORY = 8 * 1024**3
# nbgrader's autograde reads the sanitized copies, not what students handed in
WORKER_ARGS = ("--force", f"--CourseDirectory.submitted_directory={intake.INTAKE}")


def worker_memory():
    """The grading workers' address-space limit in bytes: ``NNFS_WORKER_MEMORY`` or the default."""
    return int(os.environ.get("NNFS_WORKER_MEMORY", WORKER_MEMORY))


def limit_memory(proc, limit):
    """Cap the address space of the just-started ``proc`` (and of what it starts) at ``limit`` bytes.

    Set from here rather than in a ``preexec_fn``, which is unsafe in a threaded grader.
    """
    try:
        resource.prlimit(proc.pid, resource.RLIMIT_AS, (limit, limit))
    except (ProcessLookupError, PermissionError, ValueError):
        pass  # it ended already, or we may not raise our own limit: the time limit remains


def worker_died(returncode, limit):
    """The ``problem`` of a grading worker that stopped without answering."""
    how = (
        f"killed by {signal.Signals(-returncode).name}"
        if returncode and returncode < 0
        else f"exit status {returncode}"
    )
    return problem(
        "worker-died",
        f"the grading worker stopped unexpectedly ({how}); it may have "
        f"run out of memory (its limit is {limit / 1024**3:g} GiB, "
        f"NNFS_WORKER_MEMORY)",
    )


def timed_out(student, timeout):
    """The ``Outcome`` of a submission the grader stopped at its time limit."""
    return Outcome(
        student,
        False,
        problem=problem("timeout", f"grading took longer than {timeout:g} s and was stopped"),
        timed_out_after=timeout,
    )


def default_workers():
    """Submissions graded at once on this machine when not told: one per core."""
    return os.cpu_count() or 1


@dataclass
class Outcome:
    """What a worker reports: whether nbgrader could grade the submission, and if not, why.

    A problem is ``{"kind", "detail"}`` (``autograde_one.problem``), never text to search.
    """

    student: str
    ok: bool
    problems: dict = field(default_factory=dict)  # notebook name -> the problem that stopped it
    problem: dict = None  # a problem of the submission as a whole (the worker died, ...)
    timed_out_after: float = None  # the limit it hit, if grading was stopped

    @classmethod
    def from_answer(cls, answer):
        """The outcome a worker's JSON answer (``autograde_one``) tells."""
        return cls(
            str(answer["student"]),
            bool(answer["ok"]),
            dict(answer.get("problems") or {}),
            answer.get("problem"),
        )

    def problem_of(self, notebook):
        """Why ``notebook`` was not graded, as far as the worker knows."""
        return (
            self.problems.get(notebook)
            or self.problem
            or problem("grader-error", "the grading worker did not say why")
        )


def autograde_submission(root, assignment, student, timeout=SUBMISSION_TIMEOUT, memory=None):
    """Grade one submission in a worker process of its own (gradebook read only); an ``Outcome``.

    Runs on a Dask worker, which must see the course folder at the same path.
    ``memory``: the worker's address-space limit (default ``worker_memory()``).
    """
    course, memory = Course(Path(root)), memory or worker_memory()
    cmd = [
        sys.executable,
        "-m",
        "autograder.autograde_one",
        assignment,
        f"--student={student}",
        *WORKER_ARGS,
    ]  # its answer: the last line of its stdout
    # The worker's temporary files (kernel sockets, the sandboxes' scratch copies)
    # go in a folder of its own, removed however the worker ended.
    with tempfile.TemporaryDirectory(prefix="nnfs-job-", ignore_cleanup_errors=True) as tmp:
        env = dict(nbgrader_env(course), TMPDIR=tmp, NNFS_GRADER_PID=str(os.getpid()))
        proc = subprocess.Popen(
            cmd,
            cwd=course.nbgrader_root,
            env=env,
            text=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        limit_memory(proc, memory)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            return timed_out(student, timeout)
        finally:
            kill_session(proc)  # a kernel left behind by the worker dies with it
    lines = out.splitlines()
    try:
        return Outcome.from_answer(json.loads(lines[-1]))
    except (IndexError, ValueError, KeyError, TypeError):  # it died before it answered
        return Outcome(student, False, problem=worker_died(proc.returncode, memory))


class LocalWorker:
    """A long-lived ``autograde_one --serve`` process: nbgrader loads once, not per submission.

    It does one job at a time (grade a submission, or write its feedback). A
    job that runs over its time limit, or crashes the worker, costs the worker
    its life: the next job gets a fresh one. So does every ``RESTART_AFTER``-th,
    to keep memory in check, and a job that ran out of memory (the worker's
    address space is capped at ``memory`` bytes, default ``worker_memory()``).
    """

    RESTART_AFTER = 100

    def __init__(self, course, memory=None):
        self.course, self.proc, self.jobs = course, None, 0
        self.memory = memory or worker_memory()
        self.lock, self.expired = threading.Lock(), False

    def command(self):
        """The worker's command line."""
        return [sys.executable, "-m", "autograder.autograde_one", "--serve", *WORKER_ARGS]

    def _start(self):
        # its own temporary folder, removed when it stops (each job gets one of its own too)
        self.tmp = tempfile.mkdtemp(prefix="nnfs-worker-")
        self.proc = subprocess.Popen(
            self.command(),
            cwd=self.course.nbgrader_root,
            env=dict(nbgrader_env(self.course), TMPDIR=self.tmp, NNFS_GRADER_PID=str(os.getpid())),
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        limit_memory(self.proc, self.memory)
        self.jobs = 0

    def stop(self):
        with self.lock:
            if self.proc is not None:
                kill_session(self.proc)
                self.proc = None
                shutil.rmtree(self.tmp, ignore_errors=True)

    def _expire(self):
        self.expired = True
        self.stop()

    def start(self):
        """Start the worker process, unless it is running and young enough."""
        if self.proc is None or self.proc.poll() is not None or self.jobs >= self.RESTART_AFTER:
            self.stop()
            self._start()

    def do(self, job, timeout):
        """Send ``job`` (``assignment``, ``student``, ``action``); an ``Outcome``."""
        student = job["student"]
        self.start()
        self.jobs += 1
        with tempfile.TemporaryDirectory(prefix="nnfs-job-", ignore_cleanup_errors=True) as tmp:
            self.expired = False
            timer = threading.Timer(timeout, self._expire)
            timer.start()
            try:
                self.proc.stdin.write(json.dumps(dict(job, tmp=tmp)) + "\n")
                self.proc.stdin.flush()
                reply = self.proc.stdout.readline()
            except (OSError, AttributeError, ValueError):  # stopped by the timer meanwhile
                reply = ""
            finally:
                timer.cancel()
            if not reply:
                returncode = self._wait()
                self.stop()
                if self.expired:
                    return timed_out(student, timeout)
                return Outcome(student, False, problem=worker_died(returncode, self.memory))
        answer = json.loads(reply)
        if answer.get("restart"):  # out of memory: its state is not to be trusted
            self.stop()
        return Outcome.from_answer(answer)

    def _wait(self):
        """The exit status of a worker whose output ended (None if it is still running)."""
        try:
            return self.proc.wait(timeout=5)
        except (subprocess.TimeoutExpired, AttributeError):  # AttributeError: stopped by the timer
            return None


class LocalPool:
    """``size`` long-lived workers on this machine, for grading and feedback jobs.

    Each worker process is started by, and only used from, the pool's own
    threads, which live as long as the pool: a worker dies with the thread that
    started it (``PR_SET_PDEATHSIG``).
    """

    def __init__(self, course, size, memory=None, worker=LocalWorker):
        self.workers = [worker(course, memory) for _ in range(size)]
        self.idle = queue.SimpleQueue()
        for worker in self.workers:
            self.idle.put(worker)
        self.threads = ThreadPoolExecutor(max_workers=size)

    def start(self):
        """Start the workers now (nbgrader takes seconds to load), not at their first job."""
        for _ in self.workers:
            self.threads.submit(self._start)

    def _start(self):
        worker = self.idle.get()
        try:
            worker.start()
        finally:
            self.idle.put(worker)

    def _do(self, job, timeout):
        worker = self.idle.get()
        try:
            return worker.do(job, timeout)
        finally:
            self.idle.put(worker)

    def run(self, jobs, timeout):
        """Outcomes of ``jobs``, as they finish."""
        futures = [self.threads.submit(self._do, job, timeout) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self):
        self.threads.shutdown(wait=True, cancel_futures=True)
        for worker in self.workers:
            worker.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _dask_pool(jobs, scheduler):
    from distributed import Client
    from distributed import as_completed as dask_completed

    with Client(scheduler) as client:
        futures = [client.submit(autograde_submission, *job, pure=False) for job in jobs]
        for future in dask_completed(futures):
            yield future.result()


def _digest(paths, root):
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.relative_to(root)).encode("utf-8", "surrogateescape") + b"\0")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # a link here fails, never followed
        with open(fd, "rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()


def _files(folder):
    """The regular files below ``folder`` (no link followed or listed), but ``intake.IGNORED``."""
    found = []
    for parent, dirs, files in os.walk(folder):  # does not enter links to folders
        dirs[:] = [d for d in dirs if d not in intake.IGNORED]
        found += [
            Path(parent, f)
            for f in files
            if f not in intake.IGNORED and stat.S_ISREG(os.lstat(os.path.join(parent, f)).st_mode)
        ]
    return found


def grader_fingerprint(course, chapter):
    """Everything a grade depends on besides the submission."""
    parts = [
        _digest(_files(course.source_lib), course.source_lib),
        _digest([p for p in _files(PACKAGE_DIR) if p.suffix == ".py"], PACKAGE_DIR),
        _digest(
            _files(course.folder("source", chapter.assignment)), course.folder("source", chapter.assignment)
        ),
        _digest([course.nbgrader_root / "nbgrader_config.py"], course.nbgrader_root),
        course.db_url,
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


class Recorder:
    """The gradebook's single writer, and the record of what is graded."""

    def __init__(self, course):
        from nbgrader.coursedir import CourseDirectory
        from traitlets.config.loader import PyFileConfigLoader

        self.course = course
        self.config = PyFileConfigLoader("nbgrader_config.py", path=str(course.nbgrader_root)).load_config()
        self.coursedir = CourseDirectory(config=self.config)

    def _state(self, chapter, student):
        return self.course.nbgrader_root / ".grading" / chapter.assignment / f"{student}.json"

    def fingerprint(self, chapter, student, grader):
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

    def is_graded(self, chapter, student, fingerprint, timeout):
        """Recorded with this fingerprint, and not stopped by a shorter time limit than ``timeout``."""
        state = self._read_state(chapter, student)
        stopped = state.get("timed_out_after")
        return state.get("fingerprint") == fingerprint and not (stopped and timeout > stopped)

    def open(self, chapter, student):
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

    def record(self, chapter, outcome, fingerprint):
        """Save the scores of a graded submission; zero for notebooks nbgrader could not grade.

        Returns notebook name -> why it could not be graded (a problem, ``{"kind", "detail"}``),
        for those notebooks.
        """
        from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

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
                for writer in (SaveAutoGrades, AssignLatePenalties):
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

    def feedback_is_stale(self, chapter, student):
        """The student's feedback page is missing or older than their recorded grade."""
        page = self.course.folder(
            "feedback", student, chapter.assignment, Path(chapter.notebook).with_suffix(".html").name
        )
        state = self._state(chapter, student)
        return not page.is_file() or (state.is_file() and state.stat().st_mtime > page.stat().st_mtime)

    def problems(self, chapter, student):
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


def write_problem_feedback(course, chapter, student, notebook, problem):
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


def _is_folder(path):
    """A folder, not a link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def submitted_students(course, chapter):
    """Students with a folder for ``chapter`` in ``submitted/``; a link, at either level, is none."""
    root = course.folder("submitted")
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if _is_folder(p) and _is_folder(p / chapter.assignment))


def grade(
    course,
    chapters=CHAPTERS,
    workers=None,
    scheduler=None,
    regrade=False,
    timeout=None,
    log=print,
    memory=None,
):
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
    with contextlib.nullcontext() if scheduler else LocalPool(course, workers, memory) as pool:
        return _grade(course, chapters, workers, pool, scheduler, regrade, timeout, memory, log)


def _grade(course, chapters, workers, pool, scheduler, regrade, timeout, memory, log):
    recorder = Recorder(course)
    graded = []
    for chapter in chapters:
        students = submitted_students(course, chapter)
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
        if todo and pool:
            pool.start()  # while the gradebook is prepared for the batch
        where = f"on the Dask cluster at {scheduler}" if scheduler else f"with {workers} workers"
        log(
            f"{chapter.assignment}: grading {len(todo)} of {len(students)} submissions {where}"
            + (f" ({len(students) - len(todo)} already graded)" if len(todo) < len(students) else "")
        )
        _grade_batch(course, chapter, todo, prints, recorder, pool, scheduler, timeout, memory, log)
        # the students just graded, and any whose page is older than their grade (a crash)
        stale = [s for s in students if s in todo or recorder.feedback_is_stale(chapter, s)]
        graded.append((chapter, students, stale))
    _write_results(course, recorder, graded, pool, log)
    return [chapter for chapter, _, _ in graded]


def _write_results(course, recorder, graded, pool, log):
    """Feedback pages, class summaries and the grades CSV, side by side.

    nbgrader's feedback (in the pool's workers, where nbgrader is loaded already)
    and export run in other processes while this one draws the class summaries.
    """
    from .report import write_report

    with ThreadPoolExecutor(max_workers=len(graded) + 1) as threads:
        feedback = [
            threads.submit(generate_feedback, course, chapter, stale, len(students), log, pool, recorder)
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


def generate_feedback(course, chapter, students, total, log, pool=None, recorder=None):
    """nbgrader's feedback pages for ``students``: in the pool's workers, or by nbgrader's command."""
    if not students:
        return
    log(f"{chapter.assignment}: generating feedback for {len(students)} of {total} students")
    if pool is None:  # graded on a Dask cluster
        nbgrader(course, "generate_feedback", chapter.assignment, "--force")
        return
    jobs = [{"action": "feedback", "assignment": chapter.assignment, "student": s} for s in students]
    for outcome in pool.run(jobs, SUBMISSION_TIMEOUT):
        # a notebook that could not be graded gets a page of its own instead
        if not outcome.ok and not (recorder and recorder.problems(chapter, outcome.student)):
            why = [*outcome.problems.values(), *([outcome.problem] if outcome.problem else [])]
            log(f"{chapter.assignment}: nbgrader wrote no feedback for {outcome.student} ({describe(why)})")


def describe(problems):
    """Problems for the grading log: ``timeout: grading took longer than 45 s ...; ...``."""
    return "; ".join(f"{p['kind']}: {p['detail']}" for p in problems) or "no reason given"


def _grade_batch(course, chapter, students, prints, recorder, pool, scheduler, timeout, memory, log):
    if not students:
        return
    for student in students:
        recorder.open(chapter, student)
    if scheduler:
        outcomes = _dask_pool(
            [(str(course.root), chapter.assignment, s, timeout, memory) for s in students], scheduler
        )
    else:
        outcomes = pool.run([{"assignment": chapter.assignment, "student": s} for s in students], timeout)
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


def export(course):
    """Write the grades CSV (nbgrader's CSV export: one row per student and assignment).

    nbgrader's export plugin, run here: ``nbgrader export`` would load nbgrader
    in a process of its own for the same file.
    """
    from nbgrader.plugins import CsvExportPlugin

    with Gradebook(course.db_url) as gb:
        CsvExportPlugin(to=str(course.grades_csv)).export(gb)
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


def task_order(grade_id):
    # task_1_10_softmax_loss sorts after task_1_9_relu_backward
    parts = grade_id.split("_")
    return [int(p) if p.isdigit() else 10**6 for p in parts[:3]] + [grade_id]


def short_id(grade_id):
    """The column title of a grade cell: task_1_5_back_propagation -> 1.5, written_... -> written."""
    parts = grade_id.split("_")
    if parts[0] == "task" and len(parts) > 2:
        return f"{parts[1]}.{parts[2]}"
    return parts[0]
