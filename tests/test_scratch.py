"""Scratch folders (``grading/scratch.py``): what a killed process left is swept by the
next batch; a living owner's folder, a link, another user's and another name are not."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.grading import scratch
from conftest import REPO

# A process that makes a job's scratch folder in the given parent, says where, and waits.
HOLDER = """
import sys, time
from autograder.grading import scratch
with scratch.folder(scratch.JOB, sys.argv[1]) as path:
    print(path, flush=True)
    time.sleep(600)
"""


def holder(parent):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(parent)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    path = proc.stdout.readline().strip()
    assert os.path.dirname(path) == str(parent), path
    open(os.path.join(path, "left.txt"), "w").close()  # what a job leaves there
    os.makedirs(os.path.join(path, "work", "inner"))
    os.chmod(os.path.join(path, "work"), 0o500)  # as a student may leave a folder
    return proc, path


def test_a_killed_owners_folder_is_swept_and_a_living_ones_is_not(tmp_path):
    killed, left = holder(tmp_path)
    alive, kept = holder(tmp_path)
    target = tmp_path / "not-ours"  # with an owner file nobody holds, and a folder in it
    (target / "inner").mkdir(parents=True, mode=0o755)
    (target / scratch.OWNER).touch()
    (tmp_path / f"{scratch.JOB}link").symlink_to(target)  # a link: never followed
    (tmp_path / f"{scratch.WORKER}made-elsewhere").mkdir()  # no owner file: not made here
    (tmp_path / "nnfs-other").mkdir()  # another name
    try:
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert os.path.isdir(left)  # SIGKILL: its owner could not remove it
        assert scratch.sweep(str(tmp_path)) == [left]
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [os.path.basename(kept), f"{scratch.JOB}link", f"{scratch.WORKER}made-elsewhere"]
            + ["not-ours", "nnfs-other"]
        )
        assert (target / "inner").stat().st_mode & 0o777 == 0o755  # untouched
    finally:
        alive.kill()
        alive.wait()
    assert scratch.sweep(str(tmp_path)) == [kept]  # its owner is gone now


def test_a_folder_is_removed_when_done_and_another_users_is_never_swept(tmp_path):
    with scratch.folder(scratch.WORKER, str(tmp_path)) as path:
        assert os.path.isfile(os.path.join(path, scratch.OWNER))
        assert scratch.sweep(str(tmp_path)) == []  # ours, and held
    assert list(tmp_path.iterdir()) == []
    made = scratch.make(scratch.JOB, str(tmp_path))
    os.close(made.fd)  # as if its owner had died
    if os.getuid() == 0:  # a folder of another user: left alone
        os.chown(made.path, 12345, -1)
        assert scratch.sweep(str(tmp_path)) == []
        os.chown(made.path, 0, -1)
    assert scratch.sweep(str(tmp_path)) == [made.path]


# A temporary directory too long for the kernels' sockets (107 bytes a path): every
# kernel would fail to start, every student would score 0 for a kernel that "died".


def _long_folder(tmp_path, length):
    path = tmp_path / ("d" * max(1, length - len(str(tmp_path)) - 1))
    path.mkdir()
    assert len(str(path)) == length
    return path


def _passes(parent):
    try:
        scratch.check_socket_room(str(parent))
    except scratch.TemporaryDirectoryTooLong as exc:
        assert "set TMPDIR" in str(exc)
        return False
    return True


def test_the_socket_room_is_checked_against_the_real_limit():
    """The longest temporary directory the check lets through holds a kernel's sockets
    (a real ZMQ ipc socket binds there); one character more, the check stops the batch,
    and the socket could not bind."""
    import zmq

    from autograder.nbgrader_ext.kernel import IPC_PREFIX

    base = Path(tempfile.mkdtemp(dir="/tmp"))  # short: pytest's own folder is too long here
    fits = max(n for n in range(2, 120) if _passes("/" + "x" * (n - 1)))
    for length, ok in ((fits, True), (fits + 1, False)):
        parent = _long_folder(base, length)
        assert _passes(parent) == ok
        sockets = parent / (scratch.JOB + "x" * 8) / (IPC_PREFIX + "x" * 8)
        sockets.mkdir(parents=True)
        with zmq.Context() as context, context.socket(zmq.REP) as socket:
            if ok:
                socket.bind(f"ipc://{sockets}/kernel-99999")
            else:
                with pytest.raises(zmq.ZMQError):
                    socket.bind(f"ipc://{sockets}/kernel-99999")
        shutil.rmtree(parent)
    base.rmdir()


def test_grade_stops_before_grading_anyone_in_a_too_long_temporary_directory(tmp_path):
    """``autograder grade`` with TMPDIR too long: exit 1, the reason and the remedy, and
    no gradebook written (so no student scored 0 for it)."""
    course = tmp_path / "course"
    (course / "assignments").mkdir(parents=True)
    deep = _long_folder(tmp_path, 110)
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", "--course", str(course)],
        cwd=REPO,
        env=dict(os.environ, TMPDIR=str(deep)),
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    said = " ".join(proc.stdout.split())
    assert "too long for the grading kernels' sockets" in said and "TMPDIR=/tmp" in said, said
    assert not (course / "assignments" / "gradebook.db").exists()


def test_a_dask_job_in_a_too_long_temporary_directory_is_a_grader_error(tmp_path, monkeypatch):
    """On a Dask worker's machine the job answers why, for the grading log, and the
    student's page blames the grader, not the notebook."""
    from autograder.grading import Job
    from autograder.grading.executors import run_kept_job, run_one_job

    monkeypatch.setattr(tempfile, "tempdir", str(_long_folder(tmp_path, max(110, len(str(tmp_path)) + 2))))
    for run in (run_one_job, run_kept_job):
        outcome = run(str(tmp_path), Job("ch01_feedforward", "someone"), 30)
        assert not outcome.ok and outcome.problem["kind"] == "grader-error", outcome
        assert "TMPDIR" in outcome.problem["detail"]
