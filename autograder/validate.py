"""``autograder validate``: do the trusted checks grade the fixture submissions as they should?

Every chapter's sample class (``autograder/corpus/<module>.py``) goes through
the trusted checks, the code that decides the points: the instructor solution
and the correct alternatives must pass every check, the blank release must
fail every check without crashing the grader, and each realistic bug or attack
must fail the checks that name it, and only those. The submissions are graded
in parallel, each in its own sandboxed process, as in a real batch.
"""
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from .checks import run_checks
from .corpus import corpus, library_texts
from .grading import default_workers


@dataclass
class Result:
    """How one fixture submission fared against a chapter's checks."""

    student: str
    kind: str  # "solution", "alternative", "blank", "mutant"
    expected: frozenset  # the checks it must fail
    failed: frozenset = field(default_factory=frozenset)
    error: str = None  # the grader itself broke

    @property
    def caught(self):
        """A bug is caught when every check that names it fails."""
        return self.error is None and self.expected <= self.failed

    @property
    def false_failures(self):
        """Checks failed that should have passed."""
        return self.failed - self.expected

    @property
    def ok(self):
        return self.caught and not self.false_failures


@dataclass
class ChapterReport:
    chapter: object
    results: list
    seconds: float

    def of(self, *kinds):
        return [r for r in self.results if r.kind in kinds]

    @property
    def ok(self):
        return all(r.ok for r in self.results)


def kind_of(sub):
    if sub.student in ("solution", "blank"):
        return sub.student
    return "alternative" if sub.student.startswith("alt-") else "mutant"


def _grade_one(course, chapter, sub, all_checks):
    expected = frozenset(all_checks if sub.fails is None else sub.fails)
    result = Result(sub.student, kind_of(sub), expected)
    try:
        with tempfile.TemporaryDirectory(prefix="nnfs-validate-") as tmp:
            for rel, text in library_texts(course, chapter, sub).items():
                path = Path(tmp) / "source_lib" / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            verdicts = run_checks(course, tmp, sub.student, sorted(all_checks))
        result.failed = frozenset(name for name, v in verdicts.items() if not v.passed)
    except Exception as exc:  # reported in the table; the other submissions go on
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def validate(course, chapters, workers=None, log=print):
    """Grade every chapter's sample class with the trusted checks; one ``ChapterReport`` each."""
    workers = workers or default_workers()
    reports = []
    for chapter in chapters:
        module = corpus(chapter.module)
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda s: _grade_one(course, chapter, s, module.ALL),
                                    module.SAMPLE_CLASS))
        reports.append(ChapterReport(chapter, results, time.monotonic() - started))
        for r in results:
            if not r.ok:
                log(f"{chapter.assignment}: {r.student} ({r.kind}): "
                    + (r.error or _problem(r)))
    return reports


def _problem(result):
    parts = []
    if result.expected - result.failed:
        parts.append("passed " + ", ".join(sorted(result.expected - result.failed))
                     + ", which should catch it")
    if result.false_failures:
        parts.append("failed " + ", ".join(sorted(result.false_failures))
                     + ", which should pass")
    return "; ".join(parts)
