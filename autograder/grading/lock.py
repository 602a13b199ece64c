"""One writer at a time: the commands that change a course's grading state take its lock.

``release`` (the gradebook's assignments and the released notebooks), ``sample-class``
and ``collect`` (the submissions) and ``grade`` (the sanitized copies, the gradebook,
feedback and the CSV) must not overlap on one course: a second ``grade`` would take a
student's submission in again while the first grades it, and could record a correct
student as missing their notebook. Two teaching assistants, or a scheduled run and a
manual one, get one run and a clear refusal instead.

The lock is ``flock`` on ``assignments/.autograder.lock``: the system releases it when its
process ends, however it ends, so a killed grader never leaves the course locked. The
file names its holder (command, process, start) for the refusal's message.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..course import Course

LOCK_NAME = ".autograder.lock"


class CourseBusy(Exception):
    """Another command holds the course's lock."""

    def __init__(self, command: str, holder: dict[str, object]):
        self.command, self.holder = command, holder
        who = (
            f"'autograder {holder.get('command', '?')}' (process {holder.get('pid', '?')}, "
            f"started {holder.get('started', '?')})"
            if holder
            else "another autograder command"
        )
        super().__init__(
            f"{who} is changing this course now, so 'autograder {command}' did nothing: "
            f"wait for it to finish (or stop it), then run 'autograder {command}' again"
        )


@contextmanager
def course_lock(course: Course, command: str) -> Iterator[None]:
    """Hold the lock of ``course`` while ``command`` runs; ``CourseBusy`` if another holds it."""
    path = course.nbgrader_root / LOCK_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CourseBusy(command, _holder(fd)) from None
        holder = {"command": command, "pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(holder).encode(), 0)
        yield
    finally:
        os.close(fd)  # and with it the lock


def _holder(fd: int) -> dict[str, object]:
    try:
        found = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}
