"""The intake: a submission reaches the trusted side only as a sanitized copy.

Before anything reads a submission, the grader copies
``assignments/submitted/<student>/<assignment>`` into
``assignments/intake/<student>/<assignment>`` with ``sanitize``, and from then
on everything (fingerprint, timestamp, nbgrader's autograde) reads only that
copy. The walk never follows a link: every folder and file is opened relative
to its parent's descriptor with ``O_NOFOLLOW``, and each open file is checked
(``fstat``) to be the regular, singly linked file the walk saw, so a file
swapped for a link or a device meanwhile is caught. Only regular files and
folders are copied, within the caps below; everything else is left out and
named in the report, with what the student should do. The report goes to a
trusted place (``report_path``), and ``IntakeNotes`` puts its messages at the
top of the student's autograded notebook, which the feedback page shows.
"""

import errno
import json
import os
import shutil
import stat
import tempfile
import unicodedata
from dataclasses import asdict, dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any, Self

from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

from ..regions import find_regions, library_files
from . import notes

INTAKE = "intake"  # the copies' folder in the nbgrader root (a CourseDirectory step)
IGNORED = {"__pycache__", ".ipynb_checkpoints"}  # left out silently, wherever they are

# Caps on what one submission may hold; a notebook with its figures is a few MB.
MAX_FILES = 1000  # regular files copied
MAX_ENTRIES = 10 * MAX_FILES  # entries of any kind looked at: the walk stops there
MAX_FILE_BYTES = 64 * 1024**2  # one file
MAX_TOTAL_BYTES = 256 * 1024**2  # all files together
MAX_DEPTH = 8  # folders below the submission folder
MAX_PATH = 256  # characters of a path relative to the submission folder
MAX_REPORTED = 50  # problems named in the report; the rest are counted

CHUNK = 1024**2
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Caps:
    """The intake's limits (defaults: the module's ``MAX_*`` constants)."""

    files: int = MAX_FILES
    entries: int = MAX_ENTRIES
    file_bytes: int = MAX_FILE_BYTES
    total_bytes: int = MAX_TOTAL_BYTES
    depth: int = MAX_DEPTH
    path: int = MAX_PATH


def _size(n):
    return f"{n / 1024**2:g} MiB" if n >= 1024**2 else f"{n} bytes"


# kind -> message for the student ({path} and the caps filled in)
MESSAGES = {
    "link": "{path} is a symbolic link: the grader ignores links; submit the file or folder itself.",
    "hardlink": "{path} is a hard link (one file under several names): the grader ignores it; "
    "submit an ordinary copy of the file.",
    "fifo": "{path} is a named pipe, not a file: the grader ignores it; remove it.",
    "socket": "{path} is a socket, not a file: the grader ignores it; remove it.",
    "device": "{path} is a device, not a file: the grader ignores it; remove it.",
    "special": "{path} is not an ordinary file or folder: the grader ignores it; remove it.",
    "changed": "{path} changed while the grader copied it, so it was left out: hand in again.",
    "unreadable": "{path} could not be read, so it was left out: hand in an ordinary file.",
    "name": "{path} has a name with control characters or that is not UTF-8, so it was left out: rename it.",
    "too-big": "{path} is larger than the {file_bytes} a file may be, so it was left out: "
    "make it smaller (clear large outputs) or remove it.",
    "over-total": "{path} was left out: the submission is over the {total_bytes} it may hold in "
    "all; remove files the assignment does not need.",
    "too-many-files": "{path} was left out: a submission may hold {files} files; remove files "
    "the assignment does not need.",
    "too-many-entries": "{path} and what follows it were not read: a submission may hold "
    "{entries} files and folders; remove what the assignment does not need.",
    "too-deep": "{path} is more than {depth} folders deep, so it was left out: move it up.",
    "long-path": "{path} has a path longer than {path_chars} characters, so it was left out: "
    "give it a shorter name.",
}


@dataclass
class Problem:
    """Something the intake left out: ``path`` (relative, ``/``-separated), ``kind``, ``message``."""

    path: str
    kind: str
    message: str


@dataclass
class Report:
    """What ``sanitize`` copied and what it left out, and why."""

    copied: list = field(default_factory=list)  # relative paths of the files copied
    problems: list = field(default_factory=list)  # ``Problem``s, at most MAX_REPORTED
    unreported: int = 0  # problems beyond MAX_REPORTED
    copied_bytes: int = 0

    def messages(self) -> list[str]:
        """The notes for the student: one line per problem."""
        more = (
            f"... and {self.unreported} more files or folders were left out for the same reasons."
            if self.unreported
            else None
        )
        return [p.message for p in self.problems] + ([more] if more else [])

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Self:
        data = json.loads(text)
        data["problems"] = [Problem(**p) for p in data["problems"]]
        return cls(**data)


