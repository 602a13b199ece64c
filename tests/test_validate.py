"""``autograder validate``: its table, and proof that it reports what it should."""
import dataclasses
import shutil

from autograder.corpus import corpus
from autograder.course import CHAPTERS, Course
from autograder.validate import _grade_one

from conftest import REPO, _ignore, autograder

FEEDFORWARD = CHAPTERS[0]


def test_validate_prints_a_clean_table_for_every_chapter(validated):
    """conftest's ``validated``: the guide's ``autograder validate``, every chapter."""
    for chapter in CHAPTERS:
        sample = corpus(chapter.module).SAMPLE_CLASS
        mutants = sum(s.student not in ("solution", "blank") and not s.student.startswith("alt-")
                      for s in sample)
        line = next(line for line in validated.splitlines() if chapter.assignment in line)
        assert f"{mutants}/{mutants}" in line and "1/1" in line, line


def submission(student):
    return next(s for s in corpus(FEEDFORWARD.module).SAMPLE_CLASS if s.student == student)


def test_a_bug_that_no_check_names_is_reported_as_a_false_failure():
    bug = dataclasses.replace(submission("bug-bias-axis"), fails=frozenset())
    result = _grade_one(Course(REPO), FEEDFORWARD, bug, corpus(FEEDFORWARD.module).ALL)
    assert result.error is None
    assert result.false_failures == {"feedforward.back_propagation"}
    assert not result.ok


def test_a_check_that_misses_its_bug_is_reported_as_not_caught():
    claims = dataclasses.replace(submission("alt-formulas"),
                                 fails=frozenset({"feedforward.sigmoid"}))
    result = _grade_one(Course(REPO), FEEDFORWARD, claims, corpus(FEEDFORWARD.module).ALL)
    assert not result.caught and not result.ok


def test_validate_fails_when_a_submission_is_misgraded(course_copy, tmp_path):
    broken = Course(tmp_path / "nnfs")
    shutil.copytree(course_copy.root, broken.root, ignore=_ignore)
    path = broken.source_lib / "pooling.py"
    path.write_text("this line is not Python\n" + path.read_text())
    proc = autograder(broken, "validate", "ch03_pooling", check=False)
    assert proc.returncode == 1
    assert "not graded as expected" in proc.stdout
