"""The zygote (autograder/sandbox/zygote.py): a jailed program forked warm behaves as one
started cold by jail.py, in everything it can see, in how it ends and in how it is stopped."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograder.course import Course
from autograder.nbgrader_ext import warm
from autograder.regions import ONLINE_ONLY
from autograder.sandbox import policy, zygote
from autograder.sandbox.jail import SLOT_UID, SLOTS

REPO = Path(__file__).resolve().parents[1]

# What a program can see of how it was started; "warm" is whether numpy was imported before it.
SEES = """
import hashlib, json, os, sys
warm = "numpy" in sys.modules
import numpy
print(json.dumps({
    "warm": warm,
    "path": sys.path, "argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ),
    "uid": os.getuid(), "fds": sorted(os.listdir("/proc/self/fd")), "main": __name__,
    "hash": hash("nnfs"), "modules_dir": os.path.dirname(numpy.__file__),
    "tempdir": __import__("tempfile").gettempdir(),
}))
"""


FIXED_HASH = int(
    subprocess.run(
        [sys.executable, "-c", "print(hash('nnfs'))"],
        env={"PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
)


@pytest.fixture(scope="module")
def keeper(tmp_path_factory):
    keeper = warm.Zygote(tmp_path_factory.mktemp("zygote"), zygote.PROBE_ADDRESS)
    keeper.ready_for(["numpy", "tempfile"])
    yield keeper
    keeper.stop()


def jailed(box: Path, argv: list[str], address: str | None, **popen) -> subprocess.Popen[str]:
    spec = {
        "cwd": str(box),
        "env": dict(policy.student_env(box, os.path.dirname(sys.executable)), PYTHONPATH="/nowhere"),
        "limits": {"CPU": 60, "AS": 4 * 1024**3},
        "binds": [[str(box), str(box), True]],
        "own": [str(box)],
        "cgroup": {"memory": 4 * 1024**3, "pids": 64},
        "parent": os.getpid(),
    }
    return subprocess.Popen(
        zygote.command(spec, argv, address),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def run(box, argv, address):
    proc = jailed(box, argv, address)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out, err


@pytest.fixture
def box(tmp_path):
    (tmp_path / "sees.py").write_text(SEES)
    (tmp_path / "sees_module.py").write_text(SEES)
    return tmp_path


@pytest.mark.parametrize(
    "args", [["-I", "{box}/sees.py", "a", "b"], ["{box}/sees.py"], ["-m", "sees_module", "x"]], ids=str
)
def test_a_warm_program_sees_what_a_cold_one_sees(keeper, box, args):
    argv = [sys.executable, *(a.format(box=box) for a in args)]
    (cold_rc, cold, cold_err), (warm_rc, hot, warm_err) = (
        run(box, argv, None),
        run(box, argv, keeper.address),
    )
    assert cold_rc == warm_rc == 0, (cold_err, warm_err)
    cold, hot = json.loads(cold), json.loads(hot)
    assert (cold.pop("warm"), hot.pop("warm")) == (False, True)
    # the policy's PYTHONHASHSEED=0 holds warm; cold, -I (which implies -E) ignored it
    assert hot["hash"] == FIXED_HASH
    if "-I" in args:
        cold["hash"] = FIXED_HASH
    # each run takes the first free sandbox slot, whose user it is: others may be busy
    assert {hot.pop("uid"), cold.pop("uid")} <= set(range(SLOT_UID, SLOT_UID + SLOTS)) or os.geteuid() != 0
    assert hot == cold


PROGRAMS = {
    "exit 3": ("import sys; sys.exit(3)", 3),
    "exit with a message": ("import sys; sys.exit('bye')", 1),
    "an exception": ("raise ValueError('no')", 1),
    "killed": ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", -signal.SIGKILL),
    "interrupted": ("raise KeyboardInterrupt", -signal.SIGINT),
    "atexit and buffers": ("import atexit, sys; atexit.register(print, 'at exit'); sys.stdout.write('x')", 0),
}


@pytest.mark.parametrize("name", PROGRAMS)
def test_a_warm_program_ends_as_a_cold_one(keeper, box, name):
    source, expected = PROGRAMS[name]
    (box / "prog.py").write_text(source)
    argv = [sys.executable, "-I", str(box / "prog.py")]
    cold, hot = run(box, argv, None), run(box, argv, keeper.address)
    assert cold[0] == hot[0] == expected
    assert hot[1] == cold[1]
    assert hot[2].splitlines()[-1:] == cold[2].splitlines()[-1:]  # the traceback's last line


def beats(path: Path, seconds: float = 1.0) -> bool:
    """Whether the heartbeat in ``path`` still changes."""
    before = path.read_text()
    time.sleep(seconds)
    return path.read_text() != before


def test_the_jail_dies_with_its_client(keeper, box):
    """The kernel manager kills the launcher, or the grader the probes' client: the
    program the zygote's child started for it must die too."""
    (box / "beats.py").write_text(
        "import itertools, time\n"
        "for n in itertools.count():\n"
        "    open('heart', 'w').write(str(n))\n"
        "    print('up', flush=True) if n == 0 else None\n"
        "    time.sleep(0.05)\n"
    )
    proc = jailed(box, [sys.executable, "-I", str(box / "beats.py")], keeper.address, start_new_session=True)
    assert proc.stdout.readline().strip() == "up"
    assert beats(box / "heart")
    proc.kill()
    proc.wait()
    proc.stdout.close(), proc.stderr.close()
    deadline = time.monotonic() + 10
    while beats(box / "heart", 0.5) and time.monotonic() < deadline:
        pass
    assert not beats(box / "heart")


