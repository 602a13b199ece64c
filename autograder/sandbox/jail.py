"""Run student code confined: no network, only its own scratch files, an unprivileged user.

The sandboxed kernel that runs a student's notebook (``jupyter/kernels/nnfs-sandbox``)
and the trusted checks' probe process (``sandbox.run_probes``) start their
command through this file::

    python -I jail.py SPEC_JSON -- COMMAND ARG...

It needs only the standard library, so that it runs as it is from any
checkout. As root (the grading machine), the command runs:

- in new network, mount, PID, IPC and UTS namespaces: no network (only a loopback
  that is down; the kernel talks to nbgrader over ZMQ ``ipc`` sockets in a
  folder bound in), and when the command ends every process it started dies,
  as it does when this process's parent dies;
- in a root folder of its own that holds only the operating system and Python
  (read only) and the folders in ``binds`` at their own paths (the scratch copy
  of this submission, writable): the instructor's solutions, the gradebook,
  other students' folders and the grader's files are not there to read or write;
- as an unprivileged user of its own (uid ``SLOT_UID + slot``, one slot per
  submission graded at once), so resource limits that root ignores apply, such
  as the process count that stops a fork bomb;
- with its own CPU share, memory and process budget (control groups) where the
  machine lets root make them, so a bomb slows nobody else's grading;
- with resource limits (address space, CPU time, file size, open files);
- with nothing that outlives the job to write: /tmp and /dev/shm are its own,
  the kernel's keyrings (which no namespace separates) are off limits, and the
  control groups' counters of earlier jobs are hidden.

Not root, the command runs with the resource limits only, and the kernel's log
says so: grade on a machine where the grader is root (a container or a CI job).

SPEC keys: ``cwd``; ``binds`` (``[source, target, writable]``: the folder or
file ``source`` shown at ``target``); ``own`` (folders handed to the sandbox
user, so it can write there); ``limits`` (``RLIMIT_*`` name without the prefix
-> value); ``env`` (the whole environment of the command); ``cgroup``
(``memory`` bytes, ``pids``: the callers pass both, from ``policy.py``; the
defaults here only keep a spec without them bounded); ``parent`` (the caller's process id: when
this process's parent is not, or no longer, that process, it kills the command
and exits, so a grader killed while this starts leaves nothing running).
"""

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any, NoReturn

SLOT_UID = 61000  # sandbox users are SLOT_UID + 0 .. SLOTS - 1: not in /etc/passwd, owning nothing
SLOTS = 256
SLOT_LOCKS = "/tmp/nnfs-jail-slots"
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # what Jupyter sends a kernel
CGROUP_V1 = "/sys/fs/cgroup"

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWPID, CLONE_NEWNET = 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 38, 22
# The kernel's keyrings are not namespaced: a key that a student adds would wait, under
# the slot's uid, for the next job in that slot. The sandbox may not use them (nor may
# Docker's containers): audit architecture and add_key, request_key, keyctl per machine.
KEYRING_CALLS = {"x86_64": (0xC000003E, (248, 249, 250)), "aarch64": (0xC00000B7, (217, 218, 219))}

libc = ctypes.CDLL(None, use_errno=True)


def kill_session(proc: subprocess.Popen[Any]) -> None:
    """Kill ``proc``'s whole session (started with ``start_new_session``), reap it and
    close the pipes to it.

    Whatever the process started, a kernel or student code, dies with it.
    """
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):  # input the dead process never read
                pipe.close()


def _check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source, target, fstype, flags, data=None):
    def enc(s):
        return None if s is None else s.encode()

    _check(
        libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}"
    )


def _die_with_parent():
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def ignore_links(folder: str, names: list[str]) -> list[str]:
    """For ``shutil.copytree``: leave out symlinks (they could lead to the grader's files)
    and bytecode caches, when a submission is copied for its sandbox."""
    return [n for n in names if n == "__pycache__" or os.path.islink(os.path.join(folder, n))]


def take_slot() -> tuple[int, int]:
    """A free slot number and the open lock that holds it until this process ends."""
    os.makedirs(SLOT_LOCKS, mode=0o700, exist_ok=True)
    for slot in range(SLOTS):
        fd = os.open(os.path.join(SLOT_LOCKS, f"{slot}.lock"), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return slot, fd
    raise RuntimeError(f"all {SLOTS} sandbox slots are busy")


def _own(path, uid):
    for folder, dirs, files in os.walk(path):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, uid, uid)


def _cgroups(slot, pid, spec):
    """Put ``pid`` into control groups of its slot (cgroup v1, where root may make them)."""
    settings = {
        "cpu": {"cpu.shares": "1024"},
        "pids": {"pids.max": str(spec.get("pids", 512))},
        "memory": {"memory.limit_in_bytes": str(spec.get("memory", 8 * 1024**3))},
    }
    joined = []
    for controller, values in settings.items():
        group = os.path.join(CGROUP_V1, controller, "nnfs-jail", f"slot-{slot}")
        try:
            os.makedirs(group, exist_ok=True)
            for key, value in values.items():
                with open(os.path.join(group, key), "w") as fh:
                    fh.write(value)
            with open(os.path.join(group, "cgroup.procs"), "w") as fh:
                fh.write(str(pid))
            joined.append(controller)
        except OSError:
            pass  # no such controller, or not ours to change: rlimits still apply
    return joined


