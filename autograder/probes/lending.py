"""The course's functions lent to a student's code, without their source entering the sandbox.

Some checks run the student's code on the instructor's version of a function
it calls (Chapter 1's backpropagation on the course's forward pass; Chapter
5's training on the course's cost; Chapter 6's network on the course's
layers), so that a bug is not paid for twice. The student's
process then gets stand-in modules (``stand_in_module``): each function sends
its arguments, as plain values (``wire.py``), over a Unix socket to a
reference server in a trusted process outside the sandbox, which runs the
course's function and sends back its result. No source or bytecode of the
course is in the sandbox to read. A dict argument whose entries the course's
function sets (batchnorm's running statistics in ``bn_param``) is updated in
the caller too; other in-place changes to arguments are not sent back.

The server (``python -m autograder.probes.lending``) is started by ``Lender`` with
the listening socket already bound, limits its own memory and CPU time, and
serves one call per connection until it is killed. A grading worker starts it
warm: its lending zygote (``LendingZygote``, ``python -m autograder.probes.lending
--zygote``), a trusted process with the server's environment that imports numpy
once and forks a server for each ``Lender`` (numpy's import was most of a new
server's 0.2 s of CPU). The zygote runs no course code and reads no request: the
forked child does, and it serves one submission, then is killed.

A submission's checks run in one process, so what is lent changes from probe
to probe: the functions of the module under test that the running probe
lends (``Lender.allow``, sent down a pipe the server reads before it answers
a call), never the function a probe is checking. ``sandbox.run_probes`` runs
a function's own check before any check that lends it, and takes each
probe's results before it hands the next probe its inputs, so nothing the
course lends later can change a result already taken.
"""

import ast
import gc
import importlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NoReturn

from ..sandbox import policy, wire
from ..sandbox.jail import kill_session
from ..sandbox.zygote import die_with, fork_each, launch

SERVER_MEMORY = 4 * 1024**3  # address space of the reference server
# A grading worker's lending zygote: its socket's address (``LendingZygote``).
ZYGOTE_ADDRESS = "NNFS_LENDING_ZYGOTE"
ZYGOTE_PRELOAD = ("numpy",)  # what the course's modules import, whatever the chapter


def server_env() -> dict[str, str]:
    """The reference server's whole environment: a path, a language and one thread."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", *policy.PASSED_ON)}
    return {**env, **policy.ONE_THREAD}


def public_functions(path: str | Path) -> list[str]:
    """Names of the top-level public functions of the Python file ``path``."""
    tree = ast.parse(Path(path).read_text())
    return [
        node.name for node in tree.body if isinstance(node, ast.FunctionDef) and not node.name.startswith("_")
    ]


def stand_in_module(module: str, names: Iterable[str], address: str) -> str:
    """Source of a module whose ``names`` call the course's ``module`` at ``address``."""
    lines = [
        f'"""Stand-ins: the course\'s {module} functions run in the grader, not here."""',
        "from ._nnfs_wire import stand_in as _stand_in",
        "",
    ]
    lines += [f"{name} = _stand_in({address!r}, {module!r}, {name!r})" for name in names]
    return "\n".join(lines) + "\n"


