"""``autograder validate``: its tables, and proof that it reports what it should."""

import dataclasses
import re
import shutil

import pytest

from autograder.checks import get, trials_for
from autograder.corpus import Edit, corpus
from autograder.course import CHAPTERS, Course
from autograder.validate import CATCH_GOAL, _grade_one, kind_of, student_ids, validate
from conftest import REPO, _ignore, autograder

FEEDFORWARD = CHAPTERS[0]
SIGMOID = "feedforward.sigmoid"
IDS = 60


def test_validate_prints_a_clean_table_for_every_chapter(validated):
    """conftest's ``validated``: ``autograder validate`` on every chapter, fewer ids."""
    for chapter in CHAPTERS:
        sample = corpus(chapter.module).SAMPLE_CLASS
        mutants = sum(kind_of(s) == "mutant" for s in sample)
        sandboxed = sum(kind_of(s) == "sandboxed" for s in sample)
        line = next(
            line
            for line in validated.splitlines()
            if chapter.assignment in line and "│" in line and " s │" in line
        )
        cells = [c.strip() for c in line.split("│")[1:-1]]
        assert cells[1:6] == [
            str(len(corpus(chapter.module).ALL)),
            "0",
            f"{mutants}/{mutants}",
            "0",
            f"{sandboxed}/{sandboxed}",
        ], line


def submission(student):
    return next(s for s in corpus(FEEDFORWARD.module).SAMPLE_CLASS if s.student == student)


def run(*subs, ids=IDS, mutant_ids=IDS):
    """Validate Chapter 1's checks on ``subs`` alone, in this process; its report."""
    (report,) = validate(
        Course(REPO),
        [FEEDFORWARD],
        ids=ids,
        keras_ids=ids,
        mutant_ids=mutant_ids,
        workers=1,
        samples={FEEDFORWARD.module: list(subs)},
        log=lambda message: None,
    )
    return report


# sigmoid wrong only when z has an odd number of rows: the random z of the first trial
# has one on some ids only
ODD_ROWS = Edit(
    "return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))",
    "return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e)) "
    "+ (0.5 if z.ndim == 2 and z.shape[0] % 2 else 0.0)",
)


def odd_row_ids(count):
    """The ids, of the first ``count``, on which the sigmoid check draws a z with odd rows."""
    course, chk = Course(REPO), get(SIGMOID)
    return [sid for sid in student_ids(count) if trials_for(course, chk, sid)[0].inputs["z"].shape[0] % 2]


def check_row(report, name):
    return next(r for r in report.checks if r.check == name)


def test_a_correct_submission_wrong_on_some_ids_is_reported_with_its_false_failures():
    odd = odd_row_ids(IDS)
    assert 0 < len(odd) < IDS  # the edit is wrong on some ids only
    alt = dataclasses.replace(submission("alt-formulas"), student="alt-odd-rows", edits=(ODD_ROWS,))
    report = run(submission("solution"), alt)
    row = check_row(report, SIGMOID)
    assert row.ids == IDS
    assert row.false_failures == {"solution": 0, "alt-odd-rows": len(odd)}
    assert row.examples["alt-odd-rows"][0] == odd[0]
    assert not row.ok and not report.ok
    assert all(r.ok for r in report.checks if r.check != SIGMOID)


def test_a_bug_caught_on_some_ids_only_has_a_catch_rate_below_the_goal():
    odd = odd_row_ids(IDS)
    bug = dataclasses.replace(submission("bug-sigmoid-overflow"), student="bug-odd-rows", edits=(ODD_ROWS,))
    report = run(bug)
    (m,) = report.mutants
    assert (m.ids, m.caught) == (IDS, len(odd))
    assert m.rate < CATCH_GOAL and not m.double
    assert not m.ok and not report.ok


def test_a_bug_that_fails_a_check_it_does_not_name_is_a_double_penalty():
    bug = dataclasses.replace(submission("bug-bias-axis"), fails=frozenset({SIGMOID}))
    report = run(bug, mutant_ids=10)
    (m,) = report.mutants
    assert m.ids == 10 and m.caught == 0
    assert m.double == {"feedforward.back_propagation": 10}
    assert not m.ok


def test_the_sample_bugs_are_caught_without_double_penalty():
    bugs = [s for s in corpus(FEEDFORWARD.module).SAMPLE_CLASS if kind_of(s) == "mutant"]
    report = run(submission("solution"), *bugs, ids=10, mutant_ids=10)
    assert report.ok, [m for m in report.mutants if not m.ok]
    assert all(m.ids == 10 and m.caught == 10 for m in report.mutants)


def test_the_sandbox_grades_the_blank_and_the_attacks():
    """Only the fixtures of a trusted kind run in-process, whatever their names."""
    kinds = {s.student: kind_of(s) for s in corpus(FEEDFORWARD.module).SAMPLE_CLASS}
    assert kinds["blank"] == kinds["attack-library"] == kinds["attack-cell"] == "sandboxed"
    assert kind_of(dataclasses.replace(submission("solution"), kind="attack")) == "sandboxed"
    assert kind_of(dataclasses.replace(submission("attack-cell"), student="solution")) == "sandboxed"
    result = _grade_one(
        Course(REPO), FEEDFORWARD, submission("attack-library"), corpus(FEEDFORWARD.module).ALL
    )
    assert result.error is None and result.ok


@pytest.mark.parametrize("claim", [frozenset(), frozenset({SIGMOID})])
def test_a_sandboxed_submission_graded_otherwise_is_reported(claim):
    blank = dataclasses.replace(submission("blank"), fails=claim)
    result = _grade_one(Course(REPO), FEEDFORWARD, blank, corpus(FEEDFORWARD.module).ALL)
    assert result.error is None and not result.ok


def test_validate_fails_when_a_submission_is_misgraded(course_copy, tmp_path):
    broken = Course(tmp_path / "nnfs")
    shutil.copytree(course_copy.root, broken.root, ignore=_ignore)
    path = broken.source_lib / "pooling.py"
    path.write_text("this line is not Python\n" + path.read_text())
    proc = autograder(broken, "validate", "ch03_pooling", "--ids", "5", "--mutant-ids", "5", check=False)
    assert proc.returncode == 1
    assert "not graded as expected" in proc.stdout
    assert re.search(r"pooling\.\w+ could not run", proc.stdout)
