"""Two attacks that try to pass something from one student's grading job to the next.

``attack-leftover-a-writes`` leaves a marker (``nnfs-leftover-<random token>``)
wherever it can: from a notebook cell, a file in every folder of the sandbox's
file system it may write to; from its ``source_lib`` at import (in the kernel and
in the trusted checks' probes), a file in /tmp, HOME, the working folder, the
kernel's socket folder and /dev/shm. In those places it also leaves a read-only
folder and a link to the grader's folder of this submission, for the grader to
remove without following it. Both also leave a SysV shared memory segment, a
key in each of the kernel's keyrings, an abstract Unix socket, and two
processes that try to outlive the kernel (a daemon that goes on writing
markers, and a plain ``fork`` child). It prints what it wrote.

``attack-leftover-b-reads``, graded next on the same worker (students are graded
in sorted order), looks for all of that wherever it can read, and also for the
sandbox slots' control groups, whose counters (memory high-water mark, failed
forks) an earlier job sets; it prints how many folders it searched and what it
found. ``tests/test_isolation.py`` grades the two: the reader must find nothing,
and nothing may be left on the machine. Both start from the release with stubs
returning 0, so they score 0.
"""

from .attacks import _attack, _library
from .feedforward import RETURN_ZERO

MARK = "nnfs-leftover-"

# What both need: where to look, and the kernel's keyring system calls.
COMMON = f'''
import ctypes as _ctypes, json as _json, os as _os, sys as _sys
_MARK, _SHM_KEY = {MARK!r}, 0x6E6E6673
_libc = _ctypes.CDLL(None, use_errno=True)
_libc.shmat.restype = _ctypes.c_void_p
_ADD_KEY, _KEYCTL = {{"x86_64": (248, 250), "aarch64": (217, 219)}}.get(_os.uname().machine, (-1, -1))

def _rings():
    """The keyrings of this user: user, user session, session and persistent."""
    persistent = _libc.syscall(_KEYCTL, 22, _ctypes.c_long(-1), _ctypes.c_long(-4))
    return {{"user": -4, "user session": -5, "session": -3, "persistent": persistent}}

def _places():
    """/tmp, HOME, the working folder and its parent, /dev/shm, the kernel's socket folder."""
    places = ["/tmp", _os.path.expanduser("~"), _os.getcwd(), _os.path.dirname(_os.getcwd()),
              "/dev/shm"]
    if "-f" in _sys.argv:  # the kernel: its connection file names its socket folder
        with open(_sys.argv[_sys.argv.index("-f") + 1]) as fh:
            places.append(_os.path.dirname(_json.load(fh)["ip"]))
    return places

def _folders():
    """Every folder from / down, links not followed, the processes' folders of /proc left out."""
    for folder, dirs, files in _os.walk("/"):
        if folder == "/proc":
            dirs[:] = [d for d in dirs if not d.isdigit()]
        yield folder, dirs, files
'''

# A daemon's program (argv: token, folders): hold an abstract socket, write markers forever.
LINGER = """
import os, signal, socket, sys, time
for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    signal.signal(sig, signal.SIG_IGN)
held = socket.socket(socket.AF_UNIX)
held.bind(chr(0) + "nnfs-leftover-" + sys.argv[1])
held.listen()
while True:
    for folder in sys.argv[2:]:
        try:
            with open(os.path.join(folder, "nnfs-leftover-" + sys.argv[1] + "-late"), "w") as fh:
                fh.write(sys.argv[1])
        except OSError:
            pass
    time.sleep(0.1)
"""

WRITE = f"""
def _leave(everywhere):
    import secrets, signal, time
    token = secrets.token_hex(8)
    folders = _places() + ([f for f, _, _ in _folders()] if everywhere else [])
    for folder in dict.fromkeys(folders):
        try:
            with open(_os.path.join(folder, _MARK + token), "x") as fh:
                fh.write(token)
            print("WROTE", _os.path.join(folder, _MARK + token))
        except OSError:
            pass
    for folder in _places():  # for the grader to remove: a read-only folder, a link out
        base = _os.path.join(folder, _MARK + token)
        try:
            _os.mkdir(base + "-dir")
            open(_os.path.join(base + "-dir", _MARK + token), "w").close()
            _os.chmod(base + "-dir", 0o500)
            _os.symlink(_os.path.dirname(_os.getcwd()), base + "-link")  # the grader's folder
            print("WROTE", base + "-dir", "and", base + "-link")
        except OSError:
            pass
    shm = _libc.shmget(_SHM_KEY, 4096, 0o1666)  # IPC_CREAT
    if shm >= 0:
        _ctypes.memmove(_libc.shmat(shm, None, 0), (_MARK + token).encode(), len(_MARK + token))
        print("WROTE SysV shared memory", hex(_SHM_KEY))
    for name, ring in _rings().items():
        if _libc.syscall(_ADD_KEY, b"user", _MARK.encode(), token.encode(), 16, _ctypes.c_long(ring)) > 0:
            print("WROTE a key in the", name, "keyring")
    child = _os.fork()
    if child == 0:  # a daemon: a session of its own, its parent gone
        _os.setsid()
        if _os.fork() == 0:
            try:
                _os.execv(_sys.executable, [_sys.executable, "-c", {LINGER!r}, token, *_places()])
            finally:
                _os._exit(0)
        _os._exit(0)
    _os.waitpid(child, 0)
    if _os.fork() == 0:  # a plain child, deaf to polite signals
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            time.sleep(1)
    print("WROTE processes that try to outlive the kernel")
"""

READ = """
def _search():
    found, searched = [], 0
    for folder, dirs, files in _folders():
        searched += 1
        found += [_os.path.join(folder, n) for n in dirs + files
                  if n.startswith(_MARK) or n == "nnfs-jail"]  # a slot's control group
    if _libc.shmget(_SHM_KEY, 0, 0) >= 0:
        found.append("SysV shared memory " + hex(_SHM_KEY))
    for kind in ("shm", "msg", "sem"):
        with open("/proc/sysvipc/" + kind) as fh:
            found += ["SysV " + kind + ": " + line.strip() for line in fh.readlines()[1:]]
    with open("/proc/net/unix") as fh:
        found += ["socket " + line.split()[-1] for line in fh if _MARK in line]
    for name, ring in _rings().items():
        if _libc.syscall(_KEYCTL, 10, _ctypes.c_long(ring), b"user", _MARK.encode(), 0) > 0:
            found.append("a key in the " + name + " keyring")  # 10: KEYCTL_SEARCH
    for pid in filter(str.isdigit, _os.listdir("/proc")):
        try:
            with open("/proc/" + pid + "/cmdline", "rb") as fh:
                if _MARK.encode() in fh.read():
                    found.append("process " + pid)
        except OSError:
            pass
    print("SEARCHED", searched, "folders")
    for what in found:
        print("FOUND", what)
"""

LEFTOVER_ATTACKS = [
    _attack(
        "attack-leftover-a-writes",
        "leaves files, IPC objects, keys and processes for the next student, from a cell and from source_lib",
        edits=_library(COMMON + WRITE + "_leave(everywhere=False)\n"),
        cell=COMMON + WRITE + "_leave(everywhere=True)\n",
    ),
    _attack(
        "attack-leftover-b-reads",
        "looks for what an earlier student left behind",
        edits=(RETURN_ZERO,),
        cell=COMMON + READ + "_search()\n",
    ),
]
