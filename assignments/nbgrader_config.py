"""nbgrader configuration of the course (the nbgrader course root is this folder).

Everything nbgrader generates here (source, release, submitted, autograded,
feedback, gradebook.db, grades.csv) is git-ignored: ``autograder release``
makes it from ``book/`` and ``source_lib/``.
"""
import os

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (AssignLatePenalties, CheckCellMetadata, ClearHiddenTests,
                                    ClearOutput, DeduplicateIds, Execute, GetGrades,
                                    IgnorePattern, LimitOutput, OverwriteCells,
                                    OverwriteKernelspec, SaveAutoGrades)

from autograder.preprocessor import SkipDemoCells, TrustedChecks

c = get_config()  # noqa: F821 (provided by nbgrader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.course_id = "nnfs"
# Override with an SQLAlchemy URL (e.g. postgresql://...) for a large course.
c.CourseDirectory.db_url = os.environ.get(
    "NNFS_GRADEBOOK", "sqlite:///" + os.path.join(c.CourseDirectory.root, "gradebook.db"))

# Student notebooks run in the sandboxed kernel (autograder/jupyter/kernels/nnfs-sandbox):
# memory, CPU time and file-size limits, offline data, quiet TensorFlow.
c.Execute.kernel_name = "nnfs-sandbox"
c.Execute.timeout = 120

# Demonstrations tagged "grading-skip" (speed tables, long training) are not run.
c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    DeduplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    CheckCellMetadata,
    SkipDemoCells,
]

# Trusted checks decide the autograder-test cells after the notebook ran and
# before nbgrader reads the scores.
c.Autograde.autograde_preprocessors = [
    Execute,
    TrustedChecks,
    IgnorePattern,
    ClearMetadataPreprocessor,
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
