"""Where jobs run: one interface, two executors.

``LocalExecutor`` keeps ``size`` long-lived ``autograde_one --serve`` workers on this
machine (nbgrader loads once per worker); ``DaskExecutor`` sends each job to a Dask
cluster, whose worker processes keep such a worker each (``run_kept_job``). Both are context managers with
``start()`` and ``run(jobs, timeout)``, which yields an ``Outcome`` per ``Job`` as
they finish. Every worker speaks the same JSON lines (``Job.message`` in, an answer
out) and runs with the same environment and memory limit (``start_worker``).
"""

import atexit
import json
import os
import queue
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import IO, Any

from ..course import Course
from ..nbgrader_ext.autograde_one import problem
from ..nbgrader_ext.nbgrader_cli import nbgrader_env
from ..sandbox.jail import kill_session
from . import scratch
from .jobs import WORKER_ARGS, Job, Outcome, limit_memory, timed_out, worker_died, worker_memory

WORKER_COMMAND = [sys.executable, "-m", "autograder.nbgrader_ext.autograde_one", "--serve", *WORKER_ARGS]


def start_worker(
    course: Course,
    command: list[str],
    tmp: str | Path,
    memory: int,
    stdin: int | IO[Any] | None = subprocess.PIPE,
) -> subprocess.Popen[str]:
    """Start a grading worker in the course's nbgrader root: its temporary files in ``tmp``,
    its address space capped at ``memory`` bytes, in a session of its own."""
    proc = subprocess.Popen(
        command,
        cwd=course.nbgrader_root,
        env=dict(nbgrader_env(course), TMPDIR=str(tmp), NNFS_GRADER_PID=str(os.getpid())),
        text=True,
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    limit_memory(proc, memory)
    return proc


def run_one_job(root: str | Path, job: Job, timeout: float, memory: int | None = None) -> Outcome:
    """Do ``job`` in a worker process of its own; its ``Outcome`` (a Dask task).

    Runs on a Dask worker, which must see the course folder at the same path.
    ``memory``: the worker's address-space limit (default ``worker_memory()``).
    """
    course, memory = Course(Path(root)), memory or worker_memory()
    if (too_long := _no_socket_room()) is not None:
        return Outcome(job.student, False, problem=too_long)
    # The worker's temporary files (kernel sockets, the sandboxes' scratch copies)
    # go in a folder of its own, removed however the worker ended, and by a later job
    # if this Dask worker is killed (``scratch``).
    scratch.sweep()
    with scratch.folder(scratch.JOB) as tmp:
        proc = start_worker(course, WORKER_COMMAND, tmp, memory)
        try:
            out, _ = proc.communicate(json.dumps(job.message(tmp)) + "\n", timeout=timeout)
        except subprocess.TimeoutExpired:
            return timed_out(job.student, timeout)
        finally:
            kill_session(proc)  # a kernel left behind by the worker dies with it
    try:
        return Outcome.from_answer(json.loads(out.splitlines()[0]))
    except (IndexError, ValueError, KeyError, TypeError):  # it died before it answered
        return Outcome(job.student, False, problem=worker_died(proc.returncode, memory))


def _no_socket_room() -> dict[str, str] | None:
    """On a Dask worker's machine: the problem its temporary directory poses, if too long."""
    try:
        scratch.check_socket_room()
    except scratch.TemporaryDirectoryTooLong as exc:
        return problem(
            "grader-error",
            f"the temporary directory of the grading machine, {exc.folder}, is too long for the "
            "kernels' sockets: set TMPDIR there to a shorter folder, e.g. /tmp",
        )
    return None


class LocalWorker:
    """A long-lived ``autograde_one --serve`` process: nbgrader loads once, not per submission.

    It does one job at a time (grade a submission, or write its feedback). A
    job that runs over its time limit, or crashes the worker, costs the worker
    its life: the next job gets a fresh one. So does every ``RESTART_AFTER``-th,
    to keep memory in check, and a job that ran out of memory (the worker's
    address space is capped at ``memory`` bytes, default ``worker_memory()``).
    """

    RESTART_AFTER = 100

    def __init__(self, course: Course, memory: int | None = None):
        self.course, self.proc, self.jobs = course, None, 0
        self.scratch: scratch.Scratch | None = None  # its folder, while it runs
        self.memory = memory or worker_memory()
        self.lock, self.expired = threading.Lock(), False

    def command(self) -> list[str]:
        """The worker's command line."""
        return WORKER_COMMAND

    def _start(self):
        # its own temporary folder, removed when it stops (each job gets one of its own
        # too), or by the next batch if this one is killed (``scratch``)
        self.scratch = scratch.make(scratch.WORKER)
        self.proc = start_worker(self.course, self.command(), self.scratch.path, self.memory)
        self.jobs = 0

    def stop(self) -> None:
        with self.lock:
            if self.proc is not None:
                kill_session(self.proc)
                self.proc = None
                self.scratch.remove()

    def _expire(self):
        self.expired = True
        self.stop()

    def start(self) -> None:
        """Start the worker process, unless it is running and young enough."""
        if self.proc is None or self.proc.poll() is not None or self.jobs >= self.RESTART_AFTER:
            self.stop()
            self._start()

    def do(self, job: Job, timeout: float) -> Outcome:
        """Do ``job`` (a ``Job``); its ``Outcome``."""
        student = job.student
        self.start()
        self.jobs += 1
        with scratch.folder(scratch.JOB) as tmp:
            self.expired = False
            timer = threading.Timer(timeout, self._expire)
            timer.start()
            try:
                self.proc.stdin.write(json.dumps(job.message(tmp)) + "\n")
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


class LocalExecutor:
    """``size`` long-lived workers on this machine, for grading and feedback jobs.

    Each worker process is started by, and only used from, the pool's own
    threads, which live as long as the pool: a worker dies with the thread that
    started it (``PR_SET_PDEATHSIG``).
    """

    def __init__(
        self, course: Course, size: int, memory: int | None = None, worker: type[LocalWorker] = LocalWorker
    ):
        self.workers = [worker(course, memory) for _ in range(size)]
        self.idle = queue.SimpleQueue()
        for worker in self.workers:
            self.idle.put(worker)
        self.threads = ThreadPoolExecutor(max_workers=size)

    def start(self) -> None:
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

    def run(self, jobs: Iterable[Job], timeout: float) -> Iterator[Outcome]:
        """Outcomes of ``jobs`` (``Job``s), as they finish."""
        futures = [self.threads.submit(self._do, job, timeout) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:
                future.cancel()

    def close(self) -> None:
        self.threads.shutdown(wait=True, cancel_futures=True)
        for worker in self.workers:
            worker.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# A Dask worker's grading workers, kept between its jobs: (course root, memory, thread) -> worker.
_KEPT: dict[tuple[str, int, int], LocalWorker] = {}
_KEPT_LOCK = threading.Lock()


def run_kept_job(root: str | Path, job: Job, timeout: float, memory: int | None = None) -> Outcome:
    """Do ``job`` in a long-lived ``LocalWorker`` that this process keeps for its thread
    (a Dask task): nbgrader, and the warm start's libraries (``nbgrader_ext/warm.py``), load
    once per Dask worker, not once per job. The worker restarts as a local one does.

    Runs on a Dask worker, which must see the course folder at the same path.
    """
    if (too_long := _no_socket_room()) is not None:
        return Outcome(job.student, False, problem=too_long)
    key = (str(root), memory or worker_memory(), threading.get_ident())
    with _KEPT_LOCK:
        if not _KEPT:  # stopped, their temporary folders removed, as the Dask worker exits
            atexit.register(_stop_kept)
        worker = _KEPT.get(key)
        if worker is None:  # dies with this thread, and with the Dask worker (PR_SET_PDEATHSIG)
            worker = _KEPT[key] = LocalWorker(Course(Path(root)), key[1])
    return worker.do(job, timeout)


def _stop_kept():
    with _KEPT_LOCK:
        for worker in _KEPT.values():
            worker.stop()
        _KEPT.clear()


class DaskExecutor:
    """Jobs on the Dask cluster at ``scheduler``, in grading workers its workers keep."""

    def __init__(self, course: Course, scheduler: str, memory: int | None = None):
        self.root, self.scheduler, self.memory = str(course.root), scheduler, memory

    def start(self) -> None:
        """Nothing to start: the cluster's workers are running."""

    def run(self, jobs: Iterable[Job], timeout: float) -> Iterator[Outcome]:
        """Outcomes of ``jobs`` (``Job``s), as they finish."""
        from distributed import Client
        from distributed import as_completed as dask_completed

        with Client(self.scheduler) as client:
            futures = [
                client.submit(run_kept_job, self.root, job, timeout, self.memory, pure=False) for job in jobs
            ]
            for future in dask_completed(futures):
                yield future.result()

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def executor(
    course: Course, workers: int, scheduler: str | None = None, memory: int | None = None
) -> LocalExecutor | DaskExecutor:
    """The executor for a batch: the Dask cluster at ``scheduler``, or ``workers`` local ones."""
    return DaskExecutor(course, scheduler, memory) if scheduler else LocalExecutor(course, workers, memory)
