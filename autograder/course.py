"""Where things live in a course checkout, and which chapters it has.

Adding a chapter: a notebook in ``book/``, a module in ``source_lib/``, trusted
checks in ``autograder/checks/<module>.py``, a mutant corpus in
``autograder/corpus/<module>.py``, and its line in ``_toc.yml``: ``CHAPTERS`` is read
from those (``read_chapters``).
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import yaml

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Chapter:
    number: int
    module: str  # source_lib module and book notebook stem
    title: str
    extra_modules: tuple = ()  # more source_lib modules of the chapter

    @property
    def modules(self) -> tuple[str, ...]:
        return (self.module, *self.extra_modules)

    @property
    def assignment(self) -> str:
        """nbgrader assignment id, e.g. ``ch01_feedforward``."""
        return f"ch{self.number:02d}_{self.module}"

    @property
    def notebook(self) -> str:
        return f"{self.module}.ipynb"


TOC_PART = "Chapters"  # the part of _toc.yml whose entries are the graded chapters
TITLE_RE = re.compile(r"#\s*Chapter (\d+):\s*(.+)")


def read_chapters(root: Path) -> list[Chapter]:
    """The chapters of the course checkout at ``root``, from what it holds already.

    Number and module: the order and files of ``_toc.yml``'s "Chapters" part. Title:
    the notebook's first line, ``# Chapter N: Title``. More modules: those holding the
    chapter's other tasks (``Task N.M`` docstrings in ``source_lib``).
    """
    from .tasks import chapter_tasks

    toc = yaml.safe_load((root / "_toc.yml").read_text(encoding="utf-8"))
    part = next((p for p in toc.get("parts", []) if p.get("caption") == TOC_PART), None)
    if part is None:
        raise ValueError(f"{root / '_toc.yml'} has no part captioned {TOC_PART!r}")
    chapters = []
    for number, entry in enumerate(part["chapters"], 1):
        module = Path(entry["file"]).name
        notebook = root / "book" / f"{module}.ipynb"
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
        first = "".join(cells[0]["source"]).splitlines()[0] if cells else ""
        match = TITLE_RE.fullmatch(first.strip())
        if not match or int(match.group(1)) != number:
            raise ValueError(f"{notebook} must start with '# Chapter {number}: <title>', not {first!r}")
        extra = sorted({t.module for t in chapter_tasks(number, root / "source_lib")} - {module})
        chapters.append(Chapter(number, module, match.group(2).strip(), tuple(extra)))
    return chapters


CHAPTERS = read_chapters(PACKAGE_DIR.parent)


def chapter_for(assignment: str) -> Chapter:
    for chapter in CHAPTERS:
        if assignment in (chapter.assignment, chapter.module):
            return chapter
    known = ", ".join(c.assignment for c in CHAPTERS)
    raise KeyError(f"unknown assignment {assignment!r}; the course has: {known}")


@dataclass(frozen=True)
class Course:
    """Paths of one course checkout (the repository root or a copy of it)."""

    root: Path

    @classmethod
    def find(cls, start: str | os.PathLike[str] | None = None) -> Course:
        """The course whose root holds ``start`` (default: the working directory).

        Falls back to the checkout this package was installed from.
        """
        here = Path(start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if (candidate / "_config.yml").is_file() and (candidate / "source_lib").is_dir():
                return cls(candidate)
        return cls(PACKAGE_DIR.parent)

    @property
    def book(self) -> Path:
        return self.root / "book"

    @property
    def source_lib(self) -> Path:
        return self.root / "source_lib"

    @property
    def nbgrader_root(self) -> Path:
        return self.root / "assignments"

    @property
    def kernels(self) -> Path:
        """Folder put on JUPYTER_PATH so nbgrader finds the sandboxed kernel."""
        return PACKAGE_DIR / "jupyter"

    @property
    def gradebook(self) -> Path:
        return self.nbgrader_root / "gradebook.db"

    @property
    def db_url(self) -> str:
        """The gradebook's SQLAlchemy URL (NNFS_GRADEBOOK overrides the SQLite file)."""
        return os.environ.get("NNFS_GRADEBOOK", f"sqlite:///{self.gradebook}")

    def folder(self, kind: str, *parts: str) -> Path:
        """``assignments/<kind>/...`` for kind in source, release, submitted, autograded, feedback."""
        return self.nbgrader_root.joinpath(kind, *parts)

    @property
    def grades_csv(self) -> Path:
        return self.nbgrader_root / "grades.csv"

    def import_reference(self, module: str) -> ModuleType:
        """Import the instructor's ``source_lib.<module>`` (trusted code only)."""
        root = str(self.root)
        if root not in sys.path:
            sys.path.insert(0, root)
        import importlib

        mod = importlib.import_module(f"source_lib.{module}")
        if Path(mod.__file__).resolve().parent != self.source_lib.resolve():
            raise RuntimeError(
                f"source_lib.{module} was imported from {mod.__file__}, not from the course at {self.root}"
            )
        return mod