def report_path(nbgrader_root: str | Path, assignment: str, student: str) -> Path:
    """Where the grader keeps a submission's intake report: trusted, out of the copy's reach."""
    return Path(nbgrader_root) / ".grading" / assignment / INTAKE / f"{student}.json"


def read_messages(nbgrader_root: str | Path, assignment: str, student: str) -> list[str]:
    """The intake's notes for a student, as recorded ([] if none or unreadable)."""
    try:
        return Report.from_json(report_path(nbgrader_root, assignment, student).read_text()).messages()
    except (OSError, ValueError, TypeError, KeyError):
        return []


def _odd(ch):
    # control and format characters, and bytes that are not UTF-8 (surrogate escapes)
    return unicodedata.category(ch)[0] == "C"


def shown(path: str) -> str:
    """``path`` fit for one line of a note or a log: odd characters escaped (``\\n``)."""
    return "".join(ascii(ch)[1:-1] if _odd(ch) else ch for ch in path)


class _Walk:
    """One sanitize run: the caps, the counts so far, the report."""

    def __init__(self, caps):
        self.caps, self.report, self.files, self.entries = caps, Report(), 0, 0

    def drop(self, rel, kind):
        """Report ``rel`` as left out for ``kind`` (a key of ``MESSAGES``)."""
        if len(self.report.problems) >= MAX_REPORTED:
            self.report.unreported += 1
            return
        caps = self.caps
        text = MESSAGES[kind].format(
            path=shown(rel),
            file_bytes=_size(caps.file_bytes),
            total_bytes=_size(caps.total_bytes),
            files=caps.files,
            entries=caps.entries,
            depth=caps.depth,
            path_chars=caps.path,
        )
        self.report.problems.append(Problem(rel, kind, text))

    def folder(self, src_fd, dest, rel, depth):
        """Copy the folder open as ``src_fd`` into the new folder ``dest``; False to stop."""
        with os.scandir(src_fd) as it:  # a folder of a million files: read no more than the cap
            entries = sorted(islice(it, self.caps.entries - self.entries + 1), key=lambda e: e.name)
        for entry in entries:
            if entry.name in IGNORED:
                continue
            path = f"{rel}{entry.name}"
            self.entries += 1
            if self.entries > self.caps.entries:
                self.drop(path, "too-many-entries")
                return False
            try:
                st = os.stat(entry.name, dir_fd=src_fd, follow_symlinks=False)
            except OSError:
                self.drop(path, "unreadable")
                continue
            if not self.one(src_fd, entry.name, st, dest, path, depth):
                return False
        return True

    def one(self, src_fd, name, st, dest, path, depth):
        """Copy one entry that ``lstat`` says is ``st``, or report why not; False to stop."""
        kind = _special(st.st_mode)
        if kind is None and any(map(_odd, name)):
            kind = "name"
        elif kind is None and len(path) > self.caps.path:
            kind = "long-path"
        if kind:
            self.drop(path, kind)
        elif stat.S_ISDIR(st.st_mode):
            if depth >= self.caps.depth:
                self.drop(path, "too-deep")
                return True
            try:
                fd = os.open(name, DIR_FLAGS, dir_fd=src_fd)
            except OSError as exc:
                self.drop(path, _open_failed(exc))
                return True
            try:
                if not _same(os.fstat(fd), st):
                    self.drop(path, "changed")
                    return True
                os.mkdir(dest / name, 0o755)
                return self.folder(fd, dest / name, path + "/", depth + 1)
            finally:
                os.close(fd)
        elif st.st_nlink != 1:
            self.drop(path, "hardlink")
        elif self.files >= self.caps.files:
            self.drop(path, "too-many-files")
        elif st.st_size > self.caps.file_bytes:
            self.drop(path, "too-big")
        elif self.report.copied_bytes + st.st_size > self.caps.total_bytes:
            self.drop(path, "over-total")
        else:
            self.copy_file(src_fd, name, st, dest / name, path)
        return True

    def copy_file(self, src_fd, name, st, target, path):
        """Copy a regular file, never reading past the caps; report it if it is not what ``st`` was."""
        try:
            fd = os.open(name, FILE_FLAGS, dir_fd=src_fd)
        except OSError as exc:
            self.drop(path, _open_failed(exc))
            return
        try:
            now = os.fstat(fd)
            if not (stat.S_ISREG(now.st_mode) and now.st_nlink == 1 and _same(now, st)):
                self.drop(path, "changed")
                return
            cap = min(self.caps.file_bytes, self.caps.total_bytes - self.report.copied_bytes)
            size = 0
            with open(target, "xb") as out:
                while size <= cap:  # the file may have grown since lstat: at most cap + 1
                    chunk = os.read(fd, min(CHUNK, cap + 1 - size))
                    if not chunk:
                        break
                    out.write(chunk)
                    size += len(chunk)
            if size > cap:
                target.unlink()
                self.drop(path, "too-big" if size > self.caps.file_bytes else "over-total")
                return
        except OSError:
            target.unlink(missing_ok=True)
            self.drop(path, "unreadable")
            return
        finally:
            os.close(fd)
        self.files += 1
        self.report.copied_bytes += size
        self.report.copied.append(path)


