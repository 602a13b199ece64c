"""The rooms of ``autograder/`` keep their rules (CONTRIBUTING.md, "Where code lives").

- no import cycle between modules, counting imports inside functions;
- ``autograder/sandbox`` imports only the standard library (and numpy where it runs in the
  student's process), so that it can be copied into a jail as a unit;
- imports point one way (``lint-imports``, the layers of ``pyproject.toml``).

Each rule is also run on a doctored package, where it must fail.
"""

import ast
import graphlib
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

REPO = Path(__file__).resolve().parents[1]
SANDBOX = REPO / "autograder" / "sandbox"
# numpy only where student functions get and give arrays, in the student's process
NUMPY_ALLOWED = {"probe_runner.py", "wire.py"}


def cycle_in(package, path=None):
    """A cycle of imports between ``package``'s modules (a list), or None."""
    if path:
        sys.path.insert(0, str(path))
    try:
        graph = grimp.build_graph(package, cache_dir=None)
    finally:
        if path:
            sys.path.remove(str(path))
    imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
    try:
        list(graphlib.TopologicalSorter(imports).static_order())
    except graphlib.CycleError as exc:
        return exc.args[1]
    return None


def test_no_module_of_autograder_imports_itself_back():
    assert cycle_in("autograder") is None


def test_a_cycle_through_a_function_level_import_is_found(tmp_path):
    pkg = tmp_path / "cyclic_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("def later():\n    from . import a\n")
    assert set(cycle_in("cyclic_pkg", tmp_path)) == {"cyclic_pkg.a", "cyclic_pkg.b"}


def outside_imports(path, source=None):
    """What ``path`` imports beyond the standard library and its own folder."""
    tree = ast.parse(source if source is not None else path.read_text())
    siblings = {p.stem for p in path.parent.glob("*.py")}
    allowed = set(sys.stdlib_module_names) | siblings | ({"numpy"} if path.name in NUMPY_ALLOWED else set())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] not in allowed]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 1 or (node.level == 0 and node.module.split(".")[0] not in allowed):
                found.append("." * node.level + (node.module or ""))
    return found


@pytest.mark.parametrize("path", sorted(SANDBOX.glob("*.py")), ids=lambda p: p.name)
def test_the_sandbox_imports_only_the_standard_library(path):
    assert outside_imports(path) == []


@pytest.mark.parametrize(
    "line",
    [
        "from ..grading import table",
        "import yaml",
        "from nbgrader.api import Gradebook",
        "def f():\n    import autograder.course",
    ],
)
def test_an_import_from_outside_the_sandbox_is_found(line):
    assert outside_imports(SANDBOX / "jail.py", line) != []


def lint_imports(root):
    return subprocess.run(
        [str(Path(sys.executable).with_name("lint-imports")), "--no-cache"],
        cwd=root,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )


def test_imports_point_one_way():
    proc = lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_an_import_pointing_up_breaks_the_layers(tmp_path):
    shutil.copytree(
        REPO / "autograder", tmp_path / "autograder", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    with open(tmp_path / "autograder" / "probes" / "runner.py", "a") as fh:
        fh.write("\n\ndef _up():\n    from ..grading import table  # noqa\n")
    proc = lint_imports(tmp_path)
    assert proc.returncode != 0 and "autograder.probes.runner -> autograder.grading" in proc.stdout
