"""Grading benchmark: stock ``nbgrader autograde`` against ``autograder grade``.

Side by side in one run, on the same submissions of one chapter (default: 40
of Chapter 1, made by cycling through the chapter's sample class: solution,
alternatives, blank release, mutants, attacks; ids ``s01-solution``, ...):

* stock: nbgrader's own ``nbgrader autograde --force``, one submission after
  another, with nbgrader's default autograde preprocessors, the notebook's own
  ``python3`` kernel and ``Execute.timeout`` of the course: the notebook's
  visible test cells decide the grade;
* ours: ``autograder grade`` (parallel workers, one per core unless
  ``--workers``; sandboxed kernel; trusted checks decide the grade cells). Its
  timed command also writes the feedback pages, the class summary and the
  grades CSV, which the stock side does not do: the ratio is conservative.

Each side grades its own throwaway copy of the course, released with the same
``autograder release`` and holding its own gradebook; only the grading command
is timed (time.monotonic), never the setup, and the two never run at once.
Both kernels get NNFS_OFFLINE=1 (the sandbox kernel sets it; without it the
notebook probes the network for Keras' MNIST), so they load the same shipped
data. The stock kernel otherwise keeps the machine's defaults (BLAS on all
cores); the sandbox kernel uses one BLAS thread per worker.

Prints submissions per minute for each side and the ratio ours / stock, then
compares the scores of every auto-graded (student, grade cell); written
answers need manual grading on both sides and are left out. A disagreement is
"stock fooled" when stock awards points, ours awards 0, and the corpus says
the submission must fail the cell's trusted check; "stock double penalty" when
stock awards 0 to a function the corpus says is correct and ours awards full
points (Chapter 1's visible tests check a backward against numerical gradients
of the student's own forward, so a buggy forward also costs the correct
backward its points; COURSE_SPEC §6 rules that out). Anything else is
UNEXPECTED, as is any cell where ours differs from what the corpus says. Exit
code 1 on anything UNEXPECTED.
Timings are only meaningful on an otherwise idle machine. Run it with ``.venv/bin/python bench/grading.py``
(``--chapter MODULE``, ``--n N``, ``--workers N``, ``--keep`` to keep the
course copies and logs). Chapter 4, a TensorFlow chapter, as measured for the README:
``--chapter normalization --n 10`` (stock takes over a minute per submission). Prints
the machine's load before and after.
"""

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# An inherited NNFS_GRADEBOOK would point both course copies at one gradebook.
os.environ.pop("NNFS_GRADEBOOK", None)

import nbformat  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from traitlets.config.loader import PyFileConfigLoader  # noqa: E402

from autograder.checks import checks_named_in  # noqa: E402
from autograder.corpus import corpus, make_submission  # noqa: E402
from autograder.course import CHAPTERS, Course  # noqa: E402
from autograder.grading import short_id, table  # noqa: E402
from autograder.nbgrader_ext.nbgrader_cli import nbgrader_env  # noqa: E402

AUTOGRADER = Path(sys.executable).with_name("autograder")
# What a course copy leaves behind (as tests/conftest.py does): nbgrader's
# generated folders are made afresh by the release.
GENERATED = {".venv", "_build", ".git", "__pycache__", ".pytest_cache", "test-artifacts"}

STOCK_CONFIG = '''\
"""Stock nbgrader for bench/grading.py: default preprocessors, the notebook's own kernel."""
import os

c = get_config()  # noqa: F821
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db")
c.Execute.timeout = {timeout!r}
'''

console = Console(width=None if sys.stdout.isatty() else 120)


def say(text):
    console.print(text, highlight=False, markup=False)


def _ignore(folder, names):
    skip = [n for n in names if n in GENERATED]
    if Path(folder).name == "assignments":
        skip += [n for n in names if n != "nbgrader_config.py"]
    return skip


def run(cmd, cwd, env, log):
    """Run ``cmd`` with its output in ``log``; returns (seconds, return code)."""
    with open(log, "w") as out:
        start = time.monotonic()
        rc = subprocess.run(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
        ).returncode
        return time.monotonic() - start, rc


def tail(log, lines=30):
    return "\n".join(Path(log).read_text(errors="replace").splitlines()[-lines:])


def release(course, chapter, log):
    _, rc = run(
        [str(AUTOGRADER), "release", chapter.assignment, "--course", str(course.root)],
        course.root,
        os.environ,
        log,
    )
    if rc:
        sys.exit(f"autograder release failed in {course.root}:\n{tail(log)}")


