"""The suite's shape: areas (markers), the xdist group of shared builds, and a sandbox lock.

Markers, by area and cost (``pytest -m fast`` runs in under two minutes):

- ``fast``: seconds, nothing built or graded (unit, oracle and static tests);
- ``grading``: real grading through nbgrader and the sandbox;
- ``book``: the book build, its notebooks (nbval), the release and the student edition;
- ``browser``: the built book in a real browser.

``scripts/test.sh`` runs the suite on every core (pytest-xdist, ``-n auto``).
Tests that share a build some of them change form a group that one worker runs
(``GROUPS``: grading, attacks, book); every other module goes, whole, wherever a core
is free. Builds that several groups use are made once, by whichever worker asks first
(``built_once`` in ``tests/conftest.py``), which also hands on the commands they ran
to ``conftest.RAN`` for the instructor guide's test.

nbval runs a chapter's graded cells; its slow demonstrations are the book build's:
cells tagged ``grading-skip`` (training runs, experiments, their figures) are executed,
with errors and stderr failing the build, by the strict book build in
``tests/test_book.py``, so nbval deselects them and checks everything else.

TensorFlow is quieted here once for every test and notebook (``sandbox/policy.py``).
"""

import collections
import contextlib
import fcntl
import os
from pathlib import Path

import pytest

from autograder.sandbox.policy import ONE_THREAD, QUIET_TENSORFLOW

# One thread for every process of the run, as graded students get: xdist runs one
# worker per core, and a worker's kernels and commands run while the other works.
os.environ.update(QUIET_TENSORFLOW, **ONE_THREAD)

AREAS = {  # test module -> area; a module not named here is "fast"
    "test_browser": "browser",
    "test_book": "book",
    "test_determinism": "book",
    "test_edition": "book",
    "test_release": "book",
    "test_student_notebooks": "book",
    "test_update": "book",
    "test_attacks": "grading",
    "test_course_lock": "grading",
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
# Modules that stay together on one xdist worker, as a group: they share a build that
# some of them change (the graded class; the attack batch), or they build the book.
# Builds that several groups use (the course copy, its release, the book, the student
# edition) are made once whichever worker asks first (``built_once``, tests/conftest.py).
GROUPS = {
    "grading": {
        "test_grading",
        "test_grading_scale",
        "test_instructor_guide",
        "test_isolation",
        "test_lms",
    },
    "attacks": {"test_attacks", "test_intake", "test_tamper"},
    "book": {
        "test_book",
        "test_browser",
        "test_edition",
        "test_release",
        "test_student_notebooks",
        "test_update",
    },
}
GROUP_OF = {module: group for group, modules in GROUPS.items() for module in modules}
# The longest scopes start first (minutes of wall time each, in this order; measured with
# NNFS_TIMELINE), so that the short ones fill the end evenly; then the others by their
# number of tests, as xdist orders them.
LONGEST_FIRST = (
    "grading",
    "book",
    "attacks",
    "tests/test_visible_hidden.py",
    "tests/test_determinism.py",
    "tests/test_validate.py",
)


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
    # scopes longest first (xdist hands them out in this order, see
    # ``pytest_xdist_make_scheduler``); in a scope, exclusive tests last: by then the
    # other workers are done, and nothing waits for them; tests marked ``last`` after
    # the others of their group, when what they use is built
    sizes = collections.Counter(scope_of(item.nodeid) for item in items)

    def rank(scope):
        if scope in LONGEST_FIRST:
            return (LONGEST_FIRST.index(scope), 0)
        return (len(LONGEST_FIRST), -sizes[scope])

    items.sort(
        key=lambda item: (
            rank(scope_of(item.nodeid)),
            item.get_closest_marker("exclusive") is not None,
            item.get_closest_marker("last") is not None,
        )
    )


def scope_of(nodeid):
    """The xdist scope of a test: its group, else its file (so a module's fixtures are
    built once, on one worker)."""
    path = nodeid.split("::", 1)[0]
    return GROUP_OF.get(Path(path).stem, path)


def pytest_xdist_make_scheduler(config, log):
    """xdist's scope scheduling, by ``scope_of``, in the order of the collection (longest
    scopes first, ``pytest_collection_modifyitems``).

    (xdist's own ``xdist_group`` marks rename node ids, which pytest 9 no longer allows.)
    """
    from xdist.scheduler import LoadScopeScheduling

    config.option.loadscopereorder = False  # xdist's own order: most tests first

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            return scope_of(nodeid)

    return GroupScheduling(config, log)


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


# ``NNFS_TIMELINE=<file>``: each test's phases (setup, call, teardown) as JSON lines, with
# the worker, wall-clock start and end, the CPU the worker and its finished children
# used meanwhile, and the whole machine's busy CPU meanwhile (``machine``: exact per test
# when one worker runs the suite, ``-n 0``; it counts processes no one waits for, such
# as the sandbox's): where the suite's time goes, and where a worker waits.
@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    path = os.environ.get("NNFS_TIMELINE")
    if path:
        import json
        import resource

        usage = [resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
        cpu, machine = sum(u.ru_utime + u.ru_stime for u in usage), _machine_busy()
        line = {
            "worker": os.environ.get("PYTEST_XDIST_WORKER", "main"),
            "test": item.nodeid,
            "phase": call.when,
            "start": call.start,
            "stop": call.stop,
            "cpu": round(cpu - _LAST_CPU[0], 2),
            "machine": round(machine - _LAST_CPU[1], 2),
        }
        _LAST_CPU[:] = cpu, machine
        with open(path, "a") as fh:
            fh.write(json.dumps(line) + "\n")
    return report


def _machine_busy():
    """Busy CPU seconds of the whole machine since boot (Linux; 0 elsewhere)."""
    try:
        with open("/proc/stat") as fh:
            fields = fh.readline().split()[1:]
    except OSError:
        return 0.0
    # user nice system idle iowait irq softirq steal: all but idle and iowait
    return sum(int(f) for i, f in enumerate(fields[:8]) if i not in (3, 4)) / os.sysconf("SC_CLK_TCK")


# this worker's and the machine's CPU seconds at the end of the phase before
_LAST_CPU = [0.0, _machine_busy()]
