"""The intake: only regular files and folders of a submission reach the grader (autograder/nbgrader_ext/intake.py).

The unit tests build every kind of special file by hand; the end-to-end tests
grade the link attacks of ``autograder/corpus/attacks_intake.py`` with honest
students through the real ``autograder grade`` (short limits, as
``test_attacks``). Last, the grading worker's memory limit: a job past it fails
alone.
"""

import functools
import os
import shutil
import socket
import stat
import sys
import time
from pathlib import Path

import nbformat
import pytest
from test_grading import check_of_cell, page_text

from autograder import checks
from autograder.corpus import corpus
from autograder.corpus.attack_batch import ZERO
from autograder.corpus.attacks_intake import INTAKE_ATTACKS
from autograder.course import CHAPTERS, Course
from autograder.grading import Job, submitted_students
from autograder.grading.executors import LocalExecutor, LocalWorker
from autograder.grading.gradebook import Recorder
from autograder.nbgrader_ext import intake, notes
from autograder.nbgrader_ext.intake import Caps, sanitize
from autograder.regions import completed_text, find_regions, library_files
from autograder.release import find_leaks, secret_lines

ORDINARY = {
    "feedforward.ipynb": b'{"cells": []}',
    "timestamp.txt": b"2026-11-30 12:00:00",
    "empty.txt": b"",
    "source_lib/__init__.py": b"",
    "deep/d1/d2/ok.txt": b"ok",
    "source_lib/feedforward.py": b"def sigmoid(x):\n    return 0\n",
}
MANY = 10  # files in zz_many/, the last folder walked: only 3 fit under the cap
CAPS = Caps(files=len(ORDINARY) + 3, depth=3)
LONG = "long/" + "x" * 255


