"""Visible equals hidden (#15, item 3): what the notebook's check cells say about a
submission is what its trusted checks decide.

For every chapter, every submission of the corpus's sample class except the hostile
ones (``attack-*``) runs the released notebook's check cells (hidden tests stripped,
as the release strips them) on its own ``source_lib``, in a real Jupyter kernel. Each
graded test cell's outcome (raised or not) is compared with the trusted verdicts the
validation guarantees for that submission: it fails exactly ``sub.fails`` (``None``:
every check of the chapter). A visible cell passes exactly when the trusted checks it
names pass, with one narrow exception: a visible cell runs the student's own versions
of the graded functions its function builds on, where the trusted check lends the
course's (``Trial.reference_functions``, ``Check.reference_modules``). It may then
fail because of such a prerequisite, and its message must say so, naming the
prerequisite function or its task.

Speed (about 2 minutes for the six chapters on 2 cores): one kernel per chapter,
reused across its submissions (the namespace reset and ``source_lib`` purged from
``sys.modules`` between them, so TensorFlow is imported once per chapter), running
only the check cells and the cells defining names they use (no training runs or
figures: cells tagged ``grading-skip`` are never needed). A check cell is not run
again for a submission whose ``source_lib`` modules that the cell can reach are
textually those of an earlier run: it reuses that run's outcome (the Keras cells of
Chapter 4 for the numpy mutants, for example).
"""

import ast
import hashlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import pytest

from autograder import checks
from autograder.corpus import corpus, library_texts
from autograder.course import CHAPTERS, Course
from autograder.regions import BEGIN
from autograder.release import HIDDEN_BEGIN, HIDDEN_END
from autograder.sandbox.policy import QUIET_TENSORFLOW

REPO = Path(__file__).resolve().parents[1]

COURSE = Course(REPO)
KERNEL_ENV = {
    **QUIET_TENSORFLOW,
    "MPLBACKEND": "Agg",
    "PYTHONDONTWRITEBYTECODE": "1",
}
CELL_TIMEOUT = 600


def visible_source(source):
    """A grade cell's source as the release has it: the hidden-test region removed."""
    kept, inside = [], False
    for line in source.split("\n"):
        if HIDDEN_BEGIN in line:
            inside = True
        elif HIDDEN_END in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept).rstrip() + "\n"


@dataclass
class GradeCell:
    index: int  # in the instructor notebook
    grade_id: str
    checks: tuple  # trusted check names in its hidden part


@dataclass
class Plan:
    """What to run of a chapter's notebook: code cells (index, visible source)."""

    chapter: object
    cells: list  # (index, source)
    grade_cells: list  # GradeCell
    modules: dict = field(default_factory=dict)  # cell index -> source_lib modules it may reach
    used_later: set = field(default_factory=set)  # cells defining names later cells use


def _names(tree):
    """(names a cell defines at top level, names it loads)."""
    defined, loaded = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (defined if isinstance(node.ctx, ast.Store) else loaded).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                defined.add((alias.asname or alias.name).split(".")[0])
    return defined, loaded


def _module_aliases(sources):
    """Name bound in the notebook -> source_lib module it refers to (``ff`` -> feedforward)."""
    aliases = {}
    for source in sources:
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("source_lib"):
                parts = node.module.split(".")
                for alias in node.names:
                    if len(parts) == 1:  # from source_lib import feedforward as ff
                        aliases[alias.asname or alias.name] = alias.name
                    else:  # from source_lib.keras_layers import BatchNormLayer
                        aliases[alias.asname or alias.name] = parts[1]
    return aliases