def _system_paths():
    """What every sandbox sees, read only: the operating system and this Python."""
    paths = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys"]
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        paths += [prefix, os.path.realpath(prefix)]
    return [p for p in dict.fromkeys(paths) if os.path.lexists(p)]


def _bind(source, target, writable, recursive=True):
    if os.path.islink(source) and not writable:  # /bin -> usr/bin: the same link
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(source), target)
        return
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    _mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    if not writable:
        _mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _make_root(spec):
    """Inside the new mount namespace: a new root holding only what the command may see.

    An empty filesystem at ``spec["root"]`` gets the system and Python read
    only, ``binds`` at their own paths, a device folder, a fresh /proc of the new
    PID namespace and an empty /tmp; then it becomes the root. Everything else
    on the machine (the course checkout with its solutions and gradebook, other
    students' folders, the grader's home and temporary files, sockets in /run)
    is simply not there.
    """
    root = spec["root"]
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755,size=64m")
    _bind("/dev", root + "/dev", writable=True, recursive=False)  # not the host's /dev/shm
    # empty /tmp first: Python or the scratch copy may live under the host's /tmp
    for tmp in ("/tmp", "/dev/shm"):
        os.makedirs(root + tmp, exist_ok=True)
        _mount("tmpfs", root + tmp, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=256m")
    for path in _system_paths():
        _bind(path, root + path, writable=False)
    if os.path.isdir(root + CGROUP_V1):  # the slots' counters outlive their jobs: hide them
        _mount("tmpfs", root + CGROUP_V1, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for source, target, writable in spec.get("binds", []):
        _bind(source, root + target, writable)
    os.makedirs(root + "/proc", exist_ok=True)
    _mount("proc", root + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.chroot(root)
    os.chdir("/")


def _exec_confined(spec, argv, uid, start=None):
    """The command's own process: limits, the sandbox user, then exec (never returns).

    ``start(argv, env)``, when given, starts the command instead of ``execvpe``
    (``zygote.run_python``: the Python program in this already warm interpreter).
    """
    try:
        for name, value in spec.get("limits", {}).items():
            hard = int(value) + (1 if name == "CPU" else 0)  # SIGXCPU first, then SIGKILL
            resource.setrlimit(getattr(resource, f"RLIMIT_{name}"), (int(value), hard))
        if uid is not None:
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
        _die_with_parent()  # after the user change, which clears it
        libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)  # no setuid program can give root back
        _no_keyrings()
        os.chdir(spec["cwd"])
        os.closerange(3, 65536)
        (start or _execvpe)(argv, spec["env"])
    except BaseException as exc:
        print(f"nnfs jail: could not start {argv[0]}: {exc}", file=sys.stderr, flush=True)
        os._exit(126)


def _execvpe(argv, env):
    os.execvpe(argv[0], argv, env)


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _no_keyrings():
    """A seccomp filter: the keyring calls (and any other ABI's calls) fail with ENOSYS."""
    if os.uname().machine not in KEYRING_CALLS:
        return
    arch, calls = KEYRING_CALLS[os.uname().machine]
    load, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, ..|JGE|K, BPF_RET|K
    deny, allow, n = 0x00050000 | errno.ENOSYS, 0x7FFF0000, len(calls)  # SECCOMP_RET_ERRNO, _ALLOW
    program = [
        (load, 0, 0, 4),
        (jeq, 1, 0, arch),
        (ret, 0, 0, deny),  # seccomp_data.arch
        (load, 0, 0, 0),
        (jge, n + 1, 0, 0x40000000),  # .nr; x32 calls on x86_64
        *[(jeq, n - i, 0, nr) for i, nr in enumerate(calls)],
        (ret, 0, 0, allow),
        (ret, 0, 0, deny),
    ]
    filters = (_SockFilter * len(program))(*program)
    _check(
        libc.prctl(PR_SET_SECCOMP, 2, ctypes.byref(_SockFprog(len(program), filters)), 0, 0), "seccomp"
    )  # 2: SECCOMP_MODE_FILTER


def _init(spec, argv, uid, go, report, start=None):
    """PID 1 of the new namespace: set it up, start the command, reap, report how it ended."""
    _die_with_parent()
    os.read(go, 1)  # the parent has put this process into its control groups
    _check(libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    _make_root(spec)
    child = os.fork()
    if child == 0:
        _exec_confined(spec, argv, uid, start)
    for sig in FORWARDED:
        signal.signal(sig, _forward_to(child))
    while True:  # reap orphans too: PID 1 inherits them
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(0)
        except InterruptedError:
            continue
        if pid == child:
            os.write(report, str(status).encode())
            os._exit(0)  # every other process in the namespace dies with this one


def run(
    spec: dict[str, Any],
    argv: list[str],
    start: Callable[[list[str], dict[str, str]], NoReturn] | None = None,
    client: socket.socket | None = None,
) -> int:
    """Run ``argv`` confined by ``spec``; returns its wait status (as ``os.waitpid`` gives it).

    ``start``: how the confined process starts ``argv`` (default: exec it). ``client``:
    the connection of the process this runs for (``zygote``), watched instead of this
    process's parent: when it closes, the command is killed.
    """
    children, shared = [], {}
    _watch_parent(children, shared, spec.get("parent"), client)
    if os.geteuid() != 0:
        print(
            "nnfs jail: not root, so the command runs with resource limits only (no namespaces, same user)",
            file=sys.stderr,
            flush=True,
        )
        limits = {k: v for k, v in spec.get("limits", {}).items() if k != "NPROC"}
        cwd = next(
            (source for source, target, _ in spec.get("binds", []) if target == spec["cwd"]), spec["cwd"]
        )
        pid = os.fork()
        if pid == 0:
            _exec_confined(dict(spec, limits=limits, cwd=cwd), argv, None, start)
        children.append(pid)
        return _wait(pid, *FORWARDED)
    slot, lock = take_slot()
    uid = SLOT_UID + slot
    for path in spec.get("own", []):
        _own(path, uid)
    _check(libc.unshare(CLONE_NEWPID), "unshare")
    spec = dict(spec, root=tempfile.mkdtemp(prefix="nnfs-root-"))  # stays empty out here
    shared["root"] = spec["root"]
    try:
        go_read, go_write = os.pipe()
        report_read, report_write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(go_write), os.close(report_read), os.close(lock)
            try:
                _init(spec, argv, uid, go_read, report_write, start)
            except BaseException as exc:
                print(f"nnfs jail: could not set up the sandbox: {exc}", file=sys.stderr, flush=True)
                os._exit(125)
        children.append(pid)
        os.close(go_read), os.close(report_write)
        _cgroups(slot, pid, spec.get("cgroup", {}))
        os.write(go_write, b"1")
        status = _wait(pid, *FORWARDED)
        reported = os.read(report_read, 64)  # how the command ended, not how PID 1 did
        return int(reported) if reported else status
    finally:
        _remove(spec["root"])
        os.close(lock)


def _remove(root):
    """Remove the new root's mount point: empty out here, since the mounts are the child's."""
    try:
        os.rmdir(root)
    except (OSError, TypeError):  # gone with the grader's temporary folder
        pass


def _watch_parent(children, made, parent=None, client=None):
    """Kill ``children`` (filled in later) and exit if this process is orphaned.

    With a ``client`` connection (``zygote``), orphaned means that it closed: the
    process this runs for ended.

    The callers (nbgrader's kernel manager, the trusted checks) start this
    process in a session of its own, so a grading worker that is killed does
    not take it along: it notices that its parent is gone instead. The caller
    states its process id (``parent``) because it may die before this starts:
    the parent seen here would then already be PID 1, and never change. Started
    before ``unshare(CLONE_NEWPID)``, after which no thread can be made.
    """

    def orphaned():
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:  # ended meanwhile
                pass
        _remove(made.get("root"))
        os._exit(1)

    if client is not None:

        def hang_up():
            try:
                while client.recv(64):  # the client sends nothing more: this waits for its end
                    pass
            except OSError:
                pass
            orphaned()

        threading.Thread(target=hang_up, daemon=True).start()
        return
    parent = os.getppid() if parent is None else parent
    if os.getppid() != parent:
        print(f"nnfs jail: the grader (process {parent}) is gone; nothing runs", file=sys.stderr, flush=True)
        orphaned()

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        orphaned()

    threading.Thread(target=watch, daemon=True).start()


def _forward_to(pid):
    """A signal handler passing the signal on to ``pid``, unless it has ended meanwhile."""

    def forward(signum, frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:  # reaped already (Jupyter interrupts a kernel before stopping it)
            pass

    return forward


def _wait(pid, *forwarded):
    for sig in forwarded:
        signal.signal(sig, _forward_to(pid))
    while True:
        try:
            return os.waitpid(pid, 0)[1]
        except InterruptedError:
            continue


def end_like(status: int) -> NoReturn:
    """Exit as the command did: with its exit code, or killed by its signal."""
    if os.WIFSIGNALED(status):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if os.WTERMSIG(status) not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
        os.kill(os.getpid(), os.WTERMSIG(status))
    sys.exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def main() -> None:
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: python -I jail.py SPEC_JSON -- COMMAND [ARG...]")
    end_like(run(json.loads(args[0]), args[2:]))


if __name__ == "__main__":
    main()
