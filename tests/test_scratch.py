"""Scratch folders (``grading/scratch.py``): what a killed process left is swept by the
next batch; a living owner's folder, a link, another user's and another name are not."""

import os
import signal
import subprocess
import sys

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