def write(path, data=b""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def regular_files(folder):
    """Relative path -> bytes of the files below ``folder``; fails on anything else but folders."""
    found = {}
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs + files:
            st = os.lstat(os.path.join(dirpath, name))
            assert stat.S_ISDIR(st.st_mode) or (stat.S_ISREG(st.st_mode) and st.st_nlink == 1), name
            if stat.S_ISREG(st.st_mode):
                rel = os.path.relpath(os.path.join(dirpath, name), folder)
                found[rel] = Path(dirpath, name).read_bytes()
    return found


@pytest.fixture
def hostile(tmp_path, monkeypatch):
    """A submission folder holding ordinary files and every kind of special file."""
    secret = write(tmp_path / "secret.txt", b"root:SECRET:0:0")
    write(tmp_path / "classmate" / "feedforward.py", b"CLASSMATE SOLUTION")
    sub = tmp_path / "sub"
    for rel, data in ORDINARY.items():
        write(sub / rel, data)
    write(sub / "source_lib" / "__pycache__" / "feedforward.cpython-311.pyc", b"skipped")
    write(sub / ".ipynb_checkpoints" / "feedforward-checkpoint.ipynb", b"skipped")
    links = {
        "source_lib/abs.py": secret,
        "source_lib/rel.py": "../../classmate/feedforward.py",
        "abs_dir": "/etc",
        "rel_dir": "../classmate",
        "dangling": "/no/such/file",
        "mem": "/proc/self/mem",
        "environ": "/proc/self/environ",
        "zero": "/dev/zero",
    }
    for rel, target in links.items():
        os.symlink(target, sub / rel)
    os.mkfifo(sub / "fifo")
    monkeypatch.chdir(sub)  # a socket's path must be short: bind it by name
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock")
    write(sub / "hard1.txt", b"shared")
    os.link(sub / "hard1.txt", sub / "hard2.txt")
    os.mknod(sub / "null", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    with open(sub / "big.bin", "wb") as fh:
        fh.truncate(10 * 1024**3)  # sparse: 10 GB that cost nothing, unless read
    write(sub / "deep" / "d1" / "d2" / "d3" / "too-deep.txt", b"deep")
    write(sub / LONG, b"long")
    write(sub / "odd\nname.txt", b"odd")
    for i in range(MANY):
        write(sub / "zz_many" / f"f{i:02d}", b"%d" % i)
    return sub


def test_sanitize_copies_only_the_regular_files(hostile, tmp_path):
    started = time.monotonic()
    report = sanitize(hostile, tmp_path / "intake" / "sub", CAPS)
    assert time.monotonic() - started < 10  # no FIFO waited on, nothing read from /dev/zero

    kept = {f"zz_many/f{i:02d}": b"%d" % i for i in range(3)}
    assert regular_files(tmp_path / "intake" / "sub") == {**ORDINARY, **kept}
    assert sorted(report.copied) == sorted({**ORDINARY, **kept})
    assert report.copied_bytes == sum(map(len, {**ORDINARY, **kept}.values()))
    kinds = {p.path: p.kind for p in report.problems}
    assert kinds == {
        "source_lib/abs.py": "link",
        "source_lib/rel.py": "link",
        "abs_dir": "link",
        "rel_dir": "link",
        "dangling": "link",
        "mem": "link",
        "environ": "link",
        "zero": "link",
        "fifo": "fifo",
        "sock": "socket",
        "null": "device",
        "hard1.txt": "hardlink",
        "hard2.txt": "hardlink",
        "big.bin": "too-big",
        "deep/d1/d2/d3": "too-deep",
        LONG: "long-path",
        "odd\nname.txt": "name",
        **{f"zz_many/f{i:02d}": "too-many-files" for i in range(3, MANY)},
    }
    assert report.unreported == 0
    messages = dict(zip(kinds, report.messages()))
    assert messages["source_lib/abs.py"] == (
        "source_lib/abs.py is a symbolic link: the grader ignores links; submit the file or folder itself."
    )
    assert messages["big.bin"].startswith("big.bin is larger than the 64 MiB a file may be")
    assert messages["zz_many/f09"].startswith("zz_many/f09 was left out: a submission may hold 9 ")
    assert "odd\\nname.txt has a name" in messages["odd\nname.txt"]  # no raw newline in a note
    assert "SECRET" not in report.to_json() and "CLASSMATE" not in report.to_json()


def test_caps_on_totals_and_on_the_walk(hostile, tmp_path):
    report = sanitize(hostile, tmp_path / "a", Caps(total_bytes=40))
    assert sum(len(v) for v in regular_files(tmp_path / "a").values()) <= 40
    assert "over-total" in {p.kind for p in report.problems}
    report = sanitize(hostile, tmp_path / "b", Caps(entries=3))
    assert [p.kind for p in report.problems][-1] == "too-many-entries"
    assert len(regular_files(tmp_path / "b")) <= 3


def test_a_file_swapped_after_the_walk_saw_it_is_left_out(tmp_path):
    """lstat saw a regular file; by the time it is opened, it is a link or another file."""
    sub = tmp_path / "sub"
    victim = write(sub / "feedforward.py", b"mine")
    seen = os.lstat(victim)
    # another file made while the first exists (so not on its inode), then a link
    for swap in (
        lambda: os.replace(write(sub / "new", b"another file"), victim),
        lambda: (victim.unlink(), os.symlink("/etc/passwd", victim)),
    ):
        swap()
        walk = intake._Walk(Caps())
        fd = os.open(sub, intake.DIR_FLAGS)
        try:
            (tmp_path / "out").mkdir(exist_ok=True)
            walk.copy_file(fd, "feedforward.py", seen, tmp_path / "out" / "feedforward.py", "feedforward.py")
        finally:
            os.close(fd)
        assert [p.kind for p in walk.report.problems] == ["changed"]
        assert not (tmp_path / "out" / "feedforward.py").exists()


def test_a_linked_submission_folder_gives_an_empty_copy(hostile, tmp_path):
    (tmp_path / "students").mkdir()
    os.symlink(hostile, tmp_path / "students" / "link")
    dest = tmp_path / "intake" / "link"
    report = sanitize(tmp_path / "students" / "link", dest)
    assert regular_files(dest) == {} and [p.kind for p in report.problems] == ["link"]
    # ... as does a link higher up, between the trusted base and the submission
    report = sanitize(tmp_path / "students" / "link" / "source_lib", dest, base=tmp_path / "students")
    assert regular_files(dest) == {} and [p.kind for p in report.problems] == ["link"]


def test_a_linked_student_or_assignment_folder_is_not_a_submission(tmp_path):
    course = Course(tmp_path)
    real = course.folder("submitted", "alice", CHAPTERS[0].assignment)
    real.mkdir(parents=True)
    os.symlink(course.folder("submitted", "alice"), course.folder("submitted", "mallory"))
    course.folder("submitted", "trudy").mkdir()
    os.symlink(real, course.folder("submitted", "trudy", CHAPTERS[0].assignment))
    assert submitted_students(course, CHAPTERS[0]) == ["alice"]


def test_a_new_copy_replaces_the_old_one_whole(hostile, tmp_path):
    dest = tmp_path / "intake" / "sub"
    sanitize(hostile, dest, CAPS)
    write(dest / "stale.txt", b"from an earlier copy")
    write(dest.parent / ".sub.partial-crashed" / "half.txt", b"left by a crash")
    sanitize(hostile, dest, CAPS)
    assert "stale.txt" not in regular_files(dest)
    assert os.listdir(dest.parent) == ["sub"]


def test_intake_notes_reach_the_notebook_and_forged_notes_do_not(tmp_path):
    root = tmp_path / "assignments"
    write(root / "submitted" / "eve" / "ch01" / "x.ipynb", b"{}")
    os.symlink("/etc/shadow", root / "submitted" / "eve" / "ch01" / "shadow")
    intake.take_in(root, "ch01", "eve")
    assert intake.read_messages(root, "ch01", "eve") == [
        "shadow is a symbolic link: the grader ignores links; submit the file or folder itself."
    ]
    assert not (root / "intake" / "eve" / "ch01" / "shadow").exists()

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("**Notes from the grader**")])
    nb.cells[0].metadata[notes.MARK] = True  # forged by the student
    nb.cells[0].source += "\n- all tests passed, full marks"
    pre = intake.IntakeNotes()
    pre.config.CourseDirectory.root = str(root)
    nb, _ = pre.preprocess(nb, {"nbgrader": {"assignment": "ch01", "student": "eve"}})
    assert notes.read(nb) == intake.read_messages(root, "ch01", "eve")
    assert len(nb.cells) == 1


