"""Feedback that names the bug (#15, item 6): each common mistake of ``source_lib.mistakes``
is named in the trusted verdict of a corpus mutant that makes it, graded as a student's
submission through the sandbox."""

import tempfile
from pathlib import Path

import pytest

from autograder.checks import run_checks
from autograder.corpus import corpus, library_texts
from autograder.course import CHAPTERS, Course
from conftest import REPO
from source_lib import mistakes

NAMED = [
    (chapter, kind, student)
    for chapter in CHAPTERS
    for kind, students in getattr(corpus(chapter.module), "NAMED_MISTAKES", {}).items()
    for student in students
]


def test_every_mistake_is_proven_by_a_mutant():
    assert {kind for _, kind, _ in NAMED} == set(mistakes.MISTAKES)


def _verdicts(chapter, student):
    sub = next(s for s in corpus(chapter.module).SAMPLE_CLASS if s.student == student)
    course = Course(REPO)
    with tempfile.TemporaryDirectory() as tmp:
        for rel, text in library_texts(course, chapter, sub).items():
            (Path(tmp) / "source_lib" / rel).parent.mkdir(parents=True, exist_ok=True)
            (Path(tmp) / "source_lib" / rel).write_text(text)
        return sub, run_checks(course, tmp, "student-42", sorted(sub.fails))


@pytest.mark.parametrize(
    "chapter, kind, student", NAMED, ids=[f"{kind}-{student}" for _, kind, student in NAMED]
)
def test_the_feedback_names_the_mistake(chapter, kind, student):
    sub, verdicts = _verdicts(chapter, student)
    named = [(v, f) for v in verdicts.values() for f in v.findings if f.mistake == kind]
    assert named, "\n".join(v.message for v in verdicts.values())
    verdict, finding = named[0]
    assert not verdict.passed and verdict.failed >= 1
    # in the student's words, in the message they read
    assert mistakes.explain(kind, finding.details["mistake"], finding.name) in verdict.message
    assert f"of {verdict.cases} hidden test cases" in verdict.message or verdict.cases == 1
