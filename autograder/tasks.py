"""The task registry: every task of the course, read from ``source_lib``'s solution regions.

A task is written once, in its function's docstring (``Task 1.1: ...``) around its
solution region (``regions.py``). Everything else that names a task derives from here:

- its trusted check is ``<module>.<qualified name>`` (``feedforward.sigmoid``,
  ``keras_layers.BatchNormLayer.call``): ``autograder.checks`` looks the task number up;
- its notebook grade cell is ``task_<chapter>_<n>_<function>`` (``task_1_1_sigmoid``),
  whose hidden part names the task's check (COURSE_SPEC 5): ``tests/test_tasks.py``
  asserts that every notebook's grade cells and hidden parts match;
- a chapter's tasks are those numbered ``<chapter>.<n>``: the corpus's ``ALL``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from .regions import all_regions

SOURCE_LIB = Path(__file__).resolve().parents[1] / "source_lib"


@dataclass(frozen=True)
class Task:
    number: str  # "1.1"
    module: str  # source_lib module: "feedforward"
    qualname: str  # "sigmoid", "BatchNormLayer.call"

    @property
    def name(self) -> str:
        """The trusted check's name: ``feedforward.sigmoid``."""
        return f"{self.module}.{self.qualname}"

    @property
    def function(self) -> str:
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def chapter(self) -> int:
        return int(self.number.split(".")[0])

    @property
    def grade_id(self) -> str:
        """The notebook grade cell's id: ``task_1_1_sigmoid``."""
        return f"task_{self.number.replace('.', '_')}_{self.function}"

    @property
    def order(self) -> tuple[int, int]:
        major, minor = self.number.split(".")
        return int(major), int(minor)


@functools.cache
def tasks(source_lib: Path = SOURCE_LIB) -> tuple[Task, ...]:
    """Every task of ``source_lib``, in task order."""
    found = [Task(r.task, r.path.stem, r.qualname) for r in all_regions(source_lib)]
    numbers = [t.number for t in found]
    duplicated = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicated:
        raise ValueError(f"task numbers used twice in {source_lib}: {', '.join(duplicated)}")
    return tuple(sorted(found, key=lambda t: t.order))


def task_named(name: str, source_lib: Path = SOURCE_LIB) -> Task:
    """The task whose trusted check is ``name`` (``feedforward.sigmoid``)."""
    for task in tasks(source_lib):
        if task.name == name:
            return task
    raise KeyError(f"no task in {source_lib} is {name!r}: its function needs a 'Task N.M:' docstring")


def task_of_grade_id(grade_id: str, source_lib: Path = SOURCE_LIB) -> Task | None:
    """The task a notebook grade cell grades, or None (a written answer)."""
    return next((t for t in tasks(source_lib) if t.grade_id == grade_id), None)


def chapter_tasks(chapter: int, source_lib: Path = SOURCE_LIB) -> list[Task]:
    """The tasks of chapter ``chapter`` (its number, 1-based), in order."""
    return [t for t in tasks(source_lib) if t.chapter == chapter]


def chapter_check_names(chapter: int, source_lib: Path = SOURCE_LIB) -> frozenset[str]:
    """The trusted checks of a chapter: one per task."""
    return frozenset(t.name for t in chapter_tasks(chapter, source_lib))
