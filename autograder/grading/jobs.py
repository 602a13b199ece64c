"""What crosses between the grader and its workers: a ``Job`` out, an ``Outcome`` back.

Both executors (``executors.py``) take the same jobs and give the same outcomes;
a problem is ``{"kind", "detail"}`` (``nbgrader_ext.autograde_one.problem``), never
text to search.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Self

from ..nbgrader_ext import intake
from ..nbgrader_ext.autograde_one import problem
from ..sandbox import policy

SUBMISSION_TIMEOUT = 600.0  # seconds for one submission, all its notebooks and checks
# Address space of a grading worker (nbgrader, the trusted checks; the kernels and probes
# it starts inherit it and lower it to their own). Its VmPeak grading Chapter 4 and 6
# solutions was 0.62 GiB (2026-12-01): 8 GiB stops a runaway job, never an honest one,
# and two workers stay within this machine's 24 GiB. NNFS_WORKER_MEMORY overrides it (bytes).
WORKER_MEMORY = 8 * 1024**3
# nbgrader's autograde reads the sanitized copies, not what students handed in
WORKER_ARGS = ("--force", f"--CourseDirectory.submitted_directory={intake.INTAKE}")


def worker_memory() -> int:
    """The grading workers' address-space limit in bytes: ``NNFS_WORKER_MEMORY`` or the default."""
    return int(os.environ.get("NNFS_WORKER_MEMORY", WORKER_MEMORY))


def limit_memory(proc: subprocess.Popen[str], limit: int) -> None:
    """Cap the address space of the just-started ``proc`` (and of what it starts) at ``limit`` bytes.

    Set from here rather than in a ``preexec_fn``, which is unsafe in a threaded grader.
    """
    try:
        resource.prlimit(proc.pid, resource.RLIMIT_AS, (limit, limit))
    except (ProcessLookupError, PermissionError, ValueError):
        pass  # it ended already, or we may not raise our own limit: the time limit remains


def worker_died(returncode: int | None, limit: int) -> dict[str, str]:
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


def timed_out(student: str, timeout: float) -> Outcome:
    """The ``Outcome`` of a submission the grader stopped at its time limit."""
    return Outcome(
        student,
        False,
        problem=problem("timeout", f"grading took longer than {timeout:g} s and was stopped"),
        timed_out_after=timeout,
    )


def default_workers() -> int:
    """Submissions graded at once on this machine when not told: one per core the grader
    can keep busy (``policy.usable_cores``: its CPU affinity and its container's quota)."""
    return policy.usable_cores()


@dataclass(frozen=True)
class Job:
    """One thing a worker does for one student: ``"grade"`` the submission, or write its
    ``"feedback"`` page."""

    assignment: str
    student: str
    action: str = "grade"

    def message(self, tmp: str | Path) -> dict[str, str]:
        """The JSON line a worker reads (``autograde_one --serve``); ``tmp``: its temporary folder."""
        return dict(asdict(self), tmp=str(tmp))


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
    def from_answer(cls, answer: dict[str, Any]) -> Self:
        """The outcome a worker's JSON answer (``autograde_one``) tells."""
        return cls(
            str(answer["student"]),
            bool(answer["ok"]),
            dict(answer.get("problems") or {}),
            answer.get("problem"),
        )

    def problem_of(self, notebook: str) -> dict[str, str]:
        """Why ``notebook`` was not graded, as far as the worker knows."""
        return (
            self.problems.get(notebook)
            or self.problem
            or problem("grader-error", "the grading worker did not say why")
        )
