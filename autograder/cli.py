"""The instructor's command line: ``autograder --help``."""

import os
import sys
from collections.abc import Iterable
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from .course import CHAPTERS, Chapter, Course, chapter_for

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Release, grade and give feedback for Neural Networks from Scratch.",
)
# Wide enough for the grade table when the output is a log file, not a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)

CourseOpt = typer.Option(
    None, "--course", help="Course checkout (default: the one holding the working directory)."
)
ChaptersArg = typer.Argument(None, help="Assignments, e.g. ch01_feedforward (default: all chapters).")


def _course(path):
    return Course(Path(path).resolve()) if path else Course.find()


def _chapters(names):
    try:
        return [chapter_for(n) for n in names] if names else CHAPTERS
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2) from None


def _log(message):
    # one message, one line, however long: logs are searched and read line by line
    console.print(message, highlight=False, markup=False, soft_wrap=True)


def _fail(exc):
    console.print(f"[red]error:[/red] {exc}", highlight=False)
    raise typer.Exit(1)


@app.command()
def release(assignments: list[str] | None = ChaptersArg, course: Path | None = CourseOpt) -> None:
    """Make the student release: notebooks through nbgrader, source_lib stubbed."""
    from .grading.lock import CourseBusy
    from .nbgrader_ext.nbgrader_cli import NbgraderError
    from .release import release as do_release

    try:
        do_release(_course(course), _chapters(assignments), log=_log)
    except (NbgraderError, CourseBusy) as exc:  # ReleaseError included
        _fail(exc)


@app.command()
def edition(
    dest: Path = typer.Argument(
        ..., help="Folder of the student edition (new, empty, or a clone of the published edition)."
    ),
    course: Path | None = CourseOpt,
) -> None:
    """Write the student edition, the public repository the book's launch buttons open:
    released notebooks in book/, the stubbed source_lib (pip-installable), Binder's files."""
    from .edition import EditionError, make_edition
    from .grading.lock import CourseBusy
    from .nbgrader_ext.nbgrader_cli import NbgraderError

    try:
        make_edition(_course(course), dest, log=_log)
    except (EditionError, NbgraderError, CourseBusy) as exc:
        _fail(exc)


@app.command("sample-class")
def sample_class(assignments: list[str] | None = ChaptersArg, course: Path | None = CourseOpt) -> None:
    """Put the bundled sample class into assignments/submitted (needs a release)."""
    from .corpus import CorpusError
    from .corpus import sample_class as do_sample
    from .grading.lock import CourseBusy

    try:
        do_sample(_course(course), _chapters(assignments), log=_log)
    except (CorpusError, CourseBusy) as exc:
        _fail(exc)


@app.command()
def grade(
    assignments: list[str] | None = ChaptersArg,
    course: Path | None = CourseOpt,
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Submissions graded at once (default: one per core)."
    ),
    scheduler: str | None = typer.Option(
        None,
        "--scheduler",
        help="Grade on this Dask cluster, e.g. tcp://10.0.0.5:8786 "
        "(its workers must see the course folder at the same path).",
    ),
    regrade: bool = typer.Option(
        False, "--regrade", help="Grade every submission again, not only new or changed ones."
    ),
    timeout: float | None = typer.Option(
        None, "--timeout", min=1, help="Seconds allowed for one submission (default: 600)."
    ),
) -> None:
    """Autograde assignments/submitted into the gradebook; write feedback and grades CSV.

    Submissions already graded, and unchanged since, are skipped: after a crash,
    run the same command again to finish the batch.
    """
    from .grading import TemporaryDirectoryTooLong
    from .grading import grade as do_grade
    from .grading.lock import CourseBusy
    from .nbgrader_ext.nbgrader_cli import NbgraderError

    c = _course(course)
    try:
        do_grade(
            c,
            _chapters(assignments),
            workers=workers,
            scheduler=scheduler,
            regrade=regrade,
            timeout=timeout,
            log=_log,
        )
    except (NbgraderError, TemporaryDirectoryTooLong, CourseBusy) as exc:
        _fail(exc)
    print_table(c, _chapters(assignments))
    _log(f"Feedback:   {c.folder('feedback')}/<student>/<assignment>/<notebook>.html")
    _log(f"Summaries:  {c.nbgrader_root / 'reports'}/<assignment>.html")
    _log(f"Grades CSV: {c.grades_csv}")


