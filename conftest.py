"""The suite's shape: areas (markers), the xdist group of shared builds, and a sandbox lock.

Markers, by area and cost (``pytest -m fast`` runs in under two minutes):

- ``fast``: seconds, nothing built or graded (unit, oracle and static tests);
- ``grading``: real grading through nbgrader and the sandbox;
- ``book``: the book build, its notebooks (nbval), the release and the student edition;
- ``browser``: the built book in a real browser.

``scripts/test.sh`` runs the suite on every core (pytest-xdist, ``-n auto``).
Tests that run ``autograder`` commands or share the session's builds (the course copy,
its book, release and graded class; ``tests/conftest.py``) form one group, ``course``,
so each build is made once, on one worker, and ``conftest.RAN`` holds every command
the instructor guide's test looks for; every other test goes wherever a core is free.

nbval runs a chapter's graded cells; its slow demonstrations are the book build's:
cells tagged ``grading-skip`` (training runs, experiments, their figures) are executed,
with errors and stderr failing the build, by the strict book build in
``tests/test_book.py``, so nbval deselects them and checks everything else.

TensorFlow is quieted here once for every test and notebook (``sandbox/policy.py``).
"""

import contextlib
import fcntl
import os
from pathlib import Path

import pytest

from autograder.sandbox.policy import QUIET_TENSORFLOW

os.environ.update(QUIET_TENSORFLOW)

AREAS = {  # test module -> area; a module not named here is "fast"
    "test_browser": "browser",
    "test_book": "book",
    "test_edition": "book",
    "test_release": "book",
    "test_student_notebooks": "book",
    "test_update": "book",
    "test_attacks": "grading",
    "test_feedback": "grading",
    "test_grading": "grading",
    "test_grading_scale": "grading",
    "test_instructor_guide": "grading",
    "test_intake": "grading",
    "test_isolation": "grading",
    "test_lms": "grading",
    "test_tamper": "grading",
    "test_toy_chapter": "grading",
    "test_trusted_checks": "grading",
    "test_validate": "grading",
    "test_visible_hidden": "grading",
}
# Modules whose tests run `autograder` commands or use the session's shared builds.
COURSE_GROUP = {
    "test_attacks",
    "test_book",
    "test_browser",
    "test_edition",
    "test_grading",
    "test_grading_scale",
    "test_instructor_guide",
    "test_intake",
    "test_isolation",
    "test_lms",
    "test_release",
    "test_student_notebooks",
    "test_tamper",
    "test_update",
    "test_validate",
}


def _tags(item):
    cell = getattr(item, "cell", None)  # nbval's notebook cell items
    return cell.metadata.get("tags", []) if cell is not None else []


def pytest_collection_modifyitems(config, items):
    demo = [item for item in items if "grading-skip" in _tags(item)]
    if demo:
        config.hook.pytest_deselected(items=demo)
        items[:] = [item for item in items if item not in demo]
    for item in items:
        module = Path(str(item.fspath)).stem
        if item.fspath.ext == ".ipynb":
            item.add_marker(pytest.mark.book)
            continue
        item.add_marker(getattr(pytest.mark, AREAS.get(module, "fast")))
    # exclusive tests last: by then the other workers are done, and nothing waits for them
    items.sort(key=lambda item: item.get_closest_marker("exclusive") is not None)


def in_course_group(nodeid):
    return Path(nodeid.split("::", 1)[0]).stem in COURSE_GROUP


def pytest_xdist_make_scheduler(config, log):
    """xdist's load scheduling, with the course group's tests kept together on one worker.

    (xdist's own ``xdist_group`` marks rename node ids, which pytest 9 no longer allows.)
    """
    from xdist.scheduler import LoadScopeScheduling

    class CourseGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return "course" if in_course_group(nodeid) else nodeid

    return CourseGroupScheduling(config, log)


# A test marked ``exclusive`` runs while no test runs on another worker: the attack batch
# grades under 5-second limits, and counts the sandbox's processes on the whole machine.
# Every test holds a shared lock from setup to teardown (session fixtures are made in
# the setup of their first test); an exclusive one holds it alone. A turnstile keeps new
# shared holders out while an exclusive test waits.
def _lock_folder(config):
    worker_tmp = config._tmp_path_factory.getbasetemp()
    return worker_tmp.parent if os.environ.get("PYTEST_XDIST_WORKER") else worker_tmp


@contextlib.contextmanager
def _flock(path, kind):
    with open(path, "a") as fh:
        fcntl.flock(fh, kind)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    folder = _lock_folder(item.config)
    turnstile, lock = folder / "nnfs-sandbox.turnstile", folder / "nnfs-sandbox.lock"
    if item.get_closest_marker("exclusive"):
        with _flock(turnstile, fcntl.LOCK_EX), _flock(lock, fcntl.LOCK_EX):
            return (yield)
    with _flock(turnstile, fcntl.LOCK_EX):
        pass
    with _flock(lock, fcntl.LOCK_SH):
        return (yield)
