"""The grading worker's zygotes (``sandbox/zygote.py``): what they preload, and their life.

A chapter's kernels import what its notebook and its ``source_lib`` modules import,
its probes what its modules import; a zygote for each imports those of them that
belong to the Python installation once, so that each kernel and probe process starts
warm. The list is
read from the instructor's sources (never the student's), so a submission cannot
choose what the grader imports. ``NNFS_WARM_START=0`` turns them off: every
kernel and probe process is then a new interpreter, as before.
"""

import ast
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path

import nbformat

from ..course import Course, read_chapters
from ..imports import local_modules, parse
from ..probes.lending import LendingZygote
from ..regions import ONLINE_ONLY
from ..sandbox import policy, zygote
from .preprocessors import SKIP_TAG

# What every process of a kind imports, whatever the chapter: the kernel, IPython; the
# probe runner, numpy. A probe's zygote holds no more than its module's imports, so the
# student's code finds there what it would find in a new interpreter that imported it.
# A kernel imports the rest of ``KERNEL`` as it starts, the debugger's debugpy first:
# preloaded, a kernel starts with half the CPU (about 0.1 s less per submission).
KERNEL = (
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.debugger",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.extensions.storemagic",
    "pdb",
    "psutil",
    "sqlite3",
    "tornado.platform.asyncio",
)
KINDS = {
    zygote.KERNEL_ADDRESS: ("numpy", *KERNEL),
    zygote.PROBE_ADDRESS: ("numpy",),
}


def imported(source: str) -> set[str]:
    """The absolute imports ``source`` may make while graded (functions included):
    ``import a.b`` gives ``a.b``, ``from a import b`` gives ``a`` (``b`` may be no module).

    Left out, since a graded run loads nothing by them: an import of a module under
    ``if "<it>" in sys.modules:`` (made only once something else loaded it:
    ``seed_everything`` seeds TensorFlow only where a chapter uses it), and one marked
    ``ONLINE_ONLY``. Preloading them would put TensorFlow into chapters that never use
    it, making every kernel's start slower and its ``sys.modules`` unlike a new one's.
    """
    tree = parse(source)
    lines = source.splitlines()
    names: set[str] = set()

    def visit(node: ast.AST, loaded: frozenset[str]) -> None:
        found = []
        if isinstance(node, ast.Import):
            found = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found = [node.module]
        if found and ONLINE_ONLY not in lines[node.lineno - 1]:
            names.update(n for n in found if n.split(".")[0] not in loaded)
        guard = _loaded_already(node)
        for child in ast.iter_child_nodes(node):
            visit(child, loaded | {guard} if guard and child in node.body else loaded)

    if tree:
        visit(tree, frozenset())
    return names


def _loaded_already(node: ast.AST) -> str | None:
    """The top-level package ``X`` when ``node`` is ``if "X..." in sys.modules:``."""
    if not isinstance(node, ast.If) or not isinstance(test := node.test, ast.Compare):
        return None
    where = test.comparators[0]
    if (
        len(test.ops) == 1
        and isinstance(test.ops[0], ast.In)
        and isinstance(test.left, ast.Constant)
        and isinstance(test.left.value, str)
        and isinstance(where, ast.Attribute)
        and where.attr == "modules"
        and isinstance(where.value, ast.Name)
        and where.value.id == "sys"
    ):
        return test.left.value.split(".")[0]
    return None


def chapter_sources(course: Course, assignment: str, kind: str) -> list[str]:
    """The code a chapter runs while graded, in a kernel (its book notebook's code cells,
    less the demonstrations skipped while grading, and the local modules they run) or in
    a probe (its modules and the local modules they run)."""
    chapter = next((c for c in read_chapters(course.root) if assignment in (c.assignment, c.module)), None)
    if chapter is None:
        return []
    notebook = course.book / chapter.notebook
    code = [f"import source_lib.{m}" for m in chapter.modules]
    if kind == zygote.KERNEL_ADDRESS:
        nb = nbformat.read(notebook, as_version=4)
        code += [
            c.source for c in nb.cells if c.cell_type == "code" and SKIP_TAG not in c.metadata.get("tags", [])
        ]
    return code + [f.read_text() for f in local_modules(notebook, code, course.root)]


def preload(course: Course, assignment: str, kind: str = zygote.KERNEL_ADDRESS) -> list[str]:
    """What the zygote of ``kind`` (``KINDS``) imports for ``assignment`` (or chapter
    module): the modules of the Python installation that code imports, and its kind's."""
    names = set(KINDS[kind])
    for source in chapter_sources(course, assignment, kind):
        names.update(n for n in imported(source) if n.split(".")[0] not in sys.stdlib_module_names)
    return sorted(
        n for n in names if not n.startswith(("source_lib", "autograder")) and zygote.preloadable(n)
    )


def enabled() -> bool:
    return os.environ.get("NNFS_WARM_START", "1") != "0"


class Zygote:
    """One of the worker's zygotes: started for a preload list, again when it changes; its
    address in ``os.environ[variable]``, where the kernel launcher (started with this
    environment) or the probes find it."""

    def __init__(self, parent: str | os.PathLike[str], variable: str):
        self.parent = parent  # where its folder goes: not a job's, which goes with the job
        self.variable = variable
        self.proc, self.folder, self.modules, self.address = None, None, None, None

    def ready_for(self, modules: Iterable[str]) -> None:
        modules = list(modules)
        if self.proc is not None and self.proc.poll() is None and modules == self.modules:
            return
        self.stop()
        self.folder = tempfile.mkdtemp(prefix="nnfs-zygote-", dir=self.parent)  # 0700: root's alone
        home = os.path.join(self.folder, "home")
        os.mkdir(home)
        env = policy.kernel_env(home, os.path.dirname(sys.executable))
        self.proc, self.address = zygote.start(self.folder, modules, env)
        self.modules = modules
        os.environ[self.variable] = self.address

    def stop(self) -> None:
        os.environ.pop(self.variable, None)
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class Zygotes:
    """The worker's two zygotes (``KINDS``): its kernels' and its probes'; and its lending
    zygote, whose reference servers run the course's functions for the checks (trusted,
    outside the sandbox: ``probes/lending.py``)."""

    def __init__(self, parent: str | os.PathLike[str]):
        self.each = {kind: Zygote(parent, kind) for kind in KINDS}
        self.lending = LendingZygote(parent)

    def ready_for(self, course: Course, assignment: str) -> None:
        """Ready for ``assignment`` (or stopped, when ``NNFS_WARM_START=0``)."""
        for kind, keeper in self.each.items():
            if enabled():
                keeper.ready_for(self._preload(course, assignment, kind))
            else:
                keeper.stop()
        if not enabled():
            self.lending.stop()
            return
        try:
            self.lending.ready()
        except RuntimeError:  # each reference server then starts a new interpreter
            self.lending.stop()

    @functools.cache  # noqa: B019 (one per worker, for the worker's life)
    def _preload(self, course: Course, assignment: str, kind: str) -> tuple[str, ...]:
        return tuple(preload(course, assignment, kind))

    def stop(self) -> None:
        for keeper in self.each.values():
            keeper.stop()
        self.lending.stop()


def course_of(nbgrader_root: str | os.PathLike[str]) -> Course:
    return Course(Path(nbgrader_root).resolve().parent)