@app.command()
def export(
    assignments: list[str] | None = ChaptersArg,
    course: Path | None = CourseOpt,
    fmt: str = typer.Option(
        "nbgrader",
        "--format",
        help="nbgrader (grades.csv, one row per student and "
        "assignment), canvas (gradebook import) or moodle "
        "(grading worksheet, one file per assignment).",
    ),
    roster: Path | None = typer.Option(
        None,
        "--roster",
        help="The LMS's own export for the students' identities "
        "(Canvas gradebook CSV, Moodle grading worksheet); "
        "default: what 'autograder collect' recorded.",
    ),
    column: list[str] | None = typer.Option(
        None,
        "--column",
        help="Canvas column of an assignment, e.g. 'ch01_feedforward=Feed-forward networks (4242)'.",
    ),
) -> None:
    """Write the grades from the gradebook, as nbgrader's CSV or an LMS's import file."""
    from .lms import LmsError, export_grades

    columns = dict(c.split("=", 1) for c in column or [] if "=" in c)
    try:
        done = export_grades(_course(course), fmt, _chapters(assignments), roster, columns)
    except (LmsError, OSError) as exc:
        _fail(exc)
    for path in done.paths:
        _log(f"Grades CSV: {path}")
    if done.missing:
        _log(f"Left out, no {fmt} identity (collect them, or give --roster): " + ", ".join(done.missing))


@app.command()
def collect(
    archive: Path = typer.Argument(..., help="The LMS's submissions download (.zip)."),
    assignment: str = typer.Argument(..., help="The assignment, e.g. ch01_feedforward."),
    course: Path | None = CourseOpt,
    lms: str | None = typer.Option(
        None, "--lms", help="canvas or moodle (default: told from the file names)."
    ),
    roster: Path | None = typer.Option(
        None,
        "--roster",
        help="The LMS's roster export (Canvas gradebook CSV, Moodle "
        "grading worksheet): student ids from logins.",
    ),
) -> None:
    """Put an LMS's submissions download into assignments/submitted/<student>/<assignment>."""
    from .grading.lock import CourseBusy
    from .lms import LmsError
    from .lms import collect as do_collect

    c = _course(course)
    try:
        done = do_collect(c, archive, _chapters([assignment])[0].assignment, lms, roster)
    except (LmsError, OSError, CourseBusy) as exc:
        _fail(exc)
    for p in done.placed:
        _log(
            f"{p.student} ({p.name}{', late' if p.late else ''}): {len(p.files)} files in "
            f"{c.folder('submitted', p.student, done.assignment)}"
        )
    for e in done.notes:
        _log(f"note: {e.path}: {e.reason}")
    for e in done.ignored:
        _log(f"ignored: {e.path}: {e.reason}")
    for e in done.unplaced:
        _log(f"COULD NOT PLACE: {e.path}: {e.reason}")
    _log(
        f"{done.lms}: {len(done.placed)} submissions placed, {len(done.ignored)} files "
        f"ignored, {len(done.unplaced)} could not be placed"
    )
    if not done.placed:
        _fail(f"no submission of {done.assignment} found in {archive}")


@app.command("feedback-bundle")
def feedback_bundle(
    assignment: str = typer.Argument(..., help="e.g. ch01_feedforward"),
    course: Path | None = CourseOpt,
    fmt: str = typer.Option(..., "--format", help="canvas or moodle"),
    roster: Path | None = typer.Option(
        None, "--roster", help="The LMS's roster export (default: what collect recorded)."
    ),
) -> None:
    """Zip the feedback pages named for the LMS's feedback upload."""
    from .lms import LmsError
    from .lms import feedback_bundle as do_bundle

    try:
        done = do_bundle(_course(course), _chapters([assignment])[0].assignment, fmt, roster)
    except (LmsError, OSError) as exc:
        _fail(exc)
    for student, why in done.missing.items():
        _log(f"left out: {student}: {why}")
    _log(f"Feedback for {len(done.files)} students: {done.path}")


@app.command()
def report(assignments: list[str] | None = ChaptersArg, course: Path | None = CourseOpt) -> None:
    """Write each assignment's class summary (score histogram, pass rate per test) as HTML."""
    from .grading.report import write_report

    c = _course(course)
    for chapter in _chapters(assignments):
        path = write_report(c, chapter)
        _log(f"{chapter.assignment}: " + (f"class summary in {path}" if path else "no grades yet"))


@app.command("table")
def table_cmd(assignments: list[str] | None = ChaptersArg, course: Path | None = CourseOpt) -> None:
    """Print the grade table from the gradebook."""
    print_table(_course(course), _chapters(assignments))


