"""Solution regions of ``source_lib``: find them, stub them, list their lines.

A task is a function whose docstring starts ``Task N.M:`` and whose body holds
one region between ``### BEGIN SOLUTION`` and ``### END SOLUTION``. The
student release replaces the region (markers included) with
``raise NotImplementedError(unwritten("Task N.M: implement <function>"))``:
``source_lib/_tasks.py``'s ``unwritten`` returns those words, or, when a later
chapter calls the stub, says which chapter uses it and how to bring that work
(every module with a task imports ``unwritten`` in its provided header).
"""

import ast
import os
import re
from dataclasses import dataclass
from pathlib import Path

# nbgrader's markers, written here once: the solution regions of source_lib and of the
# notebooks' answer cells, and the hidden part of a notebook's test cell.
BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"
MARKER_PAIRS = ((HIDDEN_BEGIN, HIDDEN_END), (BEGIN, END))
TASK_RE = re.compile(r"^\s*Task (\d+\.\d+)\b")
# Marks an import that a graded run never makes: one made only when the internet or a
# download cache answers (``source_lib/data.py``'s Keras loaders; the grader runs
# offline, ``NNFS_OFFLINE``). The grading zygotes do not preload what it imports.
ONLINE_ONLY = "# online only"
# A stub line of the release, as corpus edits and attacks find it: group 1 is its task.
STUB_RE = r'raise NotImplementedError\(unwritten\("Task (\d+\.\d+)[^"]*"\)\)'


class RegionError(ValueError):
    """A malformed solution region in the instructor's source."""


@dataclass(frozen=True)
class Region:
    path: Path
    begin: int  # 0-based line index of the BEGIN marker
    end: int  # 0-based line index of the END marker
    indent: str
    function: str
    task: str
    lines: tuple  # the solution lines between the markers
    qualname: str = ""  # "sigmoid", or "BatchNormLayer.call" for a method

    @property
    def stub(self) -> str:
        return (
            f"{self.indent}raise NotImplementedError("
            f'unwritten("Task {self.task}: implement {self.function}"))'
        )


def _enclosing_functions(tree: ast.Module) -> list[tuple[int, int, ast.FunctionDef, str]]:
    """(first line, last line, node, qualified name) of every function, 0-based lines."""
    spans = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                spans.append((child.lineno - 1, child.end_lineno - 1, child, prefix + child.name))
                visit(child, f"{prefix}{child.name}.<locals>.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return spans


def find_regions(path: str | os.PathLike[str], text: str | None = None) -> list[Region]:
    """All solution regions of one Python file, in order."""
    path = Path(path)
    text = path.read_text() if text is None else text
    lines = text.split("\n")
    spans = _enclosing_functions(ast.parse(text, filename=str(path)))
    regions, begin = [], None
    for i, line in enumerate(lines):
        if line.strip() == BEGIN:
            if begin is not None:
                raise RegionError(f"{path}:{i + 1}: nested {BEGIN}")
            begin = i
        elif line.strip() == END:
            if begin is None:
                raise RegionError(f"{path}:{i + 1}: {END} without {BEGIN}")
            inside = [s for s in spans if s[0] < begin <= s[1]]
            if not inside:
                raise RegionError(f"{path}:{begin + 1}: solution region outside a function")
            _, _, func, qualname = max(inside, key=lambda s: s[0])
            doc = ast.get_docstring(func) or ""
            match = TASK_RE.match(doc)
            if not match:
                raise RegionError(
                    f"{path}:{func.lineno}: {func.name}'s docstring must start "
                    f"with 'Task N.M:' to name its task"
                )
            indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
            regions.append(
                Region(
                    path, begin, i, indent, func.name, match.group(1), tuple(lines[begin + 1 : i]), qualname
                )
            )
            begin = None
    if begin is not None:
        raise RegionError(f"{path}:{begin + 1}: {BEGIN} without {END}")
    return regions


def stub_text(path: str | os.PathLike[str], text: str | None = None) -> str:
    """The student version of a file: every region replaced by its stub."""
    path = Path(path)
    text = path.read_text() if text is None else text
    lines = text.split("\n")
    for region in reversed(find_regions(path, text)):
        lines[region.begin : region.end + 1] = [region.stub]
    return "\n".join(lines)


def completed_text(text: str) -> str:
    """A file as a student who wrote the instructor's code would submit it: markers gone."""
    return "\n".join(line for line in text.split("\n") if line.strip() not in (BEGIN, END))


def library_files(source_lib: str | os.PathLike[str]) -> list[Path]:
    return sorted(p for p in Path(source_lib).rglob("*.py") if "__pycache__" not in p.parts)


def all_regions(source_lib: str | os.PathLike[str]) -> list[Region]:
    return [r for path in library_files(source_lib) for r in find_regions(path)]


def solution_lines(source_lib: str | os.PathLike[str], min_length: int = 8) -> set[str]:
    """Distinctive solution lines (stripped), for leak searches.

    Lines shorter than ``min_length`` characters (``else:``, ``)``) say nothing
    about a solution, and lines that the provided code outside the regions
    already shows (``N, C, H, W = x.shape``) are public: both are left out.
    """
    public = "\n".join(stub_text(path) for path in library_files(source_lib))
    found = set()
    for region in all_regions(source_lib):
        for line in region.lines:
            stripped = line.strip()
            if len(stripped) >= min_length and stripped not in public:
                found.add(stripped)
    return found
