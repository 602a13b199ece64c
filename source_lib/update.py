"""Bring a new chapter's release into your working copy (provided; standard library only).

Keep one folder for the whole course, the one where you did Chapter 1, and
bring each new chapter into it from its release folder::

    python -m source_lib.update ../ch02_convolution

(run from your working copy; add ``--dry-run`` to see what it would do first).
Your work is never overwritten. The rule, file by file:

* a file you do not have (the chapter's notebook, a new module) is copied;
* a module of ``source_lib`` in which you have not written any task, still a
  stub of an earlier release or a provided helper, is replaced by the
  release's version (the old one is saved under ``update-backups/``);
* a module in which you have written a task is kept as it is; the summary
  says which of its tasks you have written and which are still stubs;
* a notebook or another file you already have is kept (the release's copy
  stays in the release folder).

A task is written once its function holds anything more than what the release
gave: the provided lines and the ``raise NotImplementedError(...)`` stub.
``--into FOLDER`` updates another working copy than the one this module is in.
"""
import argparse
import ast
import filecmp
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

_TASK = re.compile(r"\s*Task (\d+\.\d+)\b")
_STUB = re.compile(r"\s*Task \d+\.\d+: implement \w+")
_SKIP = {"__pycache__", ".ipynb_checkpoints", ".git", "update-backups"}


def _tasks(text):
    """Qualified name (``Class.method``) -> (task number, function node) of a module's tasks."""
    found = {}

    def visit(body, prefix):
        for node in body:
            if isinstance(node, ast.ClassDef):
                visit(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                match = _TASK.match(ast.get_docstring(node) or "")
                if match:
                    found[prefix + node.name] = (match.group(1), node)

    visit(ast.parse(text).body, "")
    return found


def _is_stub_raise(node):
    """``raise NotImplementedError("Task N.M: implement f")``, with or without ``unwritten(...)``."""
    if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
            and isinstance(node.exc.func, ast.Name) and node.exc.func.id == "NotImplementedError"
            and len(node.exc.args) == 1):
        return False
    arg = node.exc.args[0]
    if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Name) and arg.func.id == "unwritten" \
            and len(arg.args) == 1:
        arg = arg.args[0]
    return isinstance(arg, ast.Constant) and isinstance(arg.value, str) and bool(_STUB.match(arg.value))


def _body(node):
    """The statements of a function after its docstring, as comparable dumps."""
    body = node.body[1:] if ast.get_docstring(node) is not None else node.body
    return [ast.dump(statement) for statement in body]


def _written(node, released):
    """Whether the function ``node`` holds work of its own: anything but the stub and the
    statements that the release's version of it (``released``, or None) has."""
    body = node.body[1:] if ast.get_docstring(node) is not None else node.body
    if not body or not _is_stub_raise(body[-1]):
        return True
    given = set(_body(released)) if released is not None else set()
    return any(ast.dump(statement) not in given for statement in body[:-1])


def _task_list(numbers):
    return ", ".join(sorted(numbers, key=lambda n: tuple(int(p) for p in n.split("."))))


def _module_state(mine, theirs):
    """(written task numbers, stub task numbers) of ``mine`` against the release's ``theirs``;
    None when ``mine`` is not Python that parses (then it is kept as it is)."""
    try:
        my_tasks = _tasks(mine)
        their_tasks = _tasks(theirs)
    except SyntaxError:
        return None
    written, stubs = [], []
    for name, (number, node) in my_tasks.items():
        released = their_tasks.get(name, (None, None))[1]
        (written if _written(node, released) else stubs).append(number)
    return written, stubs


def plan(release: Path, work: Path) -> list[tuple[str, Path, str]]:
    """What updating ``work`` from ``release`` does: a list of (action, relative path, note)
    with action one of ``new``, ``replace``, ``keep``, ``same``."""
    steps = []
    for source in sorted(release.rglob("*")):
        rel = source.relative_to(release)
        if source.is_dir() or _SKIP & set(rel.parts):
            continue
        target = work / rel
        if not target.exists():
            steps.append(("new", rel, ""))
        elif filecmp.cmp(source, target, shallow=False):
            steps.append(("same", rel, ""))
        elif rel.parts[0] == "source_lib" and rel.suffix == ".py":
            theirs = source.read_text(encoding="utf-8", errors="replace")
            state = _module_state(target.read_text(encoding="utf-8", errors="replace"), theirs)
            if state is None:
                steps.append(("keep", rel, "it does not parse as Python: fix it, then compare "
                                           "with the release's copy"))
            elif not state[0]:
                what = "no task written in it" if state[1] else "provided code"
                steps.append(("replace", rel, what))
            else:
                written, stubs = state
                note = f"you have written Task{'s' if len(written) > 1 else ''} {_task_list(written)}"
                if stubs:
                    note += f"; still to write: {_task_list(stubs)}"
                missing = sorted(set(_tasks(theirs)) - set(_tasks(target.read_text(
                    encoding="utf-8", errors="replace"))))
                if missing:
                    note += f"; the release's copy also has {', '.join(missing)}: copy them in"
                steps.append(("keep", rel, note))
        else:
            steps.append(("keep", rel, "yours differs from the release's, whose copy stays in "
                                       "the release folder"))
    return steps


def update(release: str | Path, work: str | Path, dry_run: bool = False,
           out: Callable[[str], None] = print) -> list[tuple[str, Path, str]]:
    """Apply ``plan(release, work)``; returns the plan."""
    release, work = Path(release).resolve(), Path(work).resolve()
    if not (release / "source_lib").is_dir():
        raise SystemExit(f"{release} is not a release folder: it has no source_lib")
    if release == work:
        raise SystemExit(f"{release} is the working copy itself: give the folder of the new "
                         f"chapter's release, e.g. python -m source_lib.update ../ch02_convolution")
    steps = plan(release, work)
    backups = work / "update-backups" / release.name
    out(f"{'Would update' if dry_run else 'Updating'} {work} from {release}:")
    words = {"new": "new", "replace": "updated", "keep": "kept"}
    for action, rel, note in steps:
        if action == "same":
            continue
        out(f"  {words[action]:8} {rel.as_posix()}" + (f" ({note})" if note else ""))
        if dry_run:
            continue
        target = work / rel
        if action == "replace":
            (backups / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(target, backups / rel)
        if action in ("new", "replace"):
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(release / rel, target)
    count = {a: sum(1 for s in steps if s[0] == a) for a in ("new", "replace", "keep", "same")}
    out(f"{count['new']} new, {count['replace']} updated, {count['keep']} kept, "
        f"{count['same']} already up to date."
        + (f" Replaced files are saved in {backups}." if count["replace"] and not dry_run else ""))
    return steps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m source_lib.update",
        description="Bring a new chapter's release into your working copy without touching "
                    "your work.")
    parser.add_argument("release", help="the new chapter's release folder (it holds source_lib/)")
    parser.add_argument("--into", default=str(Path(__file__).resolve().parents[1]),
                        help="the working copy to update (default: the one this module is in)")
    parser.add_argument("--dry-run", action="store_true", help="only say what would happen")
    args = parser.parse_args(argv)
    update(args.release, args.into, dry_run=args.dry_run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
