"""Scratch folders that outlive a killed grader only until the next batch.

The grading workers' folders and the jobs' folders (with the kernels' sockets and the
submissions' scratch copies in them) are made by ``make``: the process that makes one
holds a lock on it (``flock`` on its ``.owner`` file) for as long as it lives, and
removes it when done. A grader killed with SIGKILL removes nothing, so every batch
first sweeps the temporary directory (``sweep``) of the folders whose lock nobody holds
any more, which the kernel releases when their owner dies, whatever killed it. The
folders stay where they were, with the names they had: the sockets' paths, which
cannot be longer than 107 bytes, are no longer than before.
"""

import fcntl
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..nbgrader_ext.kernel import SOCKET_PATH_MAX, longest_socket_path, remove_tree

WORKER, JOB = "nnfs-worker-", "nnfs-job-"  # the prefixes of the folders made here
OWNER = ".owner"  # locked by the process that uses the folder


class TemporaryDirectoryTooLong(RuntimeError):
    """The kernels' socket paths in the temporary directory ``folder`` would be
    ``length`` bytes, past the limit."""

    def __init__(self, folder: str, length: int):
        self.folder, self.length = folder, length
        super().__init__(
            f"the temporary directory {folder} is too long for the grading kernels' sockets "
            f"({length} bytes in their paths; Unix sockets allow {SOCKET_PATH_MAX}): set TMPDIR "
            f"to a folder with a path at least {length - SOCKET_PATH_MAX} characters shorter, "
            f"e.g. TMPDIR=/tmp, and grade again"
        )


def check_socket_room(parent: str | None = None) -> None:
    """Raise ``TemporaryDirectoryTooLong`` if a kernel started in a job folder made in
    ``parent`` (default: the temporary directory) could not make its sockets there.

    Every kernel would fail to start, and every student would score 0 for a kernel
    that "died": the batch stops before it grades anyone, and says what to do.
    """
    parent = parent or tempfile.gettempdir()
    length = longest_socket_path(os.path.join(parent, JOB + "x" * 8))
    if length > SOCKET_PATH_MAX:
        raise TemporaryDirectoryTooLong(parent, length)


@dataclass
class Scratch:
    """A folder made by ``make``: ``path``, and the descriptor holding its lock."""

    path: str
    fd: int

    def remove(self) -> None:
        """Remove the folder, then let go of its lock."""
        remove_tree(self.path)
        os.close(self.fd)


def make(prefix: str, parent: str | None = None) -> Scratch:
    """A new folder ``prefix*`` in ``parent`` (default: the temporary directory), locked
    by this process until ``remove``. Its owner file is locked under another name and
    then renamed, so a sweep never finds it unlocked."""
    path = tempfile.mkdtemp(prefix=prefix, dir=parent)
    try:
        fd, taking = tempfile.mkstemp(dir=path)
    except BaseException:
        remove_tree(path)
        raise
    made = Scratch(path, fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.rename(taking, os.path.join(path, OWNER))
    except BaseException:
        made.remove()
        raise
    return made


@contextmanager
def folder(prefix: str, parent: str | None = None) -> Iterator[str]:
    """``make``'s folder for the duration of the context."""
    made = make(prefix, parent)
    try:
        yield made.path
    finally:
        made.remove()


def _owner_gone(path: str) -> int | None:
    """A descriptor holding the lock of ``path``'s owner file if nobody else held it;
    None if someone does, or if the folder has no owner file (not made by ``make``)."""
    try:
        fd = os.open(os.path.join(path, OWNER), os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held: its owner is alive
        os.close(fd)
        return None
    return fd


def sweep(parent: str | None = None) -> list[str]:
    """Remove the folders ``make`` made in ``parent`` (default: the temporary directory)
    whose owner is gone; their paths. Only this user's folders, never through a link."""
    parent = parent or tempfile.gettempdir()
    try:
        names = sorted(n for n in os.listdir(parent) if n.startswith((WORKER, JOB)))
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(parent, name)
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            continue
        fd = _owner_gone(path)
        if fd is not None:
            Scratch(path, fd).remove()
            removed.append(path)
    return removed