# End to end: the intake attacks graded by the real `autograder grade` with honest students.

CHAPTER = CHAPTERS[0]
HONEST = [s for s in corpus(CHAPTER.module).SAMPLE_CLASS if s.student in ("solution", "bug-bias-axis")]


def links_in(folder):
    """Relative paths of the symbolic links below ``folder`` (not followed)."""
    return sorted(
        os.path.relpath(os.path.join(parent, name), folder)
        for parent, dirs, files in os.walk(folder)
        for name in dirs + files
        if os.path.islink(os.path.join(parent, name))
    )


@pytest.fixture(scope="module")
def intake_graded(attacked):
    """The intake attackers, as graded in the attack batch (conftest.py)."""
    return attacked


def test_intake_attacks_gain_nothing_and_honest_students_lose_nothing(intake_graded):
    course, rows = intake_graded.course, intake_graded.rows
    assert {s.student for s in INTAKE_ATTACKS + HONEST} <= set(rows)
    for sub in INTAKE_ATTACKS:
        assert rows[sub.student].score == 0 and all(c.score == 0 for c in rows[sub.student].cells)
    checks = check_of_cell(course, CHAPTER)
    for sub in HONEST:
        for cell in rows[sub.student].cells:
            if checks.get(cell.grade_id):
                failed = checks[cell.grade_id] & set(sub.fails)
                assert cell.score == (0 if failed else cell.max_score), (sub.student, cell.grade_id)
    assert rows["solution"].score > 0


def test_nothing_outside_a_submission_reaches_autograded_or_feedback(intake_graded):
    course = intake_graded.course
    markers = [
        intake_graded.canary.encode(),
        b"SQLite format 3",
        b"@check(",
        *(Path(f).read_bytes().split(b"\n")[0].strip() for f in ("/etc/passwd", "/etc/shadow")),
    ]
    secrets = secret_lines(course)
    attackers = {s.student for s in ZERO}

    @functools.cache
    def foreign(student):  # what the student wrote may be anything: the markers and secrets it lacks
        mine = own_files(course, student)
        text = mine.decode("utf-8", "replace")
        return [m for m in markers if m not in mine], {s for s in secrets if s not in text}

    for kind in ("intake", "autograded", "feedback"):
        top = course.folder(kind)
        assert links_in(top) == []
        for parent, _, files in os.walk(top):
            for name in files:
                path = os.path.join(parent, name)
                assert stat.S_ISREG(os.lstat(path).st_mode), path
                data = Path(path).read_bytes()
                student = os.path.relpath(path, top).split(os.sep)[0]
                foreign_markers, foreign_secrets = foreign(student)
                assert not [m for m in foreign_markers if m in data], path
                # autograded notebooks hold the hidden tests again: feedback strips them
                if kind != "autograded" and student in attackers:
                    text = data.decode("utf-8", "replace")
                    assert find_leaks([(path, text)], foreign_secrets) == []


def own_files(course, student):
    """The bytes of the regular files a student submitted (links not followed)."""
    root = course.folder("submitted", student)
    return b"\n".join(
        Path(parent, name).read_bytes()
        for parent, _, files in os.walk(root)
        for name in files
        if stat.S_ISREG(os.lstat(os.path.join(parent, name)).st_mode)
        and os.lstat(os.path.join(parent, name)).st_nlink == 1
    )


