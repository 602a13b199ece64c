"""Shared fixtures: a throwaway copy of the course, released and graded once per session."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import Course

REPO = Path(__file__).resolve().parents[1]
AUTOGRADER = Path(sys.executable).with_name("autograder")
GENERATED = {".venv", "_build", ".git", "__pycache__", ".pytest_cache", "test-artifacts"}


def _ignore(folder, names):
    skip = [n for n in names if n in GENERATED]
    if Path(folder).name == "assignments":  # nbgrader's generated folders stay behind
        skip += [n for n in names if n != "nbgrader_config.py"]
    return skip


def autograder(course, *args, check=True):
    """Run the real ``autograder`` command on ``course``; returns the completed process."""
    proc = subprocess.run([str(AUTOGRADER), *args, "--course", str(course.root)],
                          capture_output=True, text=True, cwd=course.root)
    if check and proc.returncode != 0:
        raise AssertionError(f"autograder {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="session")
def course_copy(tmp_path_factory):
    dest = tmp_path_factory.mktemp("course") / "nnfs"
    shutil.copytree(REPO, dest, ignore=_ignore)
    return Course(dest)


@pytest.fixture(scope="session")
def released(course_copy):
    autograder(course_copy, "release")
    return course_copy


@pytest.fixture(scope="session")
def graded(released):
    autograder(released, "sample-class")
    # bad input in the batch must not stop it: a notebook that is not JSON, a
    # submission without its notebook, and a correct one full of junk files
    submitted = lambda student: released.folder("submitted", student, "ch01_feedforward")
    submitted("corrupt-json").mkdir(parents=True)
    (submitted("corrupt-json") / "feedforward.ipynb").write_text('{"cells": [')
    shutil.copytree(submitted("solution"), submitted("missing-notebook"))
    (submitted("missing-notebook") / "feedforward.ipynb").unlink()
    shutil.copytree(submitted("solution"), submitted("junk"))
    for junk, content in ((".DS_Store", b"\0\0\0\1Bud1"), ("data/big.bin", bytes(range(256)) * 8192),
                          ("source_lib/__pycache__/feedforward.cpython-311.pyc", b"not bytecode"),
                          ("source_lib/notes.txt", "\u00e9t\u00e9".encode("latin-1"))):
        (submitted("junk") / junk).parent.mkdir(parents=True, exist_ok=True)
        (submitted("junk") / junk).write_bytes(content)
    autograder(released, "grade")
    return released
