"""The grading worker's zygote (``sandbox/zygote.py``): what it preloads, and its life.

A chapter's kernels and probes import what its notebook and its ``source_lib``
modules import; the zygote imports those of them that belong to the Python
installation once, so that each kernel and probe process starts warm. The list is
read from the instructor's sources (never the student's), so a submission cannot
choose what the grader imports. ``NNFS_WARM_START=0`` turns the zygote off: every
kernel and probe process is then a new interpreter, as before.
"""

import ast
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import nbformat

from ..course import Course, read_chapters
from ..sandbox import policy, zygote
from .preprocessors import SKIP_TAG

ALWAYS = ("numpy", "ipykernel.kernelapp")  # every kernel imports these


def imported(source: str) -> set[str]:
    """The modules ``source`` imports anywhere (functions included), as written."""
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a notebook cell of IPython magics
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            if node.module == "source_lib":
                names.update(f"source_lib.{alias.name}" for alias in node.names)
    return names


def chapter_sources(course: Course, assignment: str) -> list[str]:
    """The code a chapter runs while graded: its book notebook's code cells (less the
    demonstrations skipped while grading) and the ``source_lib`` modules they reach."""
    chapter = next((c for c in read_chapters(course.root) if assignment in (c.assignment, c.module)), None)
    if chapter is None:
        return []
    nb = nbformat.read(course.book / chapter.notebook, as_version=4)
    sources = [
        c.source for c in nb.cells if c.cell_type == "code" and SKIP_TAG not in c.metadata.get("tags", [])
    ]
    pending = [f"source_lib.{m}" for m in chapter.modules]
    pending += [n for s in sources for n in imported(s) if n.startswith("source_lib.")]
    seen = set()
    while pending:
        name = pending.pop()
        path = course.root / (name.replace(".", "/") + ".py")
        if name in seen or not path.is_file():
            continue
        seen.add(name)
        text = path.read_text()
        sources.append(text)
        pending += [n for n in imported(text) if n.startswith("source_lib.")]
    return sources


def preload(course: Course, assignment: str) -> list[str]:
    """What the zygote imports for ``assignment`` (or chapter module): the modules of the
    Python installation its code imports, and ``ALWAYS``."""
    names = set(ALWAYS)
    for source in chapter_sources(course, assignment):
        names.update(n for n in imported(source) if not n.startswith(("source_lib", "autograder")))
    return sorted(n for n in names if zygote.preloadable(n))


def enabled() -> bool:
    return os.environ.get("NNFS_WARM_START", "1") != "0"


class Zygote:
    """The worker's zygote: started for a chapter's preload list, again when it changes;
    its address in ``os.environ[zygote.ADDRESS]``, where the kernel launcher (started
    with this environment) and the probes find it."""

    def __init__(self, parent: str | os.PathLike[str]):
        self.parent = parent  # where its folder goes: not a job's, which goes with the job
        self.proc, self.folder, self.modules = None, None, None

    def ready_for(self, modules: Iterable[str]) -> None:
        modules = list(modules)
        if self.proc is not None and self.proc.poll() is None and modules == self.modules:
            return
        self.stop()
        self.folder = tempfile.mkdtemp(prefix="nnfs-zygote-", dir=self.parent)  # 0700: root's alone
        home = os.path.join(self.folder, "home")
        os.mkdir(home)
        env = policy.student_env(home, os.path.dirname(sys.executable))
        env.update(MPLCONFIGDIR=os.path.join(home, ".matplotlib"), IPYTHONDIR=os.path.join(home, ".ipython"))
        self.proc, address = zygote.start(self.folder, modules, env)
        self.modules = modules
        os.environ[zygote.ADDRESS] = address

    def stop(self) -> None:
        os.environ.pop(zygote.ADDRESS, None)
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


def warm_for(course: Course, assignment: str, keeper: Zygote) -> None:
    """Have ``keeper`` ready for ``assignment`` (or stopped, when warm starts are off)."""
    if enabled():
        keeper.ready_for(preload(course, assignment))
    else:
        keeper.stop()


def course_of(nbgrader_root: str | os.PathLike[str]) -> Course:
    return Course(Path(nbgrader_root).resolve().parent)
