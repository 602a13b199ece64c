"""Build the student release of the course (COURSE_SPEC section 5).

For each chapter: ``book/<module>.ipynb`` is copied alone into nbgrader's
source folder (so nbgrader never copies or overwrites ``source_lib``), nbgrader's
``generate_assignment`` strips hidden tests and records the grade cells in the
gradebook, and the stubbed ``source_lib`` is written next to the released
notebook. Links to book pages and citations in the notebooks' text are rewritten
on the way (absolute URLs of the published book, author-year text: ``student_text.py``),
since the notebooks are read outside the book. Finally the whole release is
searched for solution lines and hidden tests; one found aborts the release.
"""

import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import nbformat

from .course import CHAPTERS, Chapter, Course
from .grading.lock import course_lock
from .nbgrader_ext.nbgrader_cli import NbgraderError, nbgrader
from .regions import HIDDEN_BEGIN, HIDDEN_END, library_files, solution_lines, stub_text
from .student_text import bibliography, edition_config, rewrite_notebook


class ReleaseError(NbgraderError):
    """The release could not be made, or would have leaked a secret."""


def hidden_test_lines(notebook_path: str | Path) -> set[str]:
    """Lines inside hidden-test regions of a notebook (markers excluded)."""
    found, inside = set(), False
    for cell in nbformat.read(notebook_path, as_version=4).cells:
        for line in cell.source.split("\n"):
            if HIDDEN_BEGIN in line:
                inside = True
            elif HIDDEN_END in line:
                inside = False
            elif inside and line.strip():
                found.add(line.strip())
    return found


def secret_lines(course: Course) -> set[str]:
    """Every line that must never reach students: solution lines and hidden tests."""
    lines = solution_lines(course.source_lib)
    for chapter in CHAPTERS:
        lines |= hidden_test_lines(course.book / chapter.notebook)
    return lines


def write_stubbed_library(course: Course, dest: Path) -> None:
    """Write the student ``source_lib`` (every solution region stubbed) into ``dest``."""
    if dest.exists():
        shutil.rmtree(dest)
    for path in library_files(course.source_lib):
        target = dest / path.relative_to(course.source_lib)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(stub_text(path))


def find_leaks(texts: Iterable[tuple[str, str]], secrets: Iterable[str]) -> list[tuple[str, str]]:
    """(where, line) for each secret line found in ``texts`` (an iterable of (where, text))."""
    leaks = []
    for where, text in texts:
        for line in secrets:
            if line in text:
                leaks.append((where, line))
    return leaks


def release_texts(folder: str | Path) -> Iterator[tuple[str, str]]:
    """(path, text) of every file under ``folder`` (a release, the student edition), ``.git``
    left out: a secret must not hide in a file of a kind the search skips."""
    for path in sorted(Path(folder).rglob("*")):
        if path.is_file() and ".git" not in path.relative_to(folder).parts:
            yield str(path), path.read_text(errors="replace")


def release(
    course: Course, chapters: Iterable[Chapter] = CHAPTERS, log: Callable[[str], object] = print
) -> list[Path]:
    """Generate the release of ``chapters``; returns the release folders. Holds the course's
    lock (``CourseBusy`` while another command changes the course)."""
    with course_lock(course, "release"):
        return _release(course, chapters, log)


def _release(course: Course, chapters: Iterable[Chapter], log: Callable[[str], object]) -> list[Path]:
    folders = []
    config, bib = edition_config(course.root), bibliography(course.root)
    course.nbgrader_root.mkdir(exist_ok=True)
    for chapter in chapters:
        source = course.folder("source", chapter.assignment)
        if source.exists():
            shutil.rmtree(source)
        source.mkdir(parents=True)
        # links to book pages and citations made to work outside the book
        nb = nbformat.read(course.book / chapter.notebook, as_version=4)
        nbformat.write(rewrite_notebook(nb, config, bib), source / chapter.notebook)
        log(f"Releasing {chapter.assignment}: nbgrader generate_assignment")
        nbgrader(course, "generate_assignment", chapter.assignment, "--force")
        out = course.folder("release", chapter.assignment)
        write_stubbed_library(course, out / "source_lib")
        folders.append(out)
    leaks = find_leaks((t for f in folders for t in release_texts(f)), secret_lines(course))
    if leaks:
        where, line = leaks[0]
        raise ReleaseError(f"{len(leaks)} secret line(s) in the release, e.g. {line!r} in {where}")
    for out in folders:
        log(f"Released {out.relative_to(course.root)}")
    return folders
