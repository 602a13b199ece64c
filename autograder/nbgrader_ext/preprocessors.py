"""nbgrader preprocessor that lets the trusted checks decide the grade cells.

It runs inside nbgrader's own process during ``autograde``, after ``Execute``
ran the student's notebook in the sandboxed kernel and before
``SaveAutoGrades`` reads the scores from the cells' outputs. For every grade
cell whose source in the gradebook (the instructor's version, hidden part
included) names a trusted check, it replaces the cell's outputs with the
check's verdict: a line of text when it passed, an error output (which nbgrader
scores 0) with the diagnostic when it failed. Whatever the student's kernel
printed or patched in that cell no longer counts.
"""

import json
from pathlib import Path
from typing import Any

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Float, Integer, Unicode

from ..checks import Verdict, checks_named_in, run_checks
from ..course import Course
from ..probes import Limits
from .kernel import GradingKernelManager


def verdict_outputs(verdict: Verdict) -> list[NotebookNode]:
    if verdict.passed:
        return [new_output("stream", name="stdout", text=verdict.message + "\n")]
    lines = verdict.message.split("\n")
    return [
        new_output(
            "error",
            ename="CheckFailure",
            evalue=verdict.message,
            traceback=["\x1b[0;31mCheckFailure\x1b[0m: " + lines[0], *lines[1:]],
        )
    ]


class TrustedChecks(NbGraderPreprocessor):
    """Decide autograder-test cells from the trusted checks."""

    course_root = Unicode(
        "",
        help="The course checkout whose instructor source_lib is the reference "
        "(default: the parent of the nbgrader course root).",
    ).tag(config=True)
    wall_seconds = Float(
        Limits.wall_seconds, help="Wall-time limit of each check, and of importing the student's module."
    ).tag(config=True)
    memory_bytes = Integer(Limits.memory_bytes, help="Address-space limit of the student process.").tag(
        config=True
    )

    def _course(self, resources):
        if self.course_root:
            return Course(Path(self.course_root))
        # the gradebook sits in the nbgrader course root, inside the course checkout
        return Course(Path(self.config.CourseDirectory.root).resolve().parent)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        info = resources["nbgrader"]
        course = self._course(resources)
        names_by_cell = {}
        with Gradebook(info["db_url"]) as gb:
            # every test cell of the release is here: RestoreCells (autograder/cells.py)
            # put back those a student deleted before the notebook ran
            for cell in nb.cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("grade"):
                    continue
                try:  # the release's cell, hidden part included, as the gradebook holds it
                    source = gb.find_source_cell(grade_id, info["notebook"], info["assignment"]).source
                except MissingEntry:
                    continue
                names = checks_named_in(source)
                if names:
                    names_by_cell[grade_id] = names
        if not names_by_cell:
            return nb, resources
        submission = Path(resources["metadata"]["path"])
        limits = Limits.for_wall_time(self.wall_seconds, memory_bytes=self.memory_bytes)
        all_names = sorted({n for names in names_by_cell.values() for n in names})
        self.log.info("Trusted checks for %s: %s", info["student"], ", ".join(all_names))
        verdicts = run_checks(course, submission, info["student"], all_names, limits)
        for cell in nb.cells:
            names = names_by_cell.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
            if names:
                cell.outputs = [out for n in names for out in verdict_outputs(verdicts[n])]
        return nb, resources


SKIP_TAG = "grading-skip"


class GradingExecute(Execute):
    """nbgrader's ``Execute`` with the kernel manager of ``nbgrader_ext.kernel`` (no fixed waits).

    ``Execute`` passes its kernel manager class as an argument, which the
    configuration cannot override.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        kwargs.setdefault("kernel_manager_class", GradingKernelManager)
        super().__init__(*args, **kwargs)


class SkipDemoCells(NbGraderPreprocessor):
    """Blank the code cells tagged ``grading-skip`` before a submission runs.

    Chapters tag their demonstrations that cost time and decide nothing (speed
    tables, long training runs) so that grading a class stays fast; graded
    cells are never skipped.
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if (
            cell.cell_type == "code"
            and SKIP_TAG in cell.metadata.get("tags", [])
            and not cell.metadata.get("nbgrader", {}).get("grade")
        ):
            cell.source = "# (a demonstration: not run while grading)"
            cell.outputs = []
        return cell, resources


class CapOutput(NbGraderPreprocessor):
    """Cut each cell's outputs to ``max_chars`` characters after the notebook ran.

    nbgrader's ``LimitOutput`` counts lines; a cell printing 100 MB on a few
    lines would still fill the autograded notebook and the feedback page.
    """

    max_chars = Integer(100_000, help="Characters of output kept per cell.").tag(config=True)

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict[str, Any], index: int
    ) -> tuple[NotebookNode, dict[str, Any]]:
        if cell.cell_type != "code":
            return cell, resources
        budget, kept = self.max_chars, []
        for out in cell.outputs:
            size = len(json.dumps(out))
            if size <= budget:
                kept.append(out)
                budget -= size
                continue
            if out.output_type == "stream" and budget > 0:
                kept.append(new_output("stream", name=out.name, text=out.text[:budget]))
            cut = sum(len(json.dumps(o)) for o in cell.outputs) - sum(len(json.dumps(o)) for o in kept)
            kept.append(
                new_output(
                    "stream",
                    name="stderr",
                    text=(
                        f"\n[... {cut} more characters of output were cut: the limit is "
                        f"{self.max_chars} per cell ...]\n"
                    ),
                )
            )
            break
        cell.outputs = kept
        return cell, resources