@app.command()
def validate(
    assignments: list[str] | None = ChaptersArg,
    course: Path | None = CourseOpt,
    ids: int = typer.Option(
        1000,
        "--ids",
        min=1,
        envvar="NNFS_VALIDATE_IDS",
        help="Student ids the correct submissions are checked on.",
    ),
    keras_ids: int = typer.Option(
        200,
        "--keras-ids",
        min=1,
        envvar="NNFS_VALIDATE_KERAS_IDS",
        help="Ids for the checks that build Keras models.",
    ),
    mutant_ids: int = typer.Option(
        100,
        "--mutant-ids",
        min=1,
        envvar="NNFS_VALIDATE_MUTANT_IDS",
        help="Ids each buggy submission is checked on.",
    ),
    seed: int = typer.Option(0, "--seed", help="Picks the random student ids."),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Processes at once (default: one per core)."
    ),
) -> None:
    """Check the trusted checks on every chapter's sample class over many student ids:
    solution and alternatives pass on every id, each bug fails the checks that name it on
    at least 99% of the ids and no other check on any id; the blank release and the attacks
    are graded in the sandbox and fail."""
    import time

    from .validate import CATCH_GOAL
    from .validate import validate as do_validate

    started = time.monotonic()
    reports = do_validate(
        _course(course),
        _chapters(assignments),
        ids=ids,
        keras_ids=keras_ids,
        mutant_ids=mutant_ids,
        workers=workers,
        seed=seed,
        log=_log,
    )
    for report in reports:
        a = report.chapter.assignment
        t = Table(title=f"{a}: correct submissions, ids on which a check fails them")
        t.add_column("check")
        t.add_column("ids", justify="right")
        for student in report.correct:
            t.add_column(student, justify="right")
        for row in report.checks:
            cells = [_mark(0 if row.error is None else None, count) for count in row.false_failures.values()]
            t.add_row(row.check, str(row.ids) if row.error is None else "[red]error[/red]", *cells)
        console.print(t)
        t = Table(title=f"{a}: bugs, share of ids on which every check naming it fails")
        for name, justify in (
            ("bug", "left"),
            ("must fail", "left"),
            ("ids", "right"),
            ("caught", "right"),
            ("double penalty", "left"),
        ):
            t.add_column(name, justify=justify)
        for m in report.mutants:
            rate = f"{m.rate:.1%}"
            t.add_row(
                m.student,
                ", ".join(n.split(".", 1)[1] for n in sorted(m.expected)) or "none (another chapter's bug)",
                str(m.ids),
                f"[green]{rate}[/green]" if m.rate >= CATCH_GOAL else f"[red]{rate}[/red]",
                ", ".join(f"[red]{n.split('.', 1)[1]} ({c} ids)[/red]" for n, c in sorted(m.double.items()))
                or "-",
            )
        console.print(t)
        if report.sandboxed:
            t = Table(title=f"{a}: graded in the sandbox (one id)")
            for name in ("submission", "kind", "checks failed", "as expected"):
                t.add_column(name)
            for r in report.sandboxed:
                t.add_row(
                    r.student,
                    r.kind,
                    f"{len(r.failed)}/{len(report.checks)}",
                    "[green]yes[/green]" if r.ok else f"[red]{r.error or 'no'}[/red]",
                )
            console.print(t)
    t = Table(title="Trusted checks against the sample classes")
    for name, justify in (
        ("chapter", "left"),
        ("checks", "right"),
        ("false failures", "right"),
        ("bugs caught", "right"),
        ("double penalties", "right"),
        ("sandboxed", "right"),
        ("time", "right"),
    ):
        t.add_column(name, justify=justify)
    for report in reports:
        false = sum(sum(r.false_failures.values()) for r in report.checks)
        broken = sum(r.error is not None for r in report.checks)
        caught = sum(m.rate >= CATCH_GOAL for m in report.mutants)
        double = sum(bool(m.double) for m in report.mutants)
        sandboxed = sum(r.ok for r in report.sandboxed)
        t.add_row(
            report.chapter.assignment,
            f"{len(report.checks)}" + (f" ([red]{broken} broken[/red])" if broken else ""),
            _mark(0, false),
            _ratio(caught, len(report.mutants)),
            _mark(0, double),
            _ratio(sandboxed, len(report.sandboxed)),
            f"{report.seconds:.0f} s",
        )
    console.print(t)
    _log(
        f"Validated in {time.monotonic() - started:.0f} s: correct submissions on {ids} ids "
        f"({keras_ids} for Keras checks), bugs on {mutant_ids}."
    )
    if not all(r.ok for r in reports):
        _fail("some submissions were not graded as expected (see above)")


