"""Notebooks that run for a student (#16, items 4-5): provided code never calls a task,
unwritten tasks say what to do (their own chapter's words, or a later chapter's), the
release's notebooks are what the book executes, and every check cell runs after a
restart with the setup cell alone.

Restart-and-Run-All on the stubbed release (it stops at the chapter's first task cell,
with that task's message) is in ``test_release``; carrying work from chapter to
chapter is in ``test_update``.
"""

import ast
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from test_visible_hidden import _error_of

from autograder.book import strip_regions
from autograder.course import CHAPTERS, Course
from autograder.regions import TASK_RE, completed_text, find_regions, library_files, stub_text
from autograder.sandbox.policy import QUIET_TENSORFLOW

REPO = Path(__file__).resolve().parents[1]
COURSE = Course(REPO)
KERNEL_ENV = {
    **QUIET_TENSORFLOW,
    "MPLBACKEND": "Agg",
    "PYTHONDONTWRITEBYTECODE": "1",
    "NNFS_OFFLINE": "1",
}

# Provided code that runs the student's work by design: the training loop of Chapter 6
# trains the student's model with the student's update, and its LeNet-5 chains the
# student's Chapter 1 layers. The notebook uses them only after
# the check cells of those tasks (the notebook test below treats a call to it as a call
# to the tasks it runs).
DRIVERS = {
    ("lenet", "accuracy"): {"loss"},
    ("lenet", "Solver._step"): {"loss", "sgd_momentum"},
    ("lenet", "LeNet5.loss"): {
        "affine_forward",
        "affine_backward",
        "relu_forward",
        "relu_backward",
        "softmax_loss",
    },
}


