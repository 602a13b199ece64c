"""Shared fixtures: a throwaway copy of the course, its book, release and grades, made once.

Every command line these fixtures and the tests run through ``autograder()`` or
``dask_cluster()`` is recorded in ``RAN``: ``test_instructor_guide`` checks that
each command of the instructor guide is among them, as written there.
"""

import contextlib
import fcntl
import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from autograder.course import CHAPTERS, Course
from autograder.grading import scratch

REPO = Path(__file__).resolve().parents[1]
AUTOGRADER = Path(sys.executable).with_name("autograder")
GENERATED = {".venv", "_build", ".git", "__pycache__", ".pytest_cache", "test-artifacts"}


def _ignore(folder, names):
    skip = [n for n in names if n in GENERATED]
    if Path(folder).name == "assignments":  # nbgrader's generated folders stay behind
        skip += [n for n in names if n != "nbgrader_config.py"]
    return skip


# (command line, exit status) of every command run: ("autograder", "grade", ...)
# without the "--course <path>" the tests add, ("dask", "scheduler", ...) as run.
RAN = []


def autograder(course, *args, check=True):
    """Run the real ``autograder`` command on ``course``; returns the completed process."""
    args = [str(a) for a in args]
    proc = subprocess.run(
        [str(AUTOGRADER), *args, "--course", str(course.root)],
        capture_output=True,
        text=True,
        cwd=course.root,
    )
    RAN.append((("autograder", *args), proc.returncode))
    if check and proc.returncode != 0:
        raise AssertionError(f"autograder {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def built_once(factory, name, build):
    """``build()``, once in a run of the suite: the first xdist worker to ask builds it,
    the others wait for it and get its value (pickled) and the commands it ran (``RAN``),
    so a build is never made twice, whichever worker's tests need it."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build()
    folder = factory.getbasetemp().parent  # the run's, shared by its workers
    with open(folder / f"built-{name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released as the file closes
        made = folder / f"built-{name}.pickle"
        if made.exists():
            value, ran = pickle.loads(made.read_bytes())
            RAN.extend(ran)
            return value
        start = len(RAN)
        value = build()
        made.write_bytes(pickle.dumps((value, RAN[start:])))
        return value


def _course_copy(factory, name):
    dest = factory.mktemp(name) / "nnfs"
    shutil.copytree(REPO, dest, ignore=_ignore)
    return Course(dest)


@pytest.fixture(scope="session")
def course_copy(tmp_path_factory):
    return built_once(tmp_path_factory, "course_copy", lambda: _course_copy(tmp_path_factory, "course"))


@pytest.fixture(scope="session")
def book_course(tmp_path_factory):
    """A course copy of the book's own: its build writes nothing where the others grade."""
    return built_once(tmp_path_factory, "book_course", lambda: _course_copy(tmp_path_factory, "book"))


BOOK_LOG = "book-build.log"  # next to the book's course copy: what its two builds printed


@pytest.fixture(scope="session")
def book_html(book_course, tmp_path_factory):
    """The HTML book of ``book_course``, built once for the run (test_book, test_browser).

    ``NNFS_BOOK_HTML=<folder>`` uses a book built earlier instead, to iterate on the
    tests quickly; the strict build itself is then not tested.
    """
    prebuilt = os.environ.get("NNFS_BOOK_HTML")
    if prebuilt:
        return Path(prebuilt).resolve()

    # -W -n --keep-going: any warning fails the build. Then --pdf, as the guide has both:
    # the HTML again from its cache (seconds), and the PDF.
    def build():
        html = autograder(book_course, "book")
        pdf = autograder(book_course, "book", "--pdf")
        log = "".join(p.stdout + p.stderr for p in (html, pdf))
        (book_course.root.parent / BOOK_LOG).write_text(log)  # test_book reads it
        return book_course.root / "_build" / "html"

    return built_once(tmp_path_factory, "book_html", build)


@pytest.fixture(scope="session")
def released(course_copy, tmp_path_factory):
    def build():
        autograder(course_copy, "release")
        return course_copy

    return built_once(tmp_path_factory, "released", build)


@pytest.fixture(scope="session")
def student_edition(tmp_path_factory):
    """A course copy of its own and the student edition its ``autograder edition`` wrote,
    with the instructor guide's command: ``(course, edition folder)`` (test_edition)."""

    def build():
        folder = tmp_path_factory.mktemp("edition")
        course = Course(folder / "nnfs")
        shutil.copytree(REPO, course.root, ignore=_ignore)
        autograder(course, "edition", "../nnfs-student")
        return course, folder / "nnfs-student"

    return built_once(tmp_path_factory, "student_edition", build)


@pytest.fixture(scope="session")
def graded(released):
    autograder(released, "sample-class")

    # bad input in the batch must not stop it: a notebook that is not JSON, a
    # submission without its notebook, and a correct one full of junk files
    def submitted(student):
        return released.folder("submitted", student, "ch01_feedforward")

    submitted("corrupt-json").mkdir(parents=True)
    (submitted("corrupt-json") / "feedforward.ipynb").write_text('{"cells": [')
    shutil.copytree(submitted("solution"), submitted("missing-notebook"))
    (submitted("missing-notebook") / "feedforward.ipynb").unlink()
    shutil.copytree(submitted("solution"), submitted("junk"))
    for junk, content in (
        (".DS_Store", b"\0\0\0\1Bud1"),
        ("data/big.bin", bytes(range(256)) * 8192),
        ("source_lib/__pycache__/feedforward.cpython-311.pyc", b"not bytecode"),
        ("source_lib/notes.txt", "\u00e9t\u00e9".encode("latin-1")),
    ):
        (submitted("junk") / junk).parent.mkdir(parents=True, exist_ok=True)
        (submitted("junk") / junk).write_bytes(content)
    autograder(released, "grade")
    return released


@pytest.fixture(scope="session")
def exported(graded):
    """The guide's commands after manual grading, as written there: the CSV, the table,
    every chapter's class summary. Their outputs, by command."""
    return {cmd: autograder(graded, cmd).stdout for cmd in ("export", "table", "report")}


@pytest.fixture(scope="session")
def validated(course_copy, tmp_path_factory):
    """The output of ``autograder validate`` (every chapter: minutes), run once a run of the
    suite: ``test_validate`` and the instructor guide's test may be on different workers."""

    def run():
        # the guide's command as written, on fewer ids than its defaults (1,000 / 200 / 100
        # ids take about 10 minutes on 2 cores; these about 1)
        counts = {
            "NNFS_VALIDATE_IDS": "200",
            "NNFS_VALIDATE_KERAS_IDS": "5",
            "NNFS_VALIDATE_MUTANT_IDS": "10",
        }
        with pytest.MonkeyPatch.context() as env:
            for name, value in counts.items():
                env.setenv(name, value)
            return autograder(course_copy, "validate").stdout

    return built_once(tmp_path_factory, "validated", run)


# The grades of the whole sample class, recorded on main before autograder/ was split by
# where code runs (commit 0976faa, `autograder grade` on a fresh release): grading is
# refactored, never changed in what it gives.
RECORDED = json.loads((Path(__file__).with_name("data") / "sample_class_grades.json").read_text())


SMALL_CLASS = ["solution", "blank", "bug-bias-axis", "bug-transposed-dw1", "attack-cell", "alt-formulas"]


def small_course(graded, folder):
    """A new course in ``folder`` with Chapter 1 released and six of the graded sample
    class's submissions (``SMALL_CLASS``), to grade again in other ways."""
    chapter = CHAPTERS[0]
    course = Course(Path(folder) / "nnfs")
    shutil.copytree(REPO, course.root, ignore=_ignore)
    autograder(course, "release", chapter.assignment)
    for student in SMALL_CLASS:
        shutil.copytree(
            graded.folder("submitted", student, chapter.assignment),
            course.folder("submitted", student, chapter.assignment),
        )
    return course


def chapter_one_course(folder, submissions, config="", edit_book=None, more=()):
    """A new course in ``folder`` with Chapter 1 released, ``config`` appended to its nbgrader
    configuration, and ``submissions`` (corpus ``Submission``s) in ``submitted/``.

    ``edit_book(course)`` may change the course's book before the release; ``more``
    holds ``(chapter, submissions)`` of other chapters to release and submit too.
    """
    from autograder.corpus import make_submission

    course = Course(Path(folder) / "nnfs")
    shutil.copytree(REPO, course.root, ignore=_ignore)
    with open(course.nbgrader_root / "nbgrader_config.py", "a") as fh:
        fh.write(config)
    if edit_book:
        edit_book(course)
    batches = [(CHAPTERS[0], submissions), *more]
    autograder(course, "release", *(chapter.assignment for chapter, _ in batches))
    for chapter, subs in batches:
        for sub in subs:
            make_submission(course, chapter, sub, course.folder("submitted", sub.student, chapter.assignment))
    return course


# The attack batch's limits: short, since several attacks wait them out.
SHORT_LIMITS = """
# the attack batch: short limits, since several attacks wait them out
c.Execute.timeout = 5
c.TrustedChecks.wall_seconds = 10
"""
READ_ONLY_QUESTION = "written_1_question"  # a locked markdown cell, for the tamper attacks


def _lock_the_written_question(course):
    """Make Chapter 1's written question a read-only cell (the book has no locked markdown
    cell, and tampering with one must be tested too)."""
    import nbformat

    path = course.book / CHAPTERS[0].notebook
    book = nbformat.read(path, as_version=4)
    question = next(c for c in book.cells if c.source.startswith("## Written question"))
    question.metadata["nbgrader"] = {
        "grade": False,
        "grade_id": READ_ONLY_QUESTION,
        "locked": True,
        "schema_version": 3,
        "solution": False,
    }
    nbformat.write(book, path)


@pytest.fixture(scope="session")
def attacked(tmp_path_factory):
    """Every attack of the corpus graded in one batch with honest students, with the real
    ``autograder grade`` (Chapters 1 and 5, ``SHORT_LIMITS``, 45 s per submission, three
    workers).

    A namespace: ``course``, ``out`` (grade's output), ``rows`` (Chapter 1's grade rows
    by student), ``submitted`` (the submitted files' bytes before grading), ``reached``
    (whether anything reached the loopback port ``PORT``), ``temporary`` (the folder the grader's
    temporary files went to), ``canary`` (a value only the grader's environment held),
    ``seconds`` (the batch's wall time).
    """
    import socket

    from autograder.corpus.attack_batch import BATCH, LENT_BATCH, LENT_CHAPTER
    from autograder.corpus.attacks import PORT
    from autograder.corpus.attacks_intake import CANARY
    from autograder.grading import table

    course = chapter_one_course(
        tmp_path_factory.mktemp("attacks"),
        BATCH,
        SHORT_LIMITS,
        edit_book=_lock_the_written_question,
        more=[(LENT_CHAPTER, LENT_BATCH)],
    )
    submitted = _digest(course.folder("submitted"))
    # the grader's temporary files in a folder of the batch's own: other workers grade too
    temporary = tmp_path_factory.mktemp("attack-temporary")
    canary = f"canary-{os.getpid()}-{time.time_ns()}"
    os.environ[CANARY] = canary  # in the grader's /proc/self/environ
    saved_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(temporary)
    try:
        with socket.socket() as listener:  # what the network attack tries to reach
            listener.bind(("127.0.0.1", PORT))
            listener.listen()
            listener.setblocking(False)
            started = time.monotonic()
            # three workers on two cores: a dozen attacks wait out their limits, asleep
            out = autograder(
                course,
                "grade",
                CHAPTERS[0].assignment,
                LENT_CHAPTER.assignment,
                "--timeout",
                "45",
                "--workers",
                "3",
            ).stdout
            seconds = time.monotonic() - started
            left = _left_behind(temporary)
            try:
                listener.accept()
                reached = True
            except BlockingIOError:
                reached = False
    finally:
        del os.environ[CANARY]
        if saved_tmp is None:
            os.environ.pop("TMPDIR")
        else:
            os.environ["TMPDIR"] = saved_tmp
    rows = {r.student: r for r in table(course, [CHAPTERS[0]])}
    return SimpleNamespace(
        course=course,
        out=out,
        rows=rows,
        submitted=submitted,
        reached=reached,
        temporary=temporary,
        left=left,
        canary=canary,
        seconds=seconds,
    )


# what a batch's processes make in the temporary directory (scratch's folders, and those
# the kernel launcher, the jail and the kernel manager make)
TEMPORARY = (scratch.JOB, scratch.WORKER, "nnfs-kernel-", "nnfs-root-", "nnfs-ipc-")


def _digest(folder):
    """Relative path -> bytes of every file below ``folder`` (links not followed)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


def _parent(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def _other_workers():
    """The other xdist workers of this run (their sandboxes are theirs, not the batch's)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return set()
    me, controller = os.getpid(), os.getppid()
    return {int(p) for p in os.listdir("/proc") if p.isdigit() and _parent(p) == controller} - {me}


def _descends_from(pid, ancestors):
    while pid not in (None, 0, 1):
        if pid in ancestors:
            return True
        pid = _parent(pid)
    return False


def _left_behind(temporary, wait=10.0):
    """What a batch left: processes of sandbox users (any on the machine but those of the
    other xdist workers' tests) and folders in its ``temporary`` folder; given ``wait``
    seconds to go."""
    from autograder.sandbox.jail import SLOT_UID, SLOTS

    deadline = time.monotonic() + wait
    while True:
        ps = subprocess.run(["ps", "-eo", "uid=,pid=,args="], capture_output=True, text=True).stdout
        others = _other_workers()
        procs = [
            line
            for line in ps.splitlines()
            if SLOT_UID <= int(line.split()[0]) < SLOT_UID + SLOTS
            and not _descends_from(int(line.split()[1]), others)
        ]
        files = sorted(p for p in os.listdir(temporary) if p.startswith(TEMPORARY))
        if not (procs or files) or time.monotonic() > deadline:
            return SimpleNamespace(processes=procs, temporary=files)
        time.sleep(0.5)


# The only arguments the tests add to the guide's `dask scheduler`: listen on
# loopback rather than every interface, on a free port rather than 8786, without
# the dashboard's port 8787. test_instructor_guide allows exactly these.
DASK_SCHEDULER_LOOPBACK = ("--host", "127.0.0.1", "--port", "0", "--no-dashboard")


@contextlib.contextmanager
def dask_cluster(folder):
    """A real Dask cluster on loopback, started with the instructor guide's commands:
    ``dask scheduler`` and ``dask worker <address> --nworkers -1 --nthreads 1`` (a
    single-threaded worker per core: two on a 2-core machine). Yields its address."""
    from dask.system import CPU_COUNT
    from distributed import Client

    dask = str(Path(sys.executable).with_name("dask"))
    scheduler = ("scheduler", *DASK_SCHEDULER_LOOPBACK)
    procs = []
    paths = {name: Path(folder) / f"dask-{name}.log" for name in ("scheduler", "worker")}
    logs = {name: path.open("w") for name, path in paths.items()}
    try:
        procs.append(
            subprocess.Popen(
                [dask, *scheduler], stdout=logs["scheduler"], stderr=subprocess.STDOUT, cwd=folder
            )
        )
        address, deadline = None, time.monotonic() + 60
        while address is None:  # the port is the scheduler's choice: read it from its log
            for line in paths["scheduler"].read_text().splitlines():
                if "Scheduler at:" in line:
                    address = line.split("Scheduler at:")[1].strip()
            if address is None:
                assert procs[0].poll() is None and time.monotonic() < deadline, (
                    "dask scheduler did not start:\n" + paths["scheduler"].read_text()
                )
                time.sleep(0.2)
        worker = ("worker", address, "--nworkers", "-1", "--nthreads", "1")
        procs.append(
            subprocess.Popen([dask, *worker], stdout=logs["worker"], stderr=subprocess.STDOUT, cwd=folder)
        )
        with Client(address, timeout=60) as client:
            client.wait_for_workers(CPU_COUNT, timeout=120)
        # daemons have no exit status: recorded as run once the cluster is up
        RAN.extend(((("dask", *scheduler), 0), (("dask", *worker), 0)))
        yield address
    finally:
        for proc in reversed(procs):  # the workers first; `dask worker` ends its nannies
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for log in logs.values():
            log.close()


@pytest.fixture(scope="session")
def dask_graded(graded, tmp_path_factory):
    """``SMALL_CLASS`` graded on a Dask cluster with the guide's commands, the cluster
    stopped again: ``course``, ``address`` (the cluster's) and ``out`` (grade's output)."""
    folder = tmp_path_factory.mktemp("dask")
    course = small_course(graded, folder)
    with dask_cluster(folder) as address:
        out = autograder(course, "grade", "--scheduler", address).stdout
    return SimpleNamespace(course=course, address=address, out=out)


# From the LMS and back: nbgrader's exchange and the LMS commands (tests/lms_fixtures.py);
# imported last, as they use the helpers above.
from lms_fixtures import exchange_round_trip, lms_class  # noqa: E402,F401
