"""The instructor's command line: ``autograder --help``."""
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.table import Table

from .course import CHAPTERS, Course, chapter_for

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Release, grade and give feedback for Neural Networks from Scratch.")
# Wide enough for the grade table when the output is a log file, not a terminal.
console = Console(width=None if sys.stdout.isatty() else 160)

CourseOpt = typer.Option(None, "--course", help="Course checkout (default: the one holding the working directory).")
ChaptersArg = typer.Argument(None, help="Assignments, e.g. ch01_feedforward (default: all chapters).")


def _course(path):
    return Course(Path(path).resolve()) if path else Course.find()


def _chapters(names):
    try:
        return [chapter_for(n) for n in names] if names else CHAPTERS
    except KeyError as exc:
        console.print(f"[red]{exc.args[0]}[/red]")
        raise typer.Exit(2)


def _log(message):
    console.print(message, highlight=False, markup=False)


def _fail(exc):
    console.print(f"[red]error:[/red] {exc}", highlight=False)
    raise typer.Exit(1)


@app.command()
def release(assignments: Optional[List[str]] = ChaptersArg, course: Optional[Path] = CourseOpt):
    """Make the student release: notebooks through nbgrader, source_lib stubbed."""
    from .nbgrader_cli import NbgraderError
    from .release import release as do_release

    try:
        do_release(_course(course), _chapters(assignments), log=_log)
    except NbgraderError as exc:  # ReleaseError included
        _fail(exc)


@app.command("sample-class")
def sample_class(assignments: Optional[List[str]] = ChaptersArg, course: Optional[Path] = CourseOpt):
    """Put the bundled sample class into assignments/submitted (needs a release)."""
    from .corpus import CorpusError, sample_class as do_sample

    try:
        do_sample(_course(course), _chapters(assignments), log=_log)
    except CorpusError as exc:
        _fail(exc)


@app.command()
def grade(assignments: Optional[List[str]] = ChaptersArg, course: Optional[Path] = CourseOpt):
    """Autograde assignments/submitted into the gradebook; write feedback and grades CSV."""
    from .grading import grade as do_grade
    from .nbgrader_cli import NbgraderError

    c = _course(course)
    try:
        do_grade(c, _chapters(assignments), log=_log)
    except NbgraderError as exc:
        _fail(exc)
    print_table(c, _chapters(assignments))
    _log(f"Feedback:   {c.folder('feedback')}/<student>/<assignment>/<notebook>.html")
    _log(f"Grades CSV: {c.grades_csv}")


@app.command()
def export(course: Optional[Path] = CourseOpt):
    """Write the grades CSV from the gradebook."""
    from .grading import export as do_export

    _log(f"Grades CSV: {do_export(_course(course))}")


@app.command("table")
def table_cmd(assignments: Optional[List[str]] = ChaptersArg, course: Optional[Path] = CourseOpt):
    """Print the grade table from the gradebook."""
    print_table(_course(course), _chapters(assignments))


@app.command()
def book(course: Optional[Path] = CourseOpt):
    """Build the HTML book (strict: warnings are errors) into _build/html."""
    c = _course(course)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
    env.pop("MPLBACKEND", None)  # the notebooks need the inline backend for their figures
    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe), "build", str(c.root), "-W", "-n", "--keep-going"]
    if subprocess.run(cmd, cwd=c.root, env=env).returncode != 0:
        _fail("the book build failed (see the messages above)")
    _log(f"Book: {c.root / '_build' / 'html' / 'index.html'}")


def print_table(course, chapters):
    from .grading import table

    for chapter in chapters:
        rows = table(course, [chapter])
        if not rows:
            continue
        t = Table(title=f"{chapter.assignment}: {chapter.title}")
        t.add_column("student")
        ids = [c.grade_id for c in rows[0].cells]
        for grade_id in ids:
            t.add_column(_short(grade_id), justify="right")
        t.add_column("total", justify="right")
        for row in rows:
            scores = {c.grade_id: c for c in row.cells}
            cells = [_fmt(scores.get(g)) for g in ids]
            t.add_row(row.student, *cells, f"{row.score:g}/{row.max_score:g}")
        console.print(t)


def _short(grade_id):
    # task_1_5_back_propagation -> 1.5
    parts = grade_id.split("_")
    if parts[0] == "task" and len(parts) > 2:
        return f"{parts[1]}.{parts[2]}"
    return parts[0]


def _fmt(cell):
    if cell is None:
        return ""
    if cell.needs_manual_grade:
        return "[yellow]manual[/yellow]"
    return f"{cell.score:g}" if cell.score else "[red]0[/red]"


def main():
    app()
