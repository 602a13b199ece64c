"""Fixture submissions: the instructor solution, the blank release, realistic bugs, attacks.

A mutant is a small edit of the instructor solution that a student could
plausibly make, with the trusted checks it must fail. Edits are exact text
replacements that must match once, so a changed solution breaks the corpus
loudly instead of silently testing nothing.

The bundled sample class (``SAMPLE_CLASS`` in each chapter's corpus module)
is what ``autograder sample-class`` puts into ``assignments/submitted`` and
what the end-to-end tests grade.
"""

import ast
import importlib
import re
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import nbformat

from ..course import Chapter, Course, chapter_for
from ..grading.lock import course_lock
from ..regions import completed_text, library_files, stub_text
from ..tasks import chapter_check_names


class CorpusError(ValueError):
    pass


@dataclass(frozen=True)
class Edit:
    """Replace ``old`` by ``new``; ``old`` must occur once (within ``function``, if given)."""

    old: str
    new: str
    function: str = None
    module: str = None  # the source_lib module to edit (default: the chapter's)

    def apply(self, text: str, where: str) -> str:
        start, end = 0, len(text)
        if self.function:
            start, end = _function_span(text, self.function, where)
            where = f"{where}, in {self.function}"
        segment = text[start:end]
        count = segment.count(self.old)
        if count != 1:
            raise CorpusError(f"{where}: expected {self.old!r} once, found it {count} times")
        return text[:start] + segment.replace(self.old, self.new) + text[end:]


def _function_span(text, name, where):
    """Character offsets of the module-level function ``name`` in ``text``."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            lines = text.split("\n")
            start = sum(len(line) + 1 for line in lines[: node.lineno - 1])
            end = sum(len(line) + 1 for line in lines[: node.end_lineno])
            return start, end
    raise CorpusError(f"{where}: no function {name}")


@dataclass(frozen=True)
class EditAll:
    """Replace every match of a regular expression (at least one must exist)."""

    pattern: str
    new: str
    module: str = None

    def apply(self, text: str, where: str) -> str:
        result, count = re.subn(self.pattern, self.new, text)
        if count == 0:
            raise CorpusError(f"{where}: {self.pattern!r} matches nothing")
        return result


# What a fixture submission is. "correct" and "mutant" are the instructor's own code,
# which validation may run without the sandbox; "blank" and "attack" never are.
KINDS = ("correct", "mutant", "blank", "attack")
TRUSTED_KINDS = ("correct", "mutant")


def chapter_checks(module: str) -> frozenset[str]:
    """The trusted checks of the chapter of ``module``: one per task (``autograder/tasks.py``)."""
    return chapter_check_names(chapter_for(module).number)


@dataclass(frozen=True)
class Submission:
    """How one fixture student's submission is made from the course.

    ``library`` is ``"solution"`` (the instructor's code, markers removed) or
    ``"release"`` (the untouched stubs); ``edits`` then change the chapter's
    module; ``cell`` is a code cell inserted after the notebook's setup cell;
    ``answer`` fills the written answers; ``transform`` is a function that
    changes the notebook further (in place); ``files`` is a function of the
    written submission folder that adds or replaces files (symlinks, FIFOs). ``fails`` names the trusted checks
    this submission must fail (all others must pass); ``None`` means all fail.
    """

    student: str
    description: str
    library: str = "solution"
    edits: tuple = ()
    cell: str = None
    answer: str = None
    fails: frozenset = field(default_factory=frozenset)
    transform: object = None
    files: object = None  # a function of the submission folder, called last (links, FIFOs...)
    kind: str = "mutant"  # one of KINDS: what the submission is, whatever its name

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.student}: kind must be one of {', '.join(KINDS)}, not {self.kind!r}")


def corpus(module: str) -> ModuleType:
    """The corpus module of a chapter (``autograder.corpus.<module>``)."""
    return importlib.import_module(f"{__name__}.{module}")


def library_texts(course: Course, chapter: Chapter, sub: Submission) -> dict[Path, str]:
    """Relative path -> text of the submission's ``source_lib``."""
    texts = {}
    for path in library_files(course.source_lib):
        rel = path.relative_to(course.source_lib)
        text = path.read_text()
        texts[rel] = completed_text(text) if sub.library == "solution" else stub_text(path, text)
    for edit in sub.edits:
        # the chapter's own module, not a namesake in a subpackage (diagrams/<module>_figures.py once shared its name)
        target = Path(*(edit.module or chapter.module).split(".")).with_suffix(".py")
        if target not in texts:
            raise CorpusError(f"{sub.student}: no module {target} in source_lib to edit")
        texts[target] = edit.apply(texts[target], f"{sub.student}: {target}")
    return texts


def make_submission(course: Course, chapter: Chapter, sub: Submission, dest: Path) -> Path:
    """Write ``sub`` as a submitted assignment folder ``dest`` (notebook + source_lib)."""
    release = course.folder("release", chapter.assignment)
    if not (release / chapter.notebook).exists():
        raise CorpusError(f"{release / chapter.notebook} is missing: run 'autograder release' first")
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for rel, text in library_texts(course, chapter, sub).items():
        (dest / "source_lib" / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / "source_lib" / rel).write_text(text)
    nb = nbformat.read(release / chapter.notebook, as_version=4)
    if sub.cell is not None:
        setup = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        nb.cells.insert(setup + 1, nbformat.v4.new_code_cell(sub.cell))
    if sub.answer is not None:
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("solution") and meta.get("grade") and cell.cell_type == "markdown":
                cell.source = sub.answer
    if sub.transform is not None:
        sub.transform(nb)
    nbformat.write(nb, dest / chapter.notebook)
    if sub.files is not None:
        sub.files(dest)
    return dest


def sample_class(
    course: Course, chapters: Iterable[Chapter], log: Callable[[str], object] = print
) -> list[Path]:
    """Write every chapter's ``SAMPLE_CLASS`` into ``assignments/submitted``, holding the
    course's lock (``CourseBusy`` while another command changes the course)."""
    written = []
    with course_lock(course, "sample-class"):
        for chapter in chapters:
            for sub in corpus(chapter.module).SAMPLE_CLASS:
                dest = course.folder("submitted", sub.student, chapter.assignment)
                written.append(make_submission(course, chapter, sub, dest))
            log(
                f"Sample class for {chapter.assignment}: {len(corpus(chapter.module).SAMPLE_CLASS)} submissions"
            )
    return written
