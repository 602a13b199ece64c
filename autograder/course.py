"""Where things live in a course checkout, and which chapters it has.

Adding a chapter: a notebook in ``book/``, a module in ``source_lib/``, trusted
checks in ``autograder/checks/<module>.py``, a mutant corpus in
``autograder/corpus/<module>.py``, and one ``Chapter`` line below.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

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


CHAPTERS = [
    Chapter(1, "feedforward", "Feed-forward networks"),
    Chapter(2, "convolution", "Convolution"),
    Chapter(3, "pooling", "Pooling"),
    Chapter(4, "normalization", "Normalization", extra_modules=("keras_layers",)),
    Chapter(5, "autoencoder", "Sparse autoencoders"),
    Chapter(6, "lenet", "LeNet"),
]


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
