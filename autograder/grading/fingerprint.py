"""Fingerprints: what a grade depends on, so that a rerun grades only what changed."""

import hashlib
import os
import stat
from pathlib import Path

from ..course import PACKAGE_DIR, Chapter, Course
from ..nbgrader_ext import intake


def _digest(paths, root):
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(str(path.relative_to(root)).encode("utf-8", "surrogateescape") + b"\0")
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # a link here fails, never followed
        with open(fd, "rb") as fh:
            h.update(hashlib.file_digest(fh, "sha256").digest())
    return h.hexdigest()


def _files(folder):
    """The regular files below ``folder`` (no link followed or listed), but ``intake.IGNORED``."""
    found = []
    for parent, dirs, files in os.walk(folder):  # does not enter links to folders
        dirs[:] = [d for d in dirs if d not in intake.IGNORED]
        found += [
            Path(parent, f)
            for f in files
            if f not in intake.IGNORED and stat.S_ISREG(os.lstat(os.path.join(parent, f)).st_mode)
        ]
    return found


def grader_fingerprint(course: Course, chapter: Chapter) -> str:
    """Everything a grade depends on besides the submission."""
    parts = [
        _digest(_files(course.source_lib), course.source_lib),
        _digest([p for p in _files(PACKAGE_DIR) if p.suffix == ".py"], PACKAGE_DIR),
        _digest(
            _files(course.folder("source", chapter.assignment)), course.folder("source", chapter.assignment)
        ),
        _digest([course.nbgrader_root / "nbgrader_config.py"], course.nbgrader_root),
        course.db_url,
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()