def _functions(tree):
    """(qualified name, node) of every function of a module, methods and nested ones too."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def module_name(path, source_lib):
    """``convolution`` for source_lib/convolution.py, ``diagrams.pooling_figures`` in a subpackage."""
    return ".".join(Path(path).relative_to(source_lib).with_suffix("").parts)


def _imported_module(module, node):
    """The library module a relative ``from ...x import y`` in ``module`` names."""
    package = module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
    return ".".join([*base, node.module])


def library_tasks(source_lib):
    """Module -> names of its task functions and methods; and module -> {name bound at its
    top level by ``from .x import y``: (x, y)}."""
    tasks, imports = {}, {}
    for path in library_files(source_lib):
        tree, module = ast.parse(path.read_text()), module_name(path, source_lib)
        tasks[module] = {
            name.split(".")[-1]
            for name, node in _functions(tree)
            if TASK_RE.match(ast.get_docstring(node) or "")
        }
        imports[module] = {
            (a.asname or a.name): (_imported_module(module, node), a.name)
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.level >= 1 and node.module
            for a in node.names
        }
    return tasks, imports


def task_calls_in_provided_code(source_lib):
    """(module, function, line, called task) for every call to a task outside a solution
    region: a name of the module or imported from another module that is a task there,
    or a method call ``obj.name(...)`` with ``name`` a task method of the library."""
    tasks, imports = library_tasks(source_lib)
    methods = set()
    for path in library_files(source_lib):
        for name, node in _functions(ast.parse(path.read_text())):
            if "." in name and TASK_RE.match(ast.get_docstring(node) or ""):
                methods.add(name.split(".")[-1])
    found = []
    for path in library_files(source_lib):
        module, text = module_name(path, source_lib), path.read_text()
        inside = set()
        for region in find_regions(path, text):
            inside |= set(range(region.begin + 1, region.end + 2))  # 1-based lines
        for name, node in _functions(ast.parse(text)):
            if TASK_RE.match(ast.get_docstring(node) or ""):
                continue  # a task's own provided lines may prepare its work
            for call in ast.walk(node):
                if not isinstance(call, ast.Call) or call.lineno in inside:
                    continue
                func, called = call.func, None
                if isinstance(func, ast.Name):
                    if func.id in tasks[module]:
                        called = func.id
                    elif func.id in imports[module]:
                        other, original = imports[module][func.id]
                        if original in tasks.get(other, ()):
                            called = f"{other}.{original}"
                elif isinstance(func, ast.Attribute) and func.attr in methods | tasks[module]:
                    called = func.attr
                if called:
                    found.append((module, name, call.lineno, called))
    return found


def test_provided_code_never_calls_a_task():
    found = task_calls_in_provided_code(COURSE.source_lib)
    unexpected = [f for f in found if (f[0], f[1]) not in DRIVERS]
    assert unexpected == [], (
        "provided code calls a task (it must work before the task is written):\n"
        + "\n".join(f"source_lib/{m}.py:{line} {func} calls {task}" for m, func, line, task in unexpected)
    )
    drivers = {(m, func) for m, func, _, _ in found}
    assert drivers == set(DRIVERS), "the list of drivers is out of date"


def test_the_provided_code_check_finds_a_provided_call_to_a_task(tmp_path):
    """The check above can fail: the provided fast convolution as it was (calling Task 2.1)."""
    lib = tmp_path / "source_lib"
    lib.mkdir()
    for path in library_files(COURSE.source_lib):
        target = lib / path.relative_to(COURSE.source_lib)  # diagrams/ is a subpackage
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text())
    text = (lib / "convolution.py").read_text()
    old = "    Ho, Wo = _windows(H, HH, stride, pad), _windows(W, WW, stride, pad)\n    dtype"
    assert text.count(old) == 1
    (lib / "convolution.py").write_text(
        text.replace(
            old,
            "    Ho = conv_output_size(H, HH, stride, pad)\n"
            "    Wo = conv_output_size(W, WW, stride, pad)\n    dtype",
        )
    )
    found = {(m, func, task) for m, func, _, task in task_calls_in_provided_code(lib)}
    assert ("convolution", "conv_forward_fast", "conv_output_size") in found


def _notebook_aliases(sources):
    """Name in the notebook -> source_lib module (``cv`` -> convolution), and name ->
    (module, function) for ``from source_lib.m import f``."""
    modules, functions = {}, {}
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("source_lib"):
                parts = node.module.split(".")
                for a in node.names:
                    if len(parts) == 1:
                        modules[a.asname or a.name] = a.name
                    else:
                        functions[a.asname or a.name] = (parts[1], a.name)
    return modules, functions


def demonstration_task_calls(nb, tasks):
    """(cell index, call) of calls to tasks (or to the drivers that run them) in the code
    cells before the notebook's first grade cell."""
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    first_grade = next(i for i, c in code if c.metadata.get("nbgrader", {}).get("grade"))
    modules, functions = _notebook_aliases([c.source for _, c in code])
    drivers = {(m, f.split(".")[-1]): ts for (m, f), ts in DRIVERS.items()}
    found = []
    for index, cell in code:
        if index >= first_grade:
            break
        for call in ast.walk(ast.parse(cell.source)):
            if not isinstance(call, ast.Call):
                continue
            func, target = call.func, None
            if (
                isinstance(func, ast.Attribute)
                and isinstance(func.value, ast.Name)
                and func.value.id in modules
            ):
                target = (modules[func.value.id], func.attr)
            elif isinstance(func, ast.Name) and func.id in functions:
                target = functions[func.id]
            if target and (target[1] in tasks.get(target[0], ()) or target in drivers):
                found.append((index, f"{target[0]}.{target[1]}"))
    return found


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_demonstrations_before_the_first_task_call_no_task(chapter):
    tasks, _ = library_tasks(COURSE.source_lib)
    nb = nbformat.read(COURSE.book / chapter.notebook, as_version=4)
    assert demonstration_task_calls(nb, tasks) == []
    # the check can fail: a demonstration that calls a task
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    alias = "ff" if chapter.module == "feedforward" else None
    nb.cells.insert(
        first + 1,
        nbformat.v4.new_code_cell(
            f"from source_lib.{chapter.module} import {sorted(tasks[chapter.module])[0]} as probe\nprobe(1)"
            if alias is None
            else "ff.sigmoid(0.0)"
        ),
    )
    assert demonstration_task_calls(nb, tasks) != []


TIMING = re.compile(r"second|\btime\b|time\.|elapsed|duration|perf_counter|monotonic", re.I)


def timing_assertions(nb):
    """(cell index, source) of every ``assert`` about time in a notebook's code cells."""
    found = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = strip_regions(cell.source)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Assert) and TIMING.search(ast.get_source_segment(source, node.test)):
                found.append((index, ast.get_source_segment(source, node)))
    return found


def test_no_notebook_asserts_how_long_something_took():
    """A slower machine must not fail a chapter: timings are printed, never asserted."""
    for chapter in CHAPTERS:
        nb = nbformat.read(COURSE.book / chapter.notebook, as_version=4)
        assert timing_assertions(nb) == [], chapter.notebook
    probe = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "started = time.time()\nseconds = time.time() - started\nassert seconds < 120, 'slow'"
            )
        ]
    )
    assert len(timing_assertions(probe)) == 1


