"""Attacks on the intake, as Chapter 1 submissions: links and special files in the submission.

Each starts from the release with its stubs returning 0 (``RETURN_ZERO``), so
any point it scores is stolen, and adds its links with ``Submission.files``.
A submission folder is ``<course>/assignments/submitted/<student>/<assignment>``:
the links find the course from there. ``tests/test_intake.py`` grades them
with honest students; the intake must leave every link out and say so.
"""

import os
from pathlib import Path

from . import Submission
from .feedforward import ALL, RETURN_ZERO

# Put into the grader's environment by the test: /proc/self/environ would show it.
CANARY = "NNFS_INTAKE_CANARY"


def _course_root(dest):
    return Path(dest).resolve().parents[3]


def _links(links):
    """A ``Submission.files`` function: make each relative path of ``links`` a symbolic link
    to what ``links[path](dest)`` returns, replacing the file there."""

    def make(dest):
        for name, target in links.items():
            (Path(dest) / name).unlink(missing_ok=True)
            os.symlink(target(dest), Path(dest) / name)

    return make


def _attack(student, description, links):
    return Submission(
        student,
        description,
        library="release",
        edits=(RETURN_ZERO,),
        fails=ALL,
        files=_links(links),
        kind="attack",
    )


INTAKE_ATTACKS = [
    _attack(
        "attack-link-instructor",
        "source_lib/feedforward.py links to the instructor's",
        {"source_lib/feedforward.py": lambda d: _course_root(d) / "source_lib" / "feedforward.py"},
    ),
    _attack(
        "attack-link-classmate",
        "source_lib/feedforward.py links to a classmate's, relatively",
        {
            "source_lib/feedforward.py": lambda d: (
                "../../../solution/ch01_feedforward/source_lib/feedforward.py"
            )
        },
    ),
    _attack(
        "attack-link-proc",
        "links to the grader's memory and environment",
        {"mem": lambda d: "/proc/self/mem", "environ": lambda d: "/proc/self/environ"},
    ),
    _attack(
        "attack-link-dev-zero", "a link to /dev/zero: an endless file", {"zeros.bin": lambda d: "/dev/zero"}
    ),
    _attack(
        "attack-link-secrets",
        "links to the gradebook, system files and the trusted checks",
        {
            "gradebook.db": lambda d: _course_root(d) / "assignments" / "gradebook.db",
            "passwd": lambda d: "/etc/passwd",
            "shadow": lambda d: "/etc/shadow",
            "checks": lambda d: _course_root(d) / "autograder" / "checks",
        },
    ),
    _attack(
        "attack-link-notebook",
        "the notebook links to the instructor's, hidden tests and all",
        {
            "feedforward.ipynb": lambda d: (
                _course_root(d) / "assignments" / "source" / "ch01_feedforward" / "feedforward.ipynb"
            )
        },
    ),
]
