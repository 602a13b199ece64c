"""The project's habits that a linter does not check: type hints on every public function.

Public: a module-level function or a method of a module-level class whose names do not
start with ``_``, in ``autograder/`` and in ``source_lib``'s provided code (task
functions excepted: their signature is the assignment, stated in the docstring).
"""

import ast
from pathlib import Path

import pytest

from autograder.regions import find_regions

REPO = Path(__file__).resolve().parents[1]


def unhinted(path, source=None, skip=frozenset()):
    """``name: what is missing`` for each public function of a file without full hints."""
    tree = ast.parse(source if source is not None else path.read_text())
    found = []

    def visit(fn, owner=""):
        if fn.name.startswith("_") and fn.name != "__init__" or fn.name in skip:
            return
        args = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
        if owner and args and args[0].arg in ("self", "cls"):
            args = args[1:]
        args += [a for a in (fn.args.vararg, fn.args.kwarg) if a]
        missing = [a.arg for a in args if a.annotation is None]
        if fn.returns is None and fn.name != "__init__":
            missing.append("return")
        if missing:
            found.append(f"{owner}{fn.name}: {', '.join(missing)}")

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            visit(node)
        elif isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    visit(item, f"{node.name}.")
    return found


def files():
    autograder = sorted((REPO / "autograder").rglob("*.py"))
    source_lib = sorted((REPO / "source_lib").rglob("*.py"))
    return [p for p in autograder + source_lib if "__pycache__" not in p.parts]


@pytest.mark.parametrize("path", files(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_public_function_has_type_hints(path):
    tasks = {r.function for r in find_regions(path)} if "source_lib" in path.parts else set()
    assert unhinted(path, skip=tasks) == []


def test_a_missing_hint_is_found():
    source = (
        "def f(x: int) -> int: ...\n"
        "def g(x, y: int): ...\n"
        "def _private(x): ...\n"
        "class A:\n"
        "    def m(self, z) -> None: ...\n"
    )
    assert unhinted(Path("x.py"), source) == ["g: x, return", "A.m: z"]
