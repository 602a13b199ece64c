"""nbgrader configuration of the course (the nbgrader course root is this folder).

Everything nbgrader generates here (source, release, submitted, autograded,
feedback, gradebook.db, grades.csv) is git-ignored: ``autograder release``
makes it from ``book/`` and ``source_lib/``.
"""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests,
                                    ClearOutput, DeduplicateIds, GetGrades,
                                    IgnorePattern, LimitOutput, OverwriteCells,
                                    OverwriteKernelspec, SaveAutoGrades)

from autograder.nbgrader_ext.cells import RestoreCells
from autograder.nbgrader_ext.intake import IntakeNotes
from autograder.nbgrader_ext.preprocessors import CapOutput, GradingExecute, SkipDemoCells, TrustedChecks

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "nnfs"
# Override with an SQLAlchemy URL (e.g. postgresql://...) for a large course.
c.CourseDirectory.db_url = os.environ.get(
    "NNFS_GRADEBOOK", "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db"))

# Student notebooks run in the sandboxed kernel (autograder/jupyter/kernels/nnfs-sandbox):
# a throwaway copy of the submission, no network, an unprivileged user, resource
# limits (autograder/jail.py). With no network it talks to nbgrader over Unix
# sockets, in a folder of each kernel's own (autograder/kernel.py: nothing a student
# writes there survives the job). Each cell may run for Execute.timeout s.
c.Execute.kernel_name = "nnfs-sandbox"
c.Execute.timeout = 120
# Once the last cell has run the kernel has nothing left to do: stop it at once
# (the sandbox ends everything it started, and the grader removes its files).
c.Execute.shutdown_kernel = "immediate"
c.KernelManager.transport = "ipc"

# Demonstrations tagged "grading-skip" (speed tables, long training) are not run.
c.Autograde.sanitize_preprocessors = [
    IntakeNotes,  # first: removes forged grader notes, adds what the intake left out
    # the release's graded cells back in place, whatever the submitted metadata says
    # (autograder/cells.py), so that tampering costs only the tampered cell
    RestoreCells,
    ClearOutput,
    # nbgrader's own checks find nothing to fix after RestoreCells; kept as a second
    # line of defence (they cost milliseconds) should it ever miss a cell
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    CheckCellMetadata,
    SkipDemoCells,
]

# Trusted checks decide the autograder-test cells after the notebook ran and
# before nbgrader reads the scores.
c.Autograde.autograde_preprocessors = [
    GradingExecute,  # nbgrader's Execute, without jupyter_client's fixed waits
    TrustedChecks,
    IgnorePattern,
    ClearMetadataPreprocessor,
    CapOutput,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# nbgrader's feedback shows the autograded notebook, whose grade cells hold the
# hidden tests again: strip them.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]

# The instructor source_lib that the trusted checks compare against.
c.TrustedChecks.course_root = os.path.dirname(c.CourseDirectory.root)