def test_release_notebooks_are_what_the_book_executes(released):
    """Every release notebook runs to the end on the solution, proven without running it.

    Running the six release notebooks to the end takes about 10 minutes of CPU. The
    book build (fixture ``book_html``, ``test_book``) already executes every
    ``book/*.ipynb`` to the end, strictly (an error fails the build), against the
    instructor ``source_lib``, with hidden tests and solution regions cut out by
    ``autograder.book.strip_regions``. A release notebook whose code cells are exactly
    those cells, run on a ``source_lib`` whose stubs hold the solution (the instructor
    code with its markers removed, ``regions.completed_text``: the same statements),
    runs the same code: it runs to the end too. This test proves the first part, cell by
    cell, against the notebooks nbgrader released; the setup cell makes ``source_lib``
    importable from either place. And no notebook asserts a timing (the test above).
    """
    for chapter in CHAPTERS:
        book = nbformat.read(COURSE.book / chapter.notebook, as_version=4)
        release = nbformat.read(
            released.folder("release", chapter.assignment, chapter.notebook), as_version=4
        )
        executed = [strip_regions(c.source) for c in book.cells if c.cell_type == "code"]
        released_code = [c.source for c in release.cells if c.cell_type == "code"]
        assert len(released_code) == len(executed), chapter.notebook

        def lines(source):
            return [line.rstrip() for line in source.rstrip().split("\n")]

        for index, (mine, theirs) in enumerate(zip(released_code, executed)):
            assert lines(mine) == lines(theirs), f"{chapter.notebook}: code cell {index} differs"
    for path in library_files(COURSE.source_lib):  # the solution spliced in: same statements
        assert ast.dump(ast.parse(completed_text(path.read_text()))) == ast.dump(
            ast.parse(path.read_text())
        ), path.name


def solution_library(folder):
    """Write the release's source_lib with the solution spliced into its stubs."""
    for path in library_files(COURSE.source_lib):
        target = folder / "source_lib" / path.relative_to(COURSE.source_lib)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(completed_text(path.read_text()))


RESTART = """\
get_ipython().run_line_magic("reset", "-f")
import sys as _sys
for _name in [m for m in _sys.modules if m == "source_lib" or m.startswith("source_lib.")]:
    del _sys.modules[_name]
get_ipython().run_line_magic("reset", "-f")
"""


def run_check_cells_after_restart(chapter, notebook, folder):
    """Run each check cell of ``notebook`` (in ``folder``) after a fresh namespace and the
    setup cell alone, in one kernel. Returns {grade id: error or None}."""
    from nbclient import NotebookClient

    code = [c for c in notebook.cells if c.cell_type == "code"]
    setup = code[0]
    checks = [c for c in code if c.metadata.get("nbgrader", {}).get("grade")]
    scratch = nbformat.v4.new_notebook(
        metadata=notebook.metadata, cells=[nbformat.v4.new_code_cell("") for _ in range(3)]
    )
    client = NotebookClient(
        scratch,
        timeout=600,
        allow_errors=True,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
    )
    results = {}
    with client.setup_kernel(env=dict(os.environ, **KERNEL_ENV)):
        for check in checks:
            for index, source in enumerate((RESTART, setup.source, check.source)):
                cell = nbformat.v4.new_code_cell(source)
                client.execute_cell(cell, index)
                if index < 2:
                    assert _error_of(cell) is None, f"{chapter.notebook}: {_error_of(cell)}"
            results[check.metadata.nbgrader.grade_id] = _error_of(cell)
    return results


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_every_check_cell_runs_after_a_restart_with_the_setup_cell_alone(released, chapter, tmp_path):
    """A student who restarts the kernel, runs the setup cell and then one check cell sees
    that check's verdict, never a NameError: each check defines or imports what it uses."""
    started = time.monotonic()
    release = released.folder("release", chapter.assignment)
    nb = nbformat.read(release / chapter.notebook, as_version=4)
    (tmp_path / chapter.notebook).write_text(nbformat.writes(nb))
    solution_library(tmp_path)
    results = run_check_cells_after_restart(chapter, nb, tmp_path)
    assert results and all(error is None for error in results.values()), results
    print(f"{chapter.module}: {len(results)} check cells in {time.monotonic() - started:.1f} s")


# --- what an unwritten task says ---------------------------------------------------

MESSAGES = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
import numpy as np
said = {}