def plan_for(chapter):
    """The cells to run: every grade cell, and the code cells defining names they use."""
    book = nbformat.read(COURSE.book / chapter.notebook, as_version=4)
    code = []
    grade_cells = []
    for index, cell in enumerate(book.cells):
        if cell.cell_type != "code":
            continue
        meta = cell.metadata.get("nbgrader", {})
        # solutions live in source_lib: the release strips only the hidden tests of code cells
        assert BEGIN not in cell.source, f"{chapter.notebook} cell {index}"
        if meta.get("grade"):
            names = tuple(checks.checks_named_in(cell.source))
            assert names, f"{chapter.notebook} cell {index}: a grade cell names no trusted check"
            grade_cells.append(GradeCell(index, meta["grade_id"], names))
            code.append((index, visible_source(cell.source), True))
        elif "grading-skip" not in cell.metadata.get("tags", []):
            code.append((index, cell.source, False))
    # Keep a non-graded cell only if a later kept cell loads a name it defines
    # (walking backwards, so that helpers of helpers are kept too).
    needed, kept = set(), []
    for index, source, graded in reversed(code):
        tree = ast.parse(source)
        defined, loaded = _names(tree)
        if graded or defined & needed or index == code[0][0]:
            kept.append((index, source))
            needed |= loaded - defined
    kept.reverse()
    aliases = _module_aliases([s for _, s in kept])
    # The modules a cell reaches: those it names, and those of the cells defining the
    # names it uses without defining them itself; a grade cell whose names no later
    # cell uses can be skipped when its outcome is known (see ``run_chapter``).
    modules, definer, used_later = {}, {}, set()
    for index, source in kept:
        defined, loaded = _names(ast.parse(source))
        outside = loaded - defined
        modules[index] = {aliases[n] for n in loaded if n in aliases}
        for name in outside:
            if name in definer:
                modules[index] |= modules[definer[name]]
                used_later.add(definer[name])
        for name in defined:
            definer[name] = index
    return Plan(chapter, kept, grade_cells, modules, used_later)


def prerequisites(check_name):
    """The functions that ``check_name`` runs in the course's version, not the student's:
    (trusted checks of its own module's lent functions, earlier chapters' modules)."""
    chk = checks.get(check_name)
    lent = set()
    for trial in checks.trials_for(COURSE, chk, "solution"):
        lent |= {f"{chk.module}.{f}" for f in trial.reference_functions}
    return lent, set(chk.reference_modules)


def broken_prerequisites(chapter, sub, fails, check_names):
    """The trusted checks of the prerequisites of ``check_names`` that ``sub`` breaks: lent
    functions it fails, and every function of an earlier module it edits (the chapter's
    ``fails`` lists only its own checks; an edit of an earlier module is a bug there)."""
    edited = {edit.module or chapter.module for edit in sub.edits}
    broken = set()
    for name in check_names:
        lent, modules = prerequisites(name)
        broken |= lent & fails
        for module in modules & edited:
            broken |= set(corpus(module).ALL)
    return broken


def mentions(message, check_name):
    """Whether a failure message names the function of ``check_name`` or its task."""
    chk = checks.get(check_name)
    function = chk.function.split(".")[-1]
    return (
        re.search(rf"\b{re.escape(function)}\b", message) is not None
        or re.search(rf"\bTask {re.escape(chk.task)}\b", message) is not None
    )


# A cell's outcome depends on the source_lib modules it reaches. Those, with their
# imports inside source_lib (lenet builds on Chapters 1-3).
LIBRARY_IMPORTS = {"lenet": {"feedforward", "convolution", "pooling"}}


def _reach(modules):
    out = set(modules)
    for m in modules:
        out |= LIBRARY_IMPORTS.get(m, set())
    return out | {"checking", "gradcheck", "mistakes", "data", "__init__"}


def _digest(texts, modules):
    h = hashlib.sha256()
    for rel in sorted(texts, key=str):
        if rel.stem in modules:
            h.update(str(rel).encode() + b"\0" + texts[rel].encode() + b"\0")
    return h.hexdigest()


RESET = """\
get_ipython().run_line_magic("reset", "-f")
import importlib as _importlib, os as _os, sys as _sys
for _name in [m for m in _sys.modules if m == "source_lib" or m.startswith("source_lib.")]:
    del _sys.modules[_name]
_sys.path[:] = [p for p in _sys.path if not p.startswith({root!r})]
_sys.path.insert(0, {folder!r})
_os.chdir({folder!r})
_importlib.invalidate_caches()
del _importlib, _os, _sys
"""


