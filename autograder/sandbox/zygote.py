"""A warm start for jailed Python programs: fork them from a process that imported once.

Every notebook kernel and every probe process is a new Python that imports numpy,
IPython, matplotlib and, in the TensorFlow chapters, TensorFlow: about 2 s, and 10 s
more with TensorFlow, for each of them, so the imports cost more than the grading.
A grading worker starts a zygote (``start``) for its kernels and one for its probes, with the policy's student
environment, which imports those libraries once (``serve``) and then waits on a
Unix socket in a folder only root may enter. For each kernel or probe process, a
client (``request``, or ``python -I -S zygote.py run ...`` in place of ``jail.py``)
hands it the spec, the command and its standard streams; the zygote forks a child
that runs ``jail.run`` as ``jail.py`` would: the same namespaces, root, user, limits,
control groups and seccomp filter. Only the last step differs: the confined process
runs the Python program in its already warm interpreter (``run_python``), with the
environment, ``sys.path``, ``sys.argv`` and working folder that a new interpreter
would have, instead of exec'ing one. The child tells the client the program's wait
status; the client exits as the program did, and when the client ends first (the
kernel manager killed it), the child kills the jail.

The zygote never runs student code and never reads a request: the forked child
receives it, so no child holds anything of another submission. It imports only
modules of the Python installation (``preloadable``), never the course's.
A command that is not a plain Python program (``python [-I] script`` or ``python
[-I] -m module``) is exec'd as before.
"""

import atexit
import gc
import importlib
import importlib.util
import json
import os
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

HERE = os.path.dirname(os.path.abspath(__file__))
# The zygote runs as ``python zygote.py`` (no -I, whose flags its children would keep:
# IPython reads them), in the student environment: a new interpreter's path is this
# one's without this file's folder.
BASE_PATH = [p for p in sys.path if p != HERE]
if __package__:  # the trusted side's ``command`` and ``start``
    from . import jail
else:  # run as a program, as the sandbox's other modules are
    if HERE not in sys.path:  # the client runs as ``python -I -S zygote.py run``
        sys.path.insert(0, HERE)
    import jail

# A grading worker's environment: its zygotes' sockets, one for the notebook kernels and
# one for the probes (which must not find the kernels' modules already imported).
KERNEL_ADDRESS, PROBE_ADDRESS = "NNFS_KERNEL_ZYGOTE", "NNFS_PROBE_ZYGOTE"
MAX_MESSAGE = 1 << 20


def preloadable(name: str) -> bool:
    """Whether ``name`` is a module of the Python installation (never the course's)."""
    if name.split(".")[0] in sys.stdlib_module_names:
        return True
    try:
        found = importlib.util.find_spec(name.split(".")[0])
    except (ImportError, ValueError):
        return False
    prefixes = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    origin = os.path.realpath(found.origin or "") if found else ""
    return bool(origin) and any(origin.startswith(p + os.sep) for p in prefixes)


# --- the zygote


def serve(address: str, parent: int, preload: Iterable[str]) -> NoReturn:
    """Import ``preload``, then fork a child per connection to ``address`` (never returns)."""
    die_with(parent)
    for name in preload:
        if not preloadable(name):
            print(f"nnfs zygote: {name} is not a module of this Python; not preloaded", file=sys.stderr)
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # the program imports it itself, and meets the error there
            print(f"nnfs zygote: could not preload {name}: {exc}", file=sys.stderr)
    gc.freeze()  # the collector leaves what is imported alone: the children share its pages
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(address)
    listener.listen(64)
    sys.stderr.flush()
    fork_each(listener, _child)


def die_with(parent: int) -> None:
    """End this process when ``parent`` ends (SIGKILL, Linux), and now if it has already."""
    jail._die_with_parent()
    if os.getppid() != parent:  # it died before prctl
        os._exit(1)


