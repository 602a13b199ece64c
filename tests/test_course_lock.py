"""One writer at a time (``grading/lock.py``): a command that changes a course's grading
state refuses to start while another holds the course, and a holder killed with SIGKILL
leaves the course free.

The holder is a real process that took the lock as the commands do; the commands are the
real ``autograder`` CLI.
"""

import hashlib
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import CHAPTERS, Course
from autograder.grading.lock import LOCK_NAME, course_lock
from conftest import AUTOGRADER, REPO, _ignore

HOLD = (
    "import sys, time; from pathlib import Path; from autograder.course import Course; "
    "from autograder.grading.lock import course_lock\n"
    "with course_lock(Course(Path(sys.argv[1])), 'grade'):\n"
    "    print('held', flush=True); time.sleep(600)"
)


@pytest.fixture
def course(tmp_path):
    course = Course(tmp_path / "nnfs")
    shutil.copytree(REPO, course.root, ignore=_ignore)
    # a submission waiting to be graded
    (course.folder("submitted", "alice", CHAPTERS[0].assignment)).mkdir(parents=True)
    return course


def holder(course):
    """A real process holding ``course``'s lock, as ``autograder grade`` does."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(course.root)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline() == "held\n"
    return proc


def digest(folder):
    """Every file under ``folder`` but the lock, with its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(folder).rglob("*"))
        if p.is_file() and p.name != LOCK_NAME
    }


@pytest.mark.parametrize(
    "command",
    [
        ["grade", CHAPTERS[0].assignment],
        ["release", CHAPTERS[0].assignment],
        ["sample-class", CHAPTERS[0].assignment],
        ["collect", "downloads.zip", CHAPTERS[0].assignment],
    ],
    ids=lambda c: c[0],
)
def test_a_second_writer_is_refused_before_it_changes_the_course(course, command):
    """A second writer (a teaching assistant's grade while a scheduled one runs) is refused
    with exit status 1 and a message naming the running command, its process and what to
    do, before it touches the course."""
    before = digest(course.nbgrader_root)
    proc = holder(course)
    try:
        refused = subprocess.run(
            [str(AUTOGRADER), *command, "--course", str(course.root)],
            cwd=course.root,
            capture_output=True,
            text=True,
        )
    finally:
        proc.kill()
        proc.wait()
    said = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode == 1, said
    assert f"'autograder grade' (process {proc.pid}, started " in said, said
    assert f"so 'autograder {command[0]}' did nothing: wait for it to finish (or stop it)" in said, said
    assert digest(course.nbgrader_root) == before


def test_a_holder_killed_with_sigkill_leaves_the_course_free(course):
    proc = holder(course)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    with course_lock(course, "grade"):  # taken at once: the system released it
        pass