def attempt(label, run):
    try:
        run()
        said[label] = "returned"
    except NotImplementedError as exc:
        said[label] = str(exc)

# a script's chapter is the latest one whose module it has imported
from source_lib import feedforward
attempt("own chapter, from a script", lambda: feedforward.affine_forward(np.ones((1, 2)), np.ones((2, 2)), np.ones(2)))
from source_lib import convolution
attempt("own chapter, a written task calling a stub", lambda: convolution.conv_layer_cost(8, 1, 2, 3))
from source_lib import lenet
net = lenet.ThreeLayerConvNet(input_dim=(1, 6, 6), num_filters=2, filter_size=3, hidden_dim=3, num_classes=2)
attempt("Chapter 6 code calling Chapter 1", lambda: net.loss(np.ones((1, 1, 6, 6)), np.array([0])))
attempt("a Chapter 6 script calling Chapter 1", lambda: lenet.affine_forward(np.ones((1, 2)), np.ones((2, 2)), np.ones(2)))
attempt("Chapter 6's own task", lambda: lenet.sgd_momentum(np.ones(2), np.ones(2), {}))
print(json.dumps(said))
"""


def test_an_unwritten_task_speaks_for_its_chapter_or_the_later_one(tmp_path):
    """Stubs say ``Task N.M: implement f`` in their own chapter; called by a later chapter
    (its module's code, or a notebook or script working with its module), they say which
    chapter uses them and how to bring the work."""
    lib = tmp_path / "source_lib"
    lib.mkdir()
    solved = {"lenet", "convolution"}  # Chapter 6 written, Chapter 1 not; conv_layer_cost written
    for path in library_files(COURSE.source_lib):
        text, module = path.read_text(), module_name(path, COURSE.source_lib)
        if module == "convolution":  # only conv_output_size stubbed
            region = next(r for r in find_regions(path, text) if r.function == "conv_output_size")
            lines = text.split("\n")
            lines[region.begin : region.end + 1] = [region.stub]
            text = completed_text("\n".join(lines))
        else:
            text = completed_text(text) if module in solved else stub_text(path, text)
        target = lib / path.relative_to(COURSE.source_lib)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    proc = subprocess.run(
        [sys.executable, "-c", MESSAGES, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, **KERNEL_ENV),
    )
    said = json.loads(proc.stdout.strip().splitlines()[-1])
    cross = (
        "Chapter 6 uses your Chapter 1 `{}`: finish Task {} in source_lib/feedforward.py, "
        "or copy your Chapter 1 `feedforward.py` into this source_lib"
    )
    assert said == {
        "own chapter, from a script": "Task 1.6: implement affine_forward",
        "own chapter, a written task calling a stub": "Task 2.1: implement conv_output_size",
        "Chapter 6 code calling Chapter 1": cross.format("relu_forward", "1.8"),  # after the conv
        "a Chapter 6 script calling Chapter 1": cross.format("affine_forward", "1.6"),
        "Chapter 6's own task": "returned",
    }


def test_the_lines_task_6_3_says_are_provided_are_in_the_release():
    """Task 6.3's text promises provided first lines with the default learning rate and
    momentum: the stub has them (a student's update may then read ``config["momentum"]``)."""
    nb = nbformat.read(COURSE.book / "lenet.ipynb", as_version=4)
    text = next(c.source for c in nb.cells if c.source.startswith("## Stochastic gradient descent"))
    assert "the provided first lines fill in the default\nlearning rate (0.01) and momentum (0.9)" in text
    stub = stub_text(COURSE.source_lib / "lenet.py")
    body = stub[stub.index("def sgd_momentum") : stub.index("def accuracy")]
    assert (
        'config.setdefault("learning_rate", 1e-2)\n    config.setdefault("momentum", 0.9)\n'
        '    raise NotImplementedError(unwritten("Task 6.3: implement sgd_momentum"))' in body
    )


def test_every_chapter_module_names_its_chapter_first():
    """``source_lib/_tasks.py`` knows a module's chapter from its docstring's first words."""
    for chapter in CHAPTERS:
        for module in chapter.modules:
            doc = ast.get_docstring(ast.parse((COURSE.source_lib / f"{module}.py").read_text()))
            assert re.match(rf"Chapter {chapter.number}\b", doc or ""), module
    for path in library_files(COURSE.source_lib):  # and no helper claims a chapter
        if not any(path.stem in c.modules for c in CHAPTERS):
            assert not re.match(r"\s*Chapter \d", ast.get_docstring(ast.parse(path.read_text())) or ""), path