class Lender:
    """A reference server lending ``functions`` ({module: [name]}) of the course ``library``.

    Use as a context manager around the sandboxed run; ``address`` is the
    socket path the stand-ins connect to (inside a folder the sandbox sees).
    The functions of ``module`` (the module under test) are lent only while
    ``allow`` names them; those of other modules (earlier chapters') always.
    """

    def __init__(
        self,
        library: str | Path,
        functions: dict[str, list[str]],
        address: str | Path,
        cpu_seconds: int,
        module: str | None = None,
    ):
        self.library, self.functions = Path(library), functions
        self.address, self.cpu_seconds = str(address), int(cpu_seconds)
        self.module = module

    def __enter__(self):
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.address)
        os.chmod(self.address, 0o666)  # the sandbox user connects
        listener.listen(16)
        control, self.control = os.pipe()
        spec = {
            "library": str(self.library),
            "functions": self.functions,
            "cpu": self.cpu_seconds,
            "fd": listener.fileno(),
            "module": self.module,
            "control": control,
        }
        self.proc, self.pid = None, None
        warm = os.environ.get(ZYGOTE_ADDRESS)
        if warm:
            try:
                self.pid = _forked_server(warm, spec, [listener.fileno(), control])
            except (OSError, ValueError):  # the zygote is gone: a new interpreter, as without one
                pass
        if self.pid is None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "autograder.probes.lending", json.dumps(spec)],
                pass_fds=[listener.fileno(), control],
                env=server_env(),
                cwd=self.library.parent,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        listener.close()  # the server has its copies
        os.close(control)
        return self

    def allow(self, names: Iterable[str]) -> None:
        """Lend exactly ``names`` of the module under test from now on.

        The change is in the pipe before this returns: a call the server
        answers after that is judged by it.
        """
        os.write(self.control, (json.dumps(sorted(names)) + "\n").encode())

    def __exit__(self, *exc):
        os.close(self.control)
        if self.proc is not None:
            kill_session(self.proc)
            return
        try:  # a session of its own, whose zygote reaps it
            os.killpg(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _drain(control, allowed):
    """The newest set of allowed names written down the control pipe (non-blocking)."""
    data = b""
    while True:
        try:
            chunk = os.read(control, 65536)
        except BlockingIOError:
            break
        if not chunk:
            break
        data += chunk
    lines = data.decode().split("\n")
    complete = [line for line in lines[:-1] if line]
    return set(json.loads(complete[-1])) if complete else allowed


def _answer(conn, functions, lent):
    try:
        request = wire.receive(conn)
        module, name = request["module"], request["function"]
        if name not in functions.get(module, ()) or not lent(module, name):
            raise LookupError(f"{module}.{name} is not lent to this check")
        func = getattr(importlib.import_module(f"source_lib.{module}"), name)
        args, kwargs = request["args"], request["kwargs"]
        dicts = {str(i): a for i, a in enumerate(args) if isinstance(a, dict)}
        dicts.update((k, a) for k, a in kwargs.items() if isinstance(a, dict))
        before = {k: dict(d) for k, d in dicts.items()}
        value = func(*args, **kwargs)
        # dicts it wrote into (bn_param's running statistics) go back to the caller
        changed = {
            k: d
            for k, d in dicts.items()
            if d.keys() != before[k].keys() or any(d[e] is not before[k][e] for e in d)
        }
        reply = {"value": value, "changed": changed}
    except Exception as exc:  # the student's arguments made the course's function fail
        reply = {"error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    try:
        wire.send(conn, reply)
    except wire.WireError as exc:  # a result the wire cannot carry
        wire.send(conn, {"error": f"WireError: {exc}"})


def serve(spec: dict[str, Any]) -> NoReturn:
    """The reference server's loop (never returns)."""
    resource.setrlimit(resource.RLIMIT_AS, (SERVER_MEMORY, SERVER_MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (spec["cpu"], spec["cpu"] + 1))
    sys.path.insert(0, str(Path(spec["library"]).parent))  # the course's source_lib package
    listener = socket.socket(fileno=spec["fd"])
    control, allowed = spec["control"], set()
    os.set_blocking(control, False)

    def lent(module, name):
        nonlocal allowed
        # read what the grader allows now, after the request arrived
        allowed = _drain(control, allowed)
        return module != spec["module"] or name in allowed

    while True:
        conn, _ = listener.accept()
        with conn:
            try:
                _answer(conn, spec["functions"], lent)
            except (OSError, wire.WireError):  # the caller went away
                pass


# --- the lending zygote


class LendingZygote:
    """A grading worker's lending zygote: started once, again if it died; its address in
    ``os.environ[ZYGOTE_ADDRESS]``, where this worker's ``Lender``s find it."""

    def __init__(self, parent: str | os.PathLike[str]):
        self.parent = parent  # where its folder goes: the worker's, not a job's
        self.proc: subprocess.Popen[str] | None = None
        self.folder: str | None = None

    def ready(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        self.stop()
        self.folder = tempfile.mkdtemp(prefix="nnfs-zygote-", dir=self.parent)  # 0700: root's alone
        address = os.path.join(self.folder, "lending.sock")
        argv = [sys.executable, "-m", "autograder.probes.lending", "--zygote", address, str(os.getpid())]
        self.proc = launch(argv, self.folder, server_env())
        os.environ[ZYGOTE_ADDRESS] = address

    def stop(self) -> None:
        os.environ.pop(ZYGOTE_ADDRESS, None)
        if self.proc is not None:
            kill_session(self.proc)  # and the servers it forked that are still running
            self.proc = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def _forked_server(address: str, spec: dict[str, Any], fds: list[int]) -> int:
    """A reference server forked by the zygote at ``address`` for ``spec``, the listening
    socket and the control pipe handed over with it; its process id."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.settimeout(10)
        conn.connect(address)
        socket.send_fds(conn, [json.dumps(spec).encode()], fds)
        return int(json.loads(conn.recv(4096))["pid"])


def zygote(address: str, parent: int) -> NoReturn:
    """The lending zygote's loop: import ``ZYGOTE_PRELOAD``, then fork a server per request."""
    die_with(parent)
    for name in ZYGOTE_PRELOAD:
        importlib.import_module(name)
    gc.freeze()  # the children share the imported pages
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(address)
    listener.listen(16)
    fork_each(listener, _server_child)


def _server_child(conn: socket.socket) -> NoReturn:
    """One request: become the reference server it describes (never returns)."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()  # as a new server's ``start_new_session``: ``Lender`` kills the session
        die_with(os.getppid())
        message, fds, _, _ = socket.recv_fds(conn, 1 << 16, 2)
        if len(fds) != 2:
            raise ValueError("a request comes with its listening socket and control pipe")
        spec = dict(json.loads(message), fd=fds[0], control=fds[1])
        os.chdir(Path(spec["library"]).parent)
        conn.send(json.dumps({"pid": os.getpid()}).encode())
        conn.close()
        serve(spec)
    except BaseException:  # the Lender's call fails, and it says so
        os._exit(125)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--zygote"]:
        zygote(sys.argv[2], int(sys.argv[3]))
    serve(json.loads(sys.argv[1]))