def _mark(goal, count):
    """A count that should be ``goal``: green when it is, red otherwise (None: broken)."""
    if goal is None:
        return "[red]-[/red]"
    return f"[green]{count}[/green]" if count == goal else f"[red]{count}[/red]"


def _ratio(good, total):
    if not total:
        return "-"
    return f"[green]{good}/{total}[/green]" if good == total else f"[red]{good}/{total}[/red]"


@app.command()
def book(
    course: Path | None = CourseOpt,
    pdf: bool = typer.Option(
        False,
        "--pdf",
        help="Also write the whole book as a PDF (LaTeX, offline; needs Debian's TeX Live, see .ci/run).",
    ),
) -> None:
    """Build the HTML book (strict: warnings are errors) into _build/html; --pdf also the PDF."""
    c = _course(course)
    from .book import PdfError, build_pdf, execute_ahead, kernel_environment, run_jupyter_book

    env = kernel_environment(os.environ)

    failed = execute_ahead(c.root, say=_log)
    if failed:
        for error in failed:
            _log(error)
        _fail(f"the book build failed: {len(failed)} notebook(s) stopped with an error (above)")
    if run_jupyter_book(c.root, env) != 0:
        _fail("the book build failed (see the messages above)")
    _log(f"Book: {c.root / '_build' / 'html' / 'index.html'}")
    if pdf:
        try:
            _log(f"PDF: {build_pdf(c.root, env)}")
        except PdfError as exc:
            _fail(exc)


@app.command("strip-outputs")
def strip_outputs(
    notebooks: list[Path] = typer.Argument(None, help="Notebooks (default: every chapter in book/)."),
    course: Path | None = CourseOpt,
) -> None:
    """Clear the outputs no test compares before a commit (see autograder/claims.py)."""
    import nbformat

    from .claims import strip_outputs as strip

    c = _course(course)
    for path in notebooks or [c.root / "book" / f"{ch.module}.ipynb" for ch in CHAPTERS]:
        nb = nbformat.read(path, as_version=4)
        changed = strip(nb)
        nbformat.write(nbformat.from_dict(nb), path)
        _log(f"{path}: {changed} cells cleared")


@app.command()
def links(course: Path | None = CourseOpt) -> None:
    """Check the book's external links (needs the internet); exit 1 if one is broken.

    Sphinx's linkcheck builder on the book's text, notebooks not executed; the
    full report is in _build/linkcheck/output.txt.
    """
    from .book import BAD_LINKS, check_links

    c = _course(course)
    status, results = check_links(c.root)
    if isinstance(status, BaseException):
        _fail(f"the link check could not run: {status}")
    bad = [r for r in results if r["status"] in BAD_LINKS]
    for r in bad:
        _log(f"{r['status']}: {r['uri']} ({r['filename']}:{r['lineno']}) {r['info']}".rstrip())
    checked = sum(r["status"] not in ("ignored", "unchecked", "local") for r in results)
    _log(
        f"{checked} external links checked, {len(bad)} broken; "
        f"report: {c.root / '_build' / 'linkcheck' / 'output.txt'}"
    )
    if bad:
        raise typer.Exit(1)
    if status:
        _fail("the link check failed (see the messages above)")


def print_table(course: Course, chapters: Iterable[Chapter]) -> None:
    from .grading import short_id, table

    for chapter in chapters:
        rows = table(course, [chapter])
        if not rows:
            continue
        t = Table(title=f"{chapter.assignment}: {chapter.title}")
        t.add_column("student")
        ids = [c.grade_id for c in rows[0].cells]
        for grade_id in ids:
            t.add_column(short_id(grade_id), justify="right")
        t.add_column("total", justify="right")
        for row in rows:
            scores = {c.grade_id: c for c in row.cells}
            cells = [_fmt(scores.get(g)) for g in ids]
            t.add_row(row.student, *cells, f"{row.score:g}/{row.max_score:g}")
        console.print(t)


def _fmt(cell):
    if cell is None:
        return ""
    if cell.needs_manual_grade:
        return "[yellow]manual[/yellow]"
    return f"{cell.score:g}" if cell.score else "[red]0[/red]"


def main() -> None:
    app()