def fork_each(listener: socket.socket, child: Callable[[socket.socket], NoReturn]) -> NoReturn:
    """Say "ready", then fork ``child(conn)`` for each connection to ``listener``, forever;
    the children are reaped as they end (a zygote's loop, here and in the lending one)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    print("ready", flush=True)
    while True:
        conn, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            child(conn)
        conn.close()


def _child(conn: socket.socket) -> NoReturn:
    """One request: receive it, run it in the jail, report its wait status."""
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # jail.run waits for its children
        os.setsid()  # as the jail command it replaces, a session of its own
        message, fds, _, _ = socket.recv_fds(conn, MAX_MESSAGE, 3)
        if len(fds) != 3:
            raise ValueError("a request comes with its standard input, output and error")
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        request = json.loads(message)
        tempfile.tempdir = request["tmp"]  # the jail's mount point, where jail.py would make it
        conn.send(json.dumps({"pid": os.getpid()}).encode())
        status = jail.run(request["spec"], request["argv"], start=run_python, client=conn)
        # the client's streams are its own again before it hears the status and goes
        null = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        conn.send(json.dumps({"status": status}).encode())
    except BaseException as exc:
        print(f"nnfs zygote: could not run the request: {exc}", file=sys.stderr, flush=True)
        os._exit(125)
    os._exit(0)


def run_python(argv: list[str], env: dict[str, str]) -> NoReturn:
    """Run the Python program ``argv`` here as a new interpreter would (``jail`` ``start``)."""
    args, isolated = list(argv[1:]), False
    while args[:1] == ["-I"]:
        isolated = True
        args.pop(0)
    python = os.path.basename(argv[0]) if argv else ""
    if not python.startswith("python") or not args or (args[0].startswith("-") and args[0] != "-m"):
        os.execvpe(argv[0], argv, env)  # not a plain Python program
    module = args[0] == "-m"
    target, rest = (args[1], args[2:]) if module else (args[0], args[1:])
    os.environ.clear()
    os.environ.update(env)
    # the path a new interpreter starts with: -I (which implies -P and -E) adds neither
    # the program's folder nor PYTHONPATH
    first = [] if isolated else [os.getcwd() if module else os.path.dirname(os.path.abspath(target))]
    extra = [] if isolated else [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [*first, *extra, *BASE_PATH]
    sys.argv = [target, *rest]
    if "tempfile" in sys.modules:
        sys.modules["tempfile"].tempdir = None  # read again from TMPDIR
    code = 0
    try:
        if module:
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(target, run_name="__main__")
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except KeyboardInterrupt:  # as a new interpreter ends: killed by SIGINT
        traceback.print_exc()
        _finish()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:
        traceback.print_exc()
        code = 1
    _finish()
    os._exit(code)


def _exit_code(code: Any) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _finish() -> None:
    """What a new interpreter does as it exits: the exit functions, the streams flushed."""
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


# --- the clients


def request(address: str, spec: dict[str, Any], argv: list[str]) -> int:
    """Run ``argv`` confined by ``spec`` through the zygote at ``address``, with this
    process's standard streams; its wait status, as ``jail.run`` returns it.

    Signals that Jupyter sends (interrupt, stop) go on to the child; when this process
    ends early, or ``spec["parent"]`` is gone, the child kills the jail.
    """
    if "parent" in spec:
        _exit_when_orphaned(spec["parent"])
    # Caught from the start: the program may run (and be interrupted) before its process
    # id reaches this process; a signal that comes earlier is passed on once it has.
    early = []
    for sig in jail.FORWARDED:
        signal.signal(sig, lambda signum, frame: early.append(signum))
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    conn.connect(address)
    message = {"spec": spec, "argv": argv, "tmp": tempfile.gettempdir()}
    socket.send_fds(conn, [json.dumps(message).encode()], [0, 1, 2])
    reply = conn.recv(MAX_MESSAGE)
    if not reply:
        return 125 << 8  # as jail.run: the sandbox could not be set up
    forward = jail._forward_to(json.loads(reply)["pid"])
    for sig in jail.FORWARDED:
        signal.signal(sig, forward)
    while early:
        forward(early.pop(0), None)
    reply = conn.recv(MAX_MESSAGE)
    return json.loads(reply)["status"] if reply else 125 << 8


def _exit_when_orphaned(parent: int) -> None:
    """Exit, so the child kills the jail, once ``parent`` (the grader) is gone, as ``jail.py``."""
    if os.getppid() != parent:
        print(f"nnfs jail: the grader (process {parent}) is gone; nothing runs", file=sys.stderr, flush=True)
        os._exit(1)

    def watch():
        while os.getppid() == parent:
            threading.Event().wait(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def command(spec: dict[str, Any], argv: list[str], address: str | None = None) -> list[str]:
    """The command line that runs ``argv`` confined by ``spec``: through the zygote at
    ``address`` when there is one, by ``jail.py`` otherwise."""
    if address:
        # -S: the client needs the standard library alone, and without site (the
        # editable install's finder among the .pth files) it starts in two thirds the time
        return [
            sys.executable,
            "-I",
            "-S",
            os.path.join(HERE, "zygote.py"),
            "run",
            address,
            json.dumps(spec),
            "--",
            *argv,
        ]
    return [sys.executable, "-I", os.path.join(HERE, "jail.py"), json.dumps(spec), "--", *argv]


def start(folder: str, preload: Iterable[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start a zygote of this process, its socket in ``folder`` (which only root may
    enter), that preloads ``preload`` in environment ``env``; ``(process, address)``
    once it is ready."""
    address = os.path.join(folder, "zygote.sock")
    argv = [sys.executable, os.path.join(HERE, "zygote.py"), "serve", address, str(os.getpid()), *preload]
    return launch(argv, folder, env), address


def launch(argv: list[str], folder: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the zygote program ``argv`` in ``folder``, in a session of its own, and return
    it once it says "ready" (``fork_each``); ``RuntimeError`` if it ends first."""
    proc = subprocess.Popen(
        argv,
        env=env,
        cwd=folder,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    with proc.stdout:  # it says "ready" once, then nothing more
        ready = proc.stdout.readline().strip() == "ready"
    if not ready:
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the zygote did not start (exit status {proc.returncode})")
    return proc


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["serve"] and len(args) >= 3:
        serve(args[1], int(args[2]), args[3:])
    if args[:1] == ["run"] and len(args) >= 5 and args[3] == "--":
        jail.end_like(request(args[1], json.loads(args[2]), args[4:]))
    sys.exit(
        "usage: python -I zygote.py serve ADDRESS PARENT_PID [MODULE...]\n"
        "       python -I -S zygote.py run ADDRESS SPEC_JSON -- COMMAND [ARG...]"
    )


if __name__ == "__main__":
    main()