def stock_config(course):
    """nbgrader's defaults, but the course's id and cell timeout and a gradebook of its own."""
    ours = PyFileConfigLoader("nbgrader_config.py", path=str(course.nbgrader_root)).load_config()
    return STOCK_CONFIG.format(course_id=ours.CourseDirectory.course_id, timeout=ours.Execute.timeout)


def class_of(chapter, n):
    """``n`` (student id, Submission) pairs cycling through the chapter's sample class."""
    subs = itertools.cycle(corpus(chapter.module).SAMPLE_CLASS)
    return {f"s{i:02d}-{sub.student}": sub for i, sub in zip(range(1, n + 1), subs)}


def cell_checks(course, chapter):
    """grade_id -> the trusted checks its hidden part names (auto-graded code cells only)."""
    nb = nbformat.read(course.folder("source", chapter.assignment, chapter.notebook), as_version=4)
    found = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and checks_named_in(cell.source):
            found[meta["grade_id"]] = checks_named_in(cell.source)
    return found


def must_fail(sub, checks):
    return sub.fails is None or any(name in sub.fails for name in checks)


def per_minute(n, seconds):
    return n / seconds * 60


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--chapter", default="feedforward", choices=[c.module for c in CHAPTERS], help="chapter module"
    )
    parser.add_argument("--n", type=int, default=40, help="number of submissions")
    parser.add_argument("--workers", type=int, help="workers of ours (default: its default)")
    parser.add_argument("--keep", action="store_true", help="keep the course copies and logs")
    args = parser.parse_args()
    chapter = next(c for c in CHAPTERS if c.module == args.chapter)

    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    try:
        ok = bench(chapter, args.n, args.workers, work)
    finally:
        if args.keep:
            say(f"Course copies and logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


def bench(chapter, n, workers, work):
    # --- setup (not timed): two released course copies with the same submissions
    ours, stock = Course(work / "ours" / "nnfs"), Course(work / "stock" / "nnfs")
    for course in (ours, stock):
        shutil.copytree(REPO, course.root, ignore=_ignore)
    # The release goes through nbgrader generate_assignment, which our config
    # does not change: releasing under the stock config gives the same gradebook.
    (stock.nbgrader_root / "nbgrader_config.py").write_text(stock_config(ours))
    for course in (ours, stock):
        release(course, chapter, work / f"release-{course.root.parent.name}.log")
    students = class_of(chapter, n)
    for student, sub in students.items():
        dest = ours.folder("submitted", student, chapter.assignment)
        make_submission(ours, chapter, sub, dest)
        shutil.copytree(dest, stock.folder("submitted", student, chapter.assignment))
    say(
        f"{chapter.assignment}: {n} submissions ({len(set(map(id, students.values())))} "
        f"different) from the sample class, in {work}"
    )

    load = os.getloadavg()
    # --- stock nbgrader: sequential, its default autograde pipeline
    env = dict(nbgrader_env(stock), NNFS_OFFLINE="1")
    stock_log = work / "stock.log"
    stock_s, stock_rc = run(
        [sys.executable, "-m", "nbgrader", "autograde", chapter.assignment, "--force"],
        stock.nbgrader_root,
        env,
        stock_log,
    )
    if stock_rc:  # nbgrader goes on past a failed submission and says so in its exit code
        say(f"nbgrader autograde exited with {stock_rc}; end of its log:\n{tail(stock_log, 15)}")

    # --- ours: autograder grade, parallel, trusted checks
    ours_log = work / "ours.log"
    cmd = [str(AUTOGRADER), "grade", chapter.assignment, "--course", str(ours.root)]
    ours_s, ours_rc = run(
        cmd + (["--workers", str(workers)] if workers else []), ours.root, dict(os.environ), ours_log
    )
    if ours_rc:
        say(f"autograder grade exited with {ours_rc}; end of its log:\n{tail(ours_log)}")
        return False
    # its own count of the grading phase alone (without feedback, summary and CSV)
    phase = re.search(r"graded \d+ submissions in \d+ s \(([\d.]+) per minute\)", ours_log.read_text())

    print_throughput(chapter, n, stock_s, ours_s, phase and float(phase.group(1)), workers, load)
    return print_agreement(chapter, students, cell_checks(ours, chapter), stock, ours)


# The speed-ups over stock nbgrader that issue #19 asks for.
GOALS = {"feedforward": 10, "normalization": 5}


def print_throughput(chapter, n, stock_s, ours_s, ours_phase, workers, load):
    rate_stock, rate_ours = per_minute(n, stock_s), per_minute(n, ours_s)
    say(f"\nThroughput, {n} submissions of {chapter.assignment} on {os.cpu_count()} cores")
    say(f"  machine load (1, 5, 15 min): before {load}, after {os.getloadavg()}")
    phase = f"  (grading phase alone: {ours_phase:.1f}/min)" if ours_phase else ""
    for name, seconds, rate, extra in (
        ("stock nbgrader autograde (sequential)", stock_s, rate_stock, ""),
        (f"autograder grade ({workers or 'default'} workers)", ours_s, rate_ours, phase),
    ):
        say(f"  {name:40s} {seconds:7.1f} s {rate:7.1f} submissions/min{extra}")
    goal = GOALS.get(chapter.module)
    say(f"  ratio ours / stock: {rate_ours / rate_stock:.2f}x" + (f" (goal: >= {goal}x)" if goal else ""))


def classify(stock, ours, fail, checks):
    """None when both score what the corpus says; else why the cell is listed."""
    says = f"the corpus says {'fail' if fail else 'pass'} {', '.join(checks)}"
    if stock.score != ours.score:
        if stock.score > 0 and ours.score == 0 and fail:
            return f"stock fooled (must fail {', '.join(checks)})"
        if stock.score == 0 and ours.score == ours.max_score and not fail:
            return f"stock double penalty (must pass {', '.join(checks)})"
        return f"UNEXPECTED: stock and ours disagree; {says}"
    if ours.score != (0 if fail else ours.max_score):
        return f"UNEXPECTED: both {'pass' if ours.score else 'fail'}; {says}"
    return None


def print_agreement(chapter, students, checks_of, stock, ours):
    """Compare every auto-graded cell; print the disagreements and the totals. True if none UNEXPECTED."""

    def rows(course):
        return {r.student: r for r in table(course, [chapter])}

    def cells(row):
        return {c.grade_id: c for c in row.cells} if row else {}

    stock_rows, ours_rows = rows(stock), rows(ours)
    compared = identical = 0
    listed = []  # (student, cell, stock score, our score, why)
    for student, sub in students.items():
        stock_cells, ours_cells = cells(stock_rows.get(student)), cells(ours_rows.get(student))
        for grade_id, checks in checks_of.items():  # written answers name no check
            s, o = stock_cells.get(grade_id), ours_cells.get(grade_id)
            if s is None or o is None:
                listed.append(
                    (
                        student,
                        short_id(grade_id),
                        s and s.score,
                        o and o.score,
                        "UNEXPECTED: missing from a gradebook",
                    )
                )
                continue
            compared += 1
            identical += s.score == o.score
            why = classify(s, o, must_fail(sub, checks), checks)
            if why:
                listed.append((student, short_id(grade_id), s.score, o.score, why))

    fooled = sum(why.startswith("stock fooled") for *_, why in listed)
    doubled = sum(why.startswith("stock double penalty") for *_, why in listed)
    unexpected = len(listed) - fooled - doubled
    say(
        f"\nGrade agreement: {compared} auto-graded cells compared, {identical} identical, "
        f"{fooled} stock fooled, {doubled} stock double penalty, {unexpected} UNEXPECTED"
    )

    def score(x):
        return "-" if x is None else f"{x:g}"

    if listed:
        t = Table(title="Disagreements (and cells not scored as the corpus says)")
        for name in ("student", "cell", "stock", "ours", "class"):
            t.add_column(name)
        for student, cell, s, o, why in listed:
            t.add_row(
                student, cell, score(s), score(o), why, style="red" if why.startswith("UNEXPECTED") else None
            )
        console.print(t, highlight=False)

    t = Table(title=f"{chapter.assignment}: total scores (written answers left to manual grading)")
    for name, justify in (
        ("student", "left"),
        ("stock", "right"),
        ("ours", "right"),
        ("max", "right"),
        ("checks it must fail", "right"),
    ):
        t.add_column(name, justify=justify)
    for student, sub in students.items():
        s, o = stock_rows.get(student), ours_rows.get(student)
        failing = sum(must_fail(sub, checks) for checks in checks_of.values())
        t.add_row(
            student,
            score(s and s.score),
            score(o and o.score),
            score((o or s) and (o or s).max_score),
            f"{failing}/{len(checks_of)}",
        )
    console.print(t, highlight=False)
    return unexpected == 0


if __name__ == "__main__":
    main()
