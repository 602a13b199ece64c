"""Adding a chapter touches five files (the instructor guide's recipe), proven on a toy one.

A copy of the course gets a seventh chapter from exactly five files, its notebook, its
module, its checks, its corpus and its line in ``_toc.yml``, and the copy's own
``autograder`` (on ``PYTHONPATH``) releases it, writes its sample class and grades it.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.course import Chapter, Course
from autograder.grading import table
from conftest import REPO, _ignore

MODULE = '''"""Chapter 7: a toy chapter (tests/test_toy_chapter.py)."""
import numpy as np
from ._tasks import unwritten  # noqa: F401 (the student release's stubs call it)


def double(x):
    """Task 7.1: return twice ``x``.

    Args:
        x: array of any shape.

    Returns:
        array of ``x``'s shape.
    """
    ### BEGIN SOLUTION
    return 2 * np.asarray(x)
    ### END SOLUTION
'''

CHECKS = '''"""Trusted checks for the toy chapter."""
from . import Trial, call, check


@check("toy.double")
def double(rng, ref):
    x = rng.standard_normal((3, 4))
    return [Trial("a random x of shape (3, 4)", {"x": x}, [call("double", "$x")],
                  {"double(x)": ref.double(x.copy())}, {"double(x)": "@out"})]
'''

CORPUS = '''"""Fixture submissions for the toy chapter."""
from . import Edit, Submission, chapter_checks

ALL = chapter_checks("toy")
SAMPLE_CLASS = [
    Submission("solution", "the instructor solution", kind="correct"),
    Submission("bug-triple", "three times x", edits=(Edit("return 2 *", "return 3 *"),), fails=ALL),
    Submission("blank", "the untouched release", library="release", fails=ALL, kind="blank"),
]
'''


def notebook():
    def cell(kind, source, **metadata):
        extra = {"outputs": [], "execution_count": None} if kind == "code" else {}
        return {"cell_type": kind, "metadata": metadata, "source": source, **extra}

    grade = {
        "grade": True,
        "grade_id": "task_7_1_double",
        "locked": True,
        "points": 2,
        "schema_version": 3,
        "solution": False,
    }
    return {
        "cells": [
            cell("markdown", "# Chapter 7: Toy\n\nTwice a number."),
            cell("code", "import numpy as np\nfrom source_lib import toy"),
            cell(
                "code",
                "assert np.allclose(toy.double(np.arange(3.0)), [0, 2, 4])\n\n"
                "### BEGIN HIDDEN TESTS\n# trusted check: toy.double\n### END HIDDEN TESTS",
                nbgrader=grade,
            ),
        ],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_a_chapter_from_five_files_is_released_and_graded(tmp_path):
    course = Course(tmp_path / "nnfs")
    shutil.copytree(REPO, course.root, ignore=_ignore)
    root = course.root
    (root / "source_lib" / "toy.py").write_text(MODULE)
    (root / "autograder" / "checks" / "toy.py").write_text(CHECKS)
    (root / "autograder" / "corpus" / "toy.py").write_text(CORPUS)
    (root / "book" / "toy.ipynb").write_text(json.dumps(notebook(), indent=1))
    toc = (root / "_toc.yml").read_text()
    (root / "_toc.yml").write_text(
        toc.replace("      - file: book/lenet\n", "      - file: book/lenet\n      - file: book/toy\n")
    )

    # the copy's own autograder, whose chapters and tasks are read from the copy
    env = dict(os.environ, PYTHONPATH=str(root))
    autograder = Path(sys.executable).with_name("autograder")
    for args in (["release", "ch07_toy"], ["sample-class", "ch07_toy"], ["grade", "ch07_toy"]):
        proc = subprocess.run(
            [str(autograder), *args, "--course", str(root)], env=env, cwd=root, capture_output=True, text=True
        )
        assert proc.returncode == 0, f"autograder {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"

    scores = {r.student: (r.score, r.max_score) for r in table(course, [Chapter(7, "toy", "Toy")])}
    assert scores == {"solution": (2, 2), "bug-triple": (0, 2), "blank": (0, 2)}
    feedback = course.folder("feedback", "bug-triple", "ch07_toy", "toy.html").read_text()
    assert "Task 7.1 (double) failed" in feedback
