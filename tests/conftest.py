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
    # a broken submission in the batch must not stop it
    broken = released.folder("submitted", "corrupt-json", "ch01_feedforward")
    broken.mkdir(parents=True)
    (broken / "feedforward.ipynb").write_text('{"cells": [')
    autograder(released, "grade")
    return released
