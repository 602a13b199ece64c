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
from pathlib import Path

from nbformat.v4 import new_output
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Float, Integer, Unicode

from .checks import checks_named_in, run_checks
from .course import Course
from .sandbox import Limits


def verdict_outputs(verdict):
    if verdict.passed:
        return [new_output("stream", name="stdout", text=verdict.message + "\n")]
    lines = verdict.message.split("\n")
    return [new_output("error", ename="CheckFailure", evalue=verdict.message,
                       traceback=["\x1b[0;31mCheckFailure\x1b[0m: " + lines[0], *lines[1:]])]


class TrustedChecks(NbGraderPreprocessor):
    """Decide autograder-test cells from the trusted checks."""

    course_root = Unicode(
        "", help="The course checkout whose instructor source_lib is the reference "
                 "(default: the parent of the nbgrader course root).").tag(config=True)
    wall_seconds = Float(Limits.wall_seconds, help="Wall-time limit for one notebook's checks.").tag(config=True)
    memory_bytes = Integer(Limits.memory_bytes, help="Address-space limit of the student process.").tag(config=True)

    def _course(self, resources):
        if self.course_root:
            return Course(Path(self.course_root))
        # the gradebook sits in the nbgrader course root, inside the course checkout
        return Course(Path(self.config.CourseDirectory.root).resolve().parent)

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        course = self._course(resources)
        names_by_cell = {}
        with Gradebook(info["db_url"]) as gb:
            for cell in nb.cells:
                grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
                if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("grade"):
                    continue
                try:
                    source = gb.find_source_cell(grade_id, info["notebook"], info["assignment"]).source
                except MissingEntry:
                    continue
                names = checks_named_in(source)
                if names:
                    names_by_cell[grade_id] = names
        if not names_by_cell:
            return nb, resources
        submission = Path(resources["metadata"]["path"])
        limits = Limits(wall_seconds=self.wall_seconds, memory_bytes=self.memory_bytes,
                        cpu_seconds=int(self.wall_seconds) + 5)
        all_names = sorted({n for names in names_by_cell.values() for n in names})
        self.log.info("Trusted checks for %s: %s", info["student"], ", ".join(all_names))
        verdicts = run_checks(course, submission, info["student"], all_names, limits)
        for cell in nb.cells:
            names = names_by_cell.get(cell.metadata.get("nbgrader", {}).get("grade_id"))
            if names:
                cell.outputs = [out for n in names for out in verdict_outputs(verdicts[n])]
        return nb, resources


SKIP_TAG = "grading-skip"


class SkipDemoCells(NbGraderPreprocessor):
    """Blank the code cells tagged ``grading-skip`` before a submission runs.

    Chapters tag their demonstrations that cost time and decide nothing (speed
    tables, long training runs) so that grading a class stays fast; graded
    cells are never skipped.
    """

    def preprocess_cell(self, cell, resources, index):
        if (cell.cell_type == "code" and SKIP_TAG in cell.metadata.get("tags", [])
                and not cell.metadata.get("nbgrader", {}).get("grade")):
            cell.source = "# (a demonstration: not run while grading)"
            cell.outputs = []
        return cell, resources
