"""Nothing a student writes survives into another student's job (COURSE_SPEC 6).

The two attacks of ``autograder/corpus/attacks_leftover.py`` are graded one after
the other on one worker (``--workers 1``, sorted order): the first leaves markers
wherever it can write in the sandbox (files, SysV IPC, keyrings, an abstract
socket, processes that try to outlive the kernel), the second looks for them
wherever it can read. The grader's temporary files go to a folder of this test.
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from test_attacks import autograded_outputs

from autograder.corpus.attacks_leftover import LEFTOVER_ATTACKS, MARK
from autograder.course import CHAPTERS
from autograder.nbgrader_ext.kernel import GradingKernelManager
from autograder.sandbox import jail
from autograder.sandbox.jail import SLOT_UID, SLOTS
from conftest import autograder, chapter_one_course

CHAPTER = CHAPTERS[0]
WRITER, READER = (sub.student for sub in LEFTOVER_ATTACKS)
LIMITS = """
# test_isolation: the attacks walk the whole file system, in a cell and at import
c.Execute.timeout = 90
c.TrustedChecks.wall_seconds = 60
"""


def markers(*roots):
    """Paths under ``roots`` (links not followed) whose name is a marker."""
    return [
        os.path.join(folder, name)
        for root in roots
        for folder, dirs, files in os.walk(root)
        for name in dirs + files
        if name.startswith(MARK)
    ]


def batch_processes(tmp):
    """Processes left by the batch: a marker in their command line, or a sandbox user's
    process that runs from the batch's temporary folder (kernels, probes, their children)."""
    left = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read().decode(errors="replace")
            uid = os.stat(f"/proc/{pid}").st_uid
        except OSError:  # ended meanwhile
            continue
        if MARK in cmdline or (SLOT_UID <= uid < SLOT_UID + SLOTS and tmp in cmdline):
            left.append((pid, uid, cmdline.replace("\0", " ")[:200]))
    return left


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    course = chapter_one_course(tmp_path_factory.mktemp("isolation"), LEFTOVER_ATTACKS, LIMITS)
    tmp = tempfile.mkdtemp(prefix="nnfs-iso-")  # short: socket paths have at most 107 bytes
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("TMPDIR", tmp)
            autograder(course, "grade", CHAPTER.assignment, "--workers", "1", "--timeout", "300")
        yield dict(
            course=course,
            tmp=tmp,
            left_in_tmp=os.listdir(tmp),
            processes=batch_processes(tmp),
            writer=autograded_outputs(course, WRITER),
            reader=autograded_outputs(course, READER),
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_the_writer_left_markers_where_it_could(batch):
    wrote = [line.split(" ", 1)[1] for line in batch["writer"].splitlines() if line.startswith("WROTE ")]
    folder = str(batch["course"].folder("autograded", WRITER, CHAPTER.assignment))
    for place in ("/tmp/", "/dev/shm/", folder + "/"):
        assert any(w.startswith(place + MARK) for w in wrote), (place, wrote)
    in_sockets = re.compile(r"/nnfs-ipc-[^/]+/" + MARK)  # its kernel's socket folder
    assert any(in_sockets.search(w) and w.endswith("-link") for w in wrote), wrote  # a folder too
    assert "SysV shared memory 0x6e6e6673" in wrote
    assert "processes that try to outlive the kernel" in wrote


def test_the_next_student_finds_nothing(batch):
    lines = batch["reader"].splitlines()
    searched = [int(line.split()[1]) for line in lines if line.startswith("SEARCHED ")]
    assert searched and searched[0] > 1000, lines  # it did walk the sandbox's file system
    assert [line for line in lines if line.startswith("FOUND")] == []


def test_nothing_is_left_on_the_machine(batch):
    assert batch["left_in_tmp"] == []  # every job's and worker's temporary folder is gone
    assert batch["processes"] == []
    assert markers(tempfile.gettempdir(), "/dev/shm", "/var/tmp", str(batch["course"].root)) == []
    # the writer's links led to its folder here: removing them did not follow them
    writer, reader = (batch["course"].folder("autograded", s) for s in (WRITER, READER))
    assert (writer / CHAPTER.assignment / CHAPTER.notebook).is_file()
    assert writer.stat().st_mode == reader.stat().st_mode


# A grader killed at a time limit while a sandbox is starting must leave nothing
# running: the jail checks that its parent is the process the caller says it is.
JAIL = Path(jail.__file__)
LAUNCHER = JAIL.parent / "kernel_launcher.py"


def gone_pid():
    """The id of a process that has ended (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def jailed_touch(tmp_path, parent):
    marker = tmp_path / "ran"
    spec = {
        "cwd": str(tmp_path),
        "env": {"PATH": "/usr/bin:/bin"},
        "limits": {},
        "binds": [[str(tmp_path), str(tmp_path), True]],
        "own": [str(tmp_path)],
        "parent": parent,
    }
    proc = subprocess.run(
        [sys.executable, "-I", str(JAIL), json.dumps(spec), "--", "/bin/sh", "-c", f"touch {marker}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return proc, marker.exists()


def test_a_jail_runs_its_command_while_its_grader_lives(tmp_path):
    proc, ran = jailed_touch(tmp_path, os.getpid())
    assert proc.returncode == 0 and ran, proc.stderr


def test_a_jail_whose_grader_is_gone_runs_nothing(tmp_path):
    proc, ran = jailed_touch(tmp_path, gone_pid())
    assert proc.returncode != 0 and not ran
    assert "is gone; nothing runs" in proc.stderr


def test_a_kernel_whose_grader_is_gone_never_starts(tmp_path):
    """The kernel launcher, started for a kernel manager that has died meanwhile."""
    sockets, work = tmp_path / "ipc", tmp_path / "work"
    sockets.mkdir(), work.mkdir()
    connection = tmp_path / "kernel.json"
    connection.write_text(json.dumps({"transport": "ipc", "ip": str(sockets / "kernel")}))
    proc = subprocess.run(
        [sys.executable, str(LAUNCHER), "-f", str(connection)],
        cwd=work,
        env=dict(os.environ, NNFS_JAIL_PARENT=str(gone_pid())),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0 and "is gone; nothing runs" in proc.stderr
    assert "ipykernel" not in proc.stderr


def test_a_killed_session_leaves_no_pipe_open():
    """``kill_session`` (a grading worker past its limit, a probe done) reaps the process and
    closes the pipes to it, input it never read included: none is left for the collector."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    proc.stdin.write("a job it never reads\n")  # buffered: closing must not raise
    jail.kill_session(proc)
    assert proc.returncode is not None and proc.stdin.closed and proc.stdout.closed


def test_the_kernel_manager_states_its_process_to_the_launcher():
    async def launch_env():
        manager = GradingKernelManager(kernel_name="python3", transport="ipc")
        try:
            _, kw = await manager._async_pre_start_kernel()
        finally:
            await manager._async_cleanup_resources()
        return kw["env"]

    assert asyncio.run(launch_env())["NNFS_JAIL_PARENT"] == str(os.getpid())


def test_a_grading_worker_whose_grader_is_gone_exits(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "autograder.nbgrader_ext.autograde_one", "--serve"],
        cwd=tmp_path,
        env=dict(os.environ, NNFS_GRADER_PID=str(gone_pid())),
        input="",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1 and "is gone" in proc.stderr