def _error_of(cell):
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output['ename']}: {output['evalue']}"
    return None


def run_chapter(chapter, submissions, workdir):
    """Run the chapter's check cells for every submission in one kernel.

    Returns ``{student: {cell index: error text or None}}`` and the seconds taken.
    """
    from nbclient import NotebookClient

    plan = plan_for(chapter)
    started = time.monotonic()
    root = str(workdir)
    book = nbformat.read(COURSE.book / chapter.notebook, as_version=4)
    # nbclient stores each executed cell at its index: room for the book's cells and the reset
    nb = nbformat.v4.new_notebook(
        metadata=book.metadata, cells=[nbformat.v4.new_code_cell("") for _ in range(len(book.cells) + 1)]
    )
    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": root}},
    )
    results = {}
    memo = {}  # (cell index, digest of the modules it reaches) -> outcome
    env = dict(os.environ, **KERNEL_ENV)
    with client.setup_kernel(env=env):
        for sub in submissions:
            folder = workdir / sub.student
            texts = library_texts(COURSE, chapter, sub)
            for rel, text in texts.items():
                (folder / "source_lib" / rel).parent.mkdir(parents=True, exist_ok=True)
                (folder / "source_lib" / rel).write_text(text)
            reset = nbformat.v4.new_code_cell(RESET.format(root=root, folder=str(folder)))
            client.execute_cell(reset, len(book.cells))
            assert _error_of(reset) is None, _error_of(reset)
            outcome = {}
            for index, source in plan.cells:
                key = (index, _digest(texts, _reach(plan.modules[index])))
                graded = any(g.index == index for g in plan.grade_cells)
                # a grade cell whose modules are as in an earlier run reuses its outcome,
                # unless a later cell uses a name it defines
                if graded and key in memo and index not in plan.used_later:
                    outcome[index] = memo[key]
                    continue
                cell = nbformat.v4.new_code_cell(source)
                client.execute_cell(cell, index)
                outcome[index] = _error_of(cell)
                if graded:
                    memo[key] = outcome[index]
            results[sub.student] = outcome
    return plan, results, time.monotonic() - started


def judge(chapter, plan, results, subs):
    """Disagreements between visible cells and trusted verdicts, as readable lines."""
    everything = frozenset(corpus(chapter.module).ALL)
    problems = []
    for sub in subs:
        fails = everything if sub.fails is None else frozenset(sub.fails)
        for cell in plan.grade_cells:
            error = results[sub.student][cell.index]
            if sub.student.startswith("alt-float32") and error is not None:
                problems.append(
                    f"{chapter.module} {sub.student} {cell.grade_id}: a float32 "
                    f"alternative fails a visible cell: {error}"
                )
                continue
            trusted_pass = not (set(cell.checks) & fails)
            visible_pass = error is None
            if visible_pass == trusted_pass:
                continue
            where = f"{chapter.module} {sub.student} {cell.grade_id}"
            if visible_pass:
                problems.append(f"{where}: visible cell passes, trusted check fails")
                continue
            broken = sorted(broken_prerequisites(chapter, sub, fails, cell.checks))
            if not broken:
                problems.append(f"{where}: visible cell fails, trusted checks pass: {error}")
            elif not any(mentions(error, p) for p in broken):
                problems.append(
                    f"{where}: visible cell fails because of its prerequisite(s) "
                    f"{broken}, but its message does not name them: {error}"
                )
    return problems


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_visible_checks_agree_with_trusted_verdicts(chapter, tmp_path):
    subs = [s for s in corpus(chapter.module).SAMPLE_CLASS if not s.student.startswith("attack")]
    assert {"solution", "blank"} <= {s.student for s in subs}
    assert any(s.student.startswith("alt-float32") for s in subs)
    # the solution first: its run is the one others reuse outcomes from
    subs.sort(key=lambda s: s.student != "solution")
    plan, results, seconds = run_chapter(chapter, subs, tmp_path)
    print(f"{chapter.module}: {len(subs)} submissions in {seconds:.1f} s")
    problems = judge(chapter, plan, results, subs)
    assert not problems, "\n".join(problems)