def test_an_interrupt_before_the_program_is_known_reaches_it(tmp_path):
    """The client is interrupted after it asked and before the zygote told it the child's
    process id (a kernel can print before then): the signal waits, and is passed on.

    The zygote's side is played by this test, so that the interrupt lands in that window.
    """
    import socket

    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind(str(tmp_path / "zygote.sock"))
    server.listen()
    program = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, sys, time\n"
            "signal.signal(signal.SIGINT, lambda *_: sys.exit(7))\nprint('up', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert program.stdout.readline().strip() == "up"
    sandbox = REPO / "autograder" / "sandbox"
    client = subprocess.Popen(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(sandbox)!r}); import zygote; "
            f"sys.exit(zygote.request({str(tmp_path / 'zygote.sock')!r}, {{}}, ['x']) >> 8)",
        ],
    )
    conn, _ = server.accept()
    _, fds, _, _ = socket.recv_fds(conn, zygote.MAX_MESSAGE, 3)
    for fd in fds:
        os.close(fd)
    client.send_signal(signal.SIGINT)
    time.sleep(0.5)  # the client has handled it by now
    conn.send(json.dumps({"pid": program.pid}).encode())
    try:
        assert program.wait(timeout=10) == 7
    finally:
        program.kill()
        conn.send(json.dumps({"status": 0}).encode())
        client.wait(timeout=10)
        conn.close(), server.close(), program.stdout.close()
    assert client.returncode == 0


def test_an_interrupt_reaches_the_program(keeper, box):
    """Jupyter interrupts a kernel with SIGINT to the launcher, the zygote's client."""
    (box / "waits.py").write_text(
        # 'up' inside the try: an interrupt right after it is caught there too
        "import sys, time\n"
        "try:\n    print('up', flush=True)\n    time.sleep(120)\nexcept KeyboardInterrupt:\n    sys.exit(7)\n"
    )
    proc = jailed(box, [sys.executable, "-I", str(box / "waits.py")], keeper.address)
    assert proc.stdout.readline().strip() == "up"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 7
    proc.stdout.close(), proc.stderr.close()


def test_only_the_pythons_own_modules_are_preloaded():
    assert zygote.preloadable("numpy") and zygote.preloadable("json")
    assert not zygote.preloadable("source_lib")  # a student's code: never imported as root
    assert not zygote.preloadable("autograder")
    assert not zygote.preloadable("no_such_module_anywhere")


def test_a_chapter_preloads_what_its_code_imports():
    course = Course(REPO)
    ch1 = warm.preload(course, "feedforward")
    assert {"numpy", "matplotlib.pyplot", "ipykernel.kernelapp"} <= set(ch1)
    assert not [n for n in ch1 if n.startswith(("source_lib", "autograder", "keras", "tensorflow"))]
    assert "keras" in warm.preload(course, "normalization")  # Chapter 4's Keras layers
    # chapters that never use TensorFlow reach it only lazily (seeding, the data loaders)
    for chapter in ("convolution", "pooling", "autoencoder"):
        assert not [n for n in warm.preload(course, chapter) if n.split(".")[0] in ("tensorflow", "keras")]
    assert "keras" in warm.preload(course, "lenet", zygote.PROBE_ADDRESS)  # build_lenet5 imports it


def test_imports_that_load_nothing_while_graded_are_not_preloaded():
    source = f"""
import sys
import numpy
def seed():
    if "tensorflow" in sys.modules:  # loaded already, or not at all
        import tensorflow as tf
        tf.random.set_seed(0)
    if "tensorflow.keras" in sys.modules:
        import keras  # another package: that one it loads
def load():
    import mlxtend.data  {ONLINE_ONLY}
    if "scipy" not in sys.modules:
        import scipy
    if "scipy" in sys.modules:
        pass
    else:
        from scipy import optimize
"""
    assert warm.imported(source) == {"sys", "numpy", "keras", "scipy"}


def test_a_probe_finds_only_what_its_module_imports():
    """A probe is forked from a zygote of its own: the student's code finds no kernel
    module imported (an attack of the corpus sleeps only where ipykernel is absent)."""
    course = Course(REPO)
    assert warm.preload(course, "feedforward", zygote.PROBE_ADDRESS) == ["numpy"]
    for chapter in ("normalization", "lenet", "autoencoder"):
        probe = warm.preload(course, chapter, zygote.PROBE_ADDRESS)
        assert not [n for n in probe if n.split(".")[0] in ("ipykernel", "IPython", "matplotlib")], probe