def _special(mode):
    """What is wrong with a file of this ``lstat`` mode (None: a regular file or a folder)."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return (
        "link"
        if stat.S_ISLNK(mode)
        else "fifo"
        if stat.S_ISFIFO(mode)
        else "socket"
        if stat.S_ISSOCK(mode)
        else "device"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
        else "special"
    )


def _open_failed(exc):
    # a link now (O_NOFOLLOW: ELOOP; a folder link: ENOTDIR), or gone: swapped since the walk saw it
    return "changed" if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT) else "unreadable"


def _same(a, b):
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _open_below(base, names):
    """A descriptor of the folder ``base/names...``, following no link after ``base``."""
    fd = os.open(base, DIR_FLAGS)
    for name in names:
        try:
            child = os.open(name, DIR_FLAGS, dir_fd=fd)
        finally:
            os.close(fd)
        fd = child
    return fd


def sanitize(
    src: str | Path, dest: str | Path, caps: Caps = Caps(), base: str | Path | None = None
) -> Report:
    """Copy the submission folder ``src`` to ``dest``: regular files and folders only.

    No folder from ``base`` (default: ``src``'s parent) down to ``src`` may be
    a link: if one is, the copy is empty and the report says so. ``dest``
    (replaced if it exists) is written as a temporary sibling and renamed into
    place, so a crash never leaves half a copy there. Returns a ``Report``.
    """
    src, dest = Path(src), Path(dest)
    base = src.parent if base is None else Path(base)
    dest.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{dest.name}.partial-"
    for stale in os.listdir(dest.parent):  # left by a crash
        if stale.startswith(prefix):
            shutil.rmtree(dest.parent / stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=dest.parent))
    walk = _Walk(caps)
    try:
        os.chmod(tmp, 0o755)
        try:
            fd = _open_below(base, src.relative_to(base).parts)
        except OSError as exc:  # O_NOFOLLOW | O_DIRECTORY on a link: ENOTDIR
            walk.drop(src.name, "link" if exc.errno in (errno.ELOOP, errno.ENOTDIR) else "unreadable")
        else:
            try:
                walk.folder(fd, tmp, "", 0)
            finally:
                os.close(fd)
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=prefix, dir=dest.parent))
            os.rename(dest, old / "old")
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return walk.report


def complete_library(lib: str | Path, release_lib: str | Path, course_lib: str | Path) -> list[str]:
    """Add to the sanitized ``lib`` (a submission's ``source_lib``) the release's provided
    modules it lacks: those with no task (no solution region in ``course_lib``, the
    instructor's ``source_lib``), such as ``_tasks.py``, whose ``unwritten`` every chapter
    module imports, or ``checking.py``. They are the course's own, the same for everyone,
    so a student who handed in only their chapter's module is graded on it rather than
    failing at its import. Returns the names added."""
    lib, release_lib = Path(lib), Path(release_lib)
    if not lib.is_dir() or not release_lib.is_dir():
        return []
    added = []
    for path in library_files(course_lib):
        target, released = lib / path.name, release_lib / path.name
        if (
            path.parent == Path(course_lib)
            and not os.path.lexists(target)
            and released.is_file()
            and not find_regions(path)
        ):
            shutil.copyfile(released, target)
            added.append(path.name)
    return added


def take_in(nbgrader_root: str | Path, assignment: str, student: str, caps: Caps = Caps()) -> Report:
    """Sanitize ``submitted/<student>/<assignment>`` into ``intake/``; write and return the report.

    The copy's ``source_lib`` is completed with the release's provided modules it lacks
    (``complete_library``).
    """
    root = Path(nbgrader_root)
    report = sanitize(
        root / "submitted" / student / assignment,
        root / INTAKE / student / assignment,
        caps,
        base=root / "submitted",
    )
    complete_library(
        root / INTAKE / student / assignment / "source_lib",
        root / "release" / assignment / "source_lib",
        root.parent / "source_lib",
    )
    path = report_path(root, assignment, student)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(report.to_json())
    os.replace(tmp, path)
    return report


class IntakeNotes(NbGraderPreprocessor):
    """First of the sanitize pass: remove forged grader notes, then add what the intake left out.

    The messages come from the intake report the grader wrote for this
    assignment and student (``report_path`` in the nbgrader course root).
    """

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        info = resources["nbgrader"]
        notes.strip_forged(nb)
        notes.add(nb, *read_messages(self.config.CourseDirectory.root, info["assignment"], info["student"]))
        return nb, resources
