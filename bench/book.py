"""Book build benchmark: a full HTML build, then a rebuild after an edit of one module.

On a throwaway copy of the course (``bench/grading.py``'s copy: generated folders
left out), ``autograder book`` as the guide runs it (strict, MyST-NB's execution
cache), timed (time.monotonic):

1. from an empty ``_build``: every chapter executes;
2. at once again, nothing changed: the cache serves every chapter;
3. after a comment is appended to ``source_lib/pooling.py`` (``--module``): the
   chapters whose notebooks import it, directly or through other modules,
   execute again (``autograder/book.py``), the others come from the cache.

Prints the machine's load before and after, each build's time, each chapter's
execution time in the full build against the budget its notebook states
(``autograder.book.BUDGET_KEY``), and which notebooks the rebuild executed (those
whose executed copy in ``_build/jupyter_execute`` changed). The PDF is not built
(``--pdf`` reuses the HTML build's cache). Goals (issue 19): a full build under 5 minutes, the rebuild
under 60 s, on 2 cores. Timings are only meaningful on an otherwise idle machine.
Run it with ``.venv/bin/python bench/book.py`` (``--module NAME``, ``--keep``).
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import grading as bench  # bench/grading.py: how a course copy is made

AUTOGRADER = Path(sys.executable).with_name("autograder")
GOALS = {"full": ("a full build", 300.0), "rebuild": ("the rebuild", 60.0)}  # seconds, on 2 cores


def build(root, log):
    """``autograder book`` on ``root``: (seconds, return code)."""
    env = dict(os.environ)
    env.pop("NNFS_BOOK_HTML", None)
    return bench.run([str(AUTOGRADER), "book", "--course", str(root)], root, env, log)


def executed(root):
    """Executed notebook -> modification time, of ``_build/jupyter_execute``."""
    folder = Path(root) / "_build" / "jupyter_execute"
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*.ipynb")}


def budgets(root):
    """Each chapter's execution in the last build that ran it, against its stated budget:
    (notebook, seconds, budget) from the execution cache's records and the notebooks."""
    import nbformat
    from jupyter_cache import get_cache

    from autograder.book import budget_seconds, toc_notebooks

    records = get_cache(Path(root) / "_build" / ".jupyter_cache").list_cache_records()
    seconds = {Path(r.uri).resolve(): r.data.get("execution_seconds") for r in records}
    return [
        (path.stem, seconds.get(path.resolve()), budget_seconds(nbformat.read(path, as_version=4)))
        for path in toc_notebooks(root)
    ]


def say_budgets(rows):
    bench.say(f"  {'chapter':15s} {'executed':>9s} {'budget':>7s}")
    for name, seconds, budget in rows:
        ran = "-" if seconds is None else f"{seconds:.1f} s"
        verdict = "" if None in (seconds, budget) else ("  within" if seconds <= budget else "  OVER")
        bench.say(f"  {name:15s} {ran:>9s} {'-' if budget is None else f'{budget:g} s':>7s}{verdict}")
    within = sum(1 for _, s, b in rows if None not in (s, b) and s <= b)
    bench.say(f"  chapters within their budget: {within} of {len(rows)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--module", default="pooling", help="source_lib module to edit (default: pooling)")
    parser.add_argument("--keep", action="store_true", help="keep the course copy and the logs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="nnfs-bench-book-"))
    root = work / "nnfs"
    shutil.copytree(bench.REPO, root, ignore=bench._ignore, symlinks=True)
    load = os.getloadavg()
    bench.say(f"Book build on {os.cpu_count()} cores; course copy in {root}")
    times, failed = {}, False
    try:
        for step in ("full", "cached", "rebuild"):
            if step == "rebuild":
                before = executed(root)
                with open(root / "source_lib" / f"{args.module}.py", "a") as fh:
                    fh.write("\n# an edit (bench/book.py)\n")
            seconds, rc = build(root, work / f"{step}.log")
            times[step] = seconds
            bench.say(f"  {step:8s} {seconds:7.1f} s" + ("" if rc == 0 else f"  FAILED (exit {rc})"))
            if rc != 0:
                bench.say(bench.tail(work / f"{step}.log"))
                failed = True
                break
            if step == "full":
                say_budgets(budgets(root))
            if step == "rebuild":
                after = executed(root)
                again = sorted(n for n in after if after[n] != before.get(n))
                bench.say(f"  the edit of {args.module}.py executed again: {', '.join(again) or 'nothing'}")
        for step, (what, goal) in GOALS.items():
            if step in times:
                verdict = "met" if times[step] < goal else "NOT met"
                bench.say(f"  goal: {what} under {goal:.0f} s: {verdict} ({times[step]:.1f} s)")
        bench.say(f"  machine load (1, 5, 15 min): before {load}, after {os.getloadavg()}")
    finally:
        if args.keep:
            bench.say(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