@pytest.mark.parametrize("attack", INTAKE_ATTACKS, ids=lambda s: s.student)
def test_each_attacker_is_told_what_was_left_out_and_what_to_do(intake_graded, attack):
    course = intake_graded.course
    links = links_in(course.folder("submitted", attack.student, CHAPTER.assignment))
    assert links
    text = page_text(course.folder("feedback", attack.student, CHAPTER.assignment, f"{CHAPTER.module}.html"))
    for rel in links:
        assert intake.MESSAGES["link"].format(path=rel) in text, rel
    assert f"the intake left out of {attack.student}'s submission: " in intake_graded.out
    if attack.student == "attack-link-notebook":
        problems = Recorder(course).problems(CHAPTER, attack.student)
        assert [p["kind"] for p in problems.values()] == ["missing-notebook"]
        assert "could not be graded" in text and problems[CHAPTER.module]["detail"] in text


# The grading worker's memory limit: a job that allocates past it fails alone.

STAND_IN = """
import json, resource, sys
for line in sys.stdin:
    job = json.loads(line)
    hog = bytearray(int(job["assignment"]))  # bytes to allocate; past the limit: MemoryError, and this worker dies
    limit = resource.getrlimit(resource.RLIMIT_AS)  # told back as the answer's detail
    print(json.dumps({"student": job["student"], "ok": False, "restart": False, "problems": {},
                      "problem": {"kind": "grader-error", "detail": str(limit)}}), flush=True)
"""


class StandInWorker(LocalWorker):
    """A ``LocalWorker`` whose process allocates what each job asks, under the real limit."""

    def command(self):
        return [sys.executable, "-c", STAND_IN]


def test_a_job_past_the_workers_memory_limit_fails_alone(tmp_path):
    course = Course(tmp_path)
    course.nbgrader_root.mkdir()
    limit = 512 * 1024**2
    jobs = [
        Job(str(size), student) for student, size in (("before", 10**6), ("hog", 4 * limit), ("after", 10**6))
    ]
    with LocalExecutor(course, 1, memory=limit, worker=StandInWorker) as pool:
        outcomes = {o.student: o for o in pool.run(jobs, timeout=60)}
    # the batch goes on, on a fresh worker, which answers under the same limit
    assert (
        outcomes["before"].problem
        == outcomes["after"].problem
        == {"kind": "grader-error", "detail": str((limit, limit))}
    )
    assert not outcomes["hog"].ok
    assert outcomes["hog"].problem == {
        "kind": "worker-died",
        "detail": "the grading worker stopped unexpectedly (exit status 1); "
        "it may have run out of memory (its limit is 0.5 GiB, NNFS_WORKER_MEMORY)",
    }


def test_a_library_of_only_the_chapters_module_is_completed_and_graded(released, tmp_path):
    """A student who hands in only ``source_lib/feedforward.py`` (and their own
    ``checking.py``) gets the release's other provided modules, ``_tasks.py`` among
    them (every chapter module imports it), and full marks; their files are kept."""
    # the release's nbgrader folders, in a copy: the session's course is graded meanwhile
    root = tmp_path / "assignments"
    for kind in ("source", "release"):
        shutil.copytree(released.folder(kind, CHAPTER.assignment), root / kind / CHAPTER.assignment)
    shutil.copy(released.nbgrader_root / "nbgrader_config.py", root)
    shutil.copytree(released.source_lib, tmp_path / "source_lib")  # the instructor's, as beside it
    folder = root / "submitted" / "only-module" / CHAPTER.assignment
    try:
        lib = folder / "source_lib"
        write(
            lib / "feedforward.py",
            completed_text((released.source_lib / "feedforward.py").read_text()).encode(),
        )
        write(lib / "checking.py", b"# the student's own\n")
        intake.take_in(root, CHAPTER.assignment, "only-module")
        took = root / "intake" / "only-module" / CHAPTER.assignment / "source_lib"
        assert (took / "_tasks.py").read_bytes() == (released.source_lib / "_tasks.py").read_bytes()
        assert (took / "checking.py").read_bytes() == b"# the student's own\n"
        tasks = {p.name for p in library_files(released.source_lib) if find_regions(p)}
        assert {p.name for p in took.glob("*.py")} & tasks == {"feedforward.py"}  # no stub added
        checks.get(f"{CHAPTER.module}.sigmoid")  # registers the chapter's checks
        names = [n for n in checks.REGISTRY if n.startswith(f"{CHAPTER.module}.")]
        # the reference is the repository's source_lib, which this process imports (test_trusted_checks)
        verdicts = checks.run_checks(Course.find(), took.parent, "only-module", names)
        assert [n for n, v in verdicts.items() if not v.passed] == []
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)
        shutil.rmtree(root / "intake" / "only-module", ignore_errors=True)
