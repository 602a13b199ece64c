"""The local Python modules a piece of code runs, followed through their imports.

Standard library only, below every layer: the book's execution cache (``book.py``) keys a
notebook on the modules it runs, and the grading workers' warm start
(``nbgrader_ext/warm.py``) preloads what those modules import.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Iterable
from pathlib import Path

_SHELL_OR_MAGIC = re.compile(r"^\s*[%!]")


def parse(code: str) -> ast.Module | None:
    """The AST of ``code`` (IPython magics and shell lines blanked), or None."""
    code = "\n".join("" if _SHELL_OR_MAGIC.match(line) else line for line in code.splitlines())
    try:
        return ast.parse(code)
    except SyntaxError:
        return None


def _imported(tree, package=""):
    """Dotted names ``tree`` imports (``from a import b`` gives ``a`` and ``a.b``)."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative to the importing module's package
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base:
                names.append(base)
            names += [f"{base}.{a.name}" if base else a.name for a in node.names if a.name != "*"]
    return names


def _module_files(name, roots):
    """Files run by importing the dotted ``name`` from one of ``roots``: its packages'
    ``__init__.py`` and the module itself (nothing if it is not a local module)."""
    parts = name.split(".")
    for root in roots:
        files, folder = [], root
        for part in parts:
            package, module = folder / part, folder / f"{part}.py"
            if (package / "__init__.py").is_file():
                files.append(package / "__init__.py")
                folder = package
            elif module.is_file():
                files.append(module)
                break
            else:
                break
        if files:
            return files
    return []


def _package_of(path, roots):
    """Dotted package of a module file found under one of ``roots`` (a package's
    ``__init__.py`` belongs to that package)."""
    for root in roots:
        if path.is_relative_to(root):
            return ".".join(path.relative_to(root).parent.parts)
    return ""


def _package_modules(folder, roots):
    """Dotted names of every module of the package ``folder``, subpackages included."""
    root = next(r for r in roots if folder.is_relative_to(r))
    return [".".join(f.relative_to(root).with_suffix("").parts) for f in folder.rglob("*.py")]


def local_modules(
    notebook_path: str | os.PathLike[str], code_cells: Iterable[str], srcdir: str | os.PathLike[str]
) -> list[Path]:
    """The local Python files a notebook runs, followed through their imports.

    Local means found in the notebook's folder or the book folder (where the
    notebooks' ``sys.path.insert(0, "..")`` points). A cell or module that does
    not parse depends on every module of the local packages it names.
    """
    roots = [Path(notebook_path).parent.resolve(), Path(srcdir).resolve()]
    found, todo = set(), []

    def add(names):
        for name in names:
            for f in _module_files(name, roots):
                f = f.resolve()
                if f not in found:
                    found.add(f)
                    todo.append(f)

    def add_all(code):
        for name in set(re.findall(r"\b[A-Za-z_]\w*\b", code)):
            for f in _module_files(name, roots):
                add(_package_modules(f.parent, roots) if f.name == "__init__.py" else [name])

    for code in code_cells:
        tree = parse(code)
        if tree is None:
            add_all(code)
            continue
        add(_imported(tree))
        # importlib.import_module("source_lib.x") and the like.
        add(re.findall(r"[\"']([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)[\"']", code))
    while todo:
        path = todo.pop()
        code = path.read_text(encoding="utf-8", errors="replace")
        tree = parse(code)
        if tree is None:
            add_all(code)
        else:
            add(_imported(tree, _package_of(path, roots)))
    return sorted(found)
