"""One source for a task: the registry read from ``source_lib`` (``autograder/tasks.py``).

Every notebook grade cell (its grade id and the check its hidden part names), every trusted
check and every corpus list must match it; each rule is also run on a doctored copy where
it must fail.
"""

import dataclasses
import json
from pathlib import Path

import pytest

from autograder import checks
from autograder.corpus import KINDS, corpus
from autograder.course import CHAPTERS, read_chapters
from autograder.tasks import Task, chapter_tasks, tasks

REPO = Path(__file__).resolve().parents[1]


def grade_cell_problems(notebook, chapter):
    """What is wrong with the grade cells of ``notebook`` (a dict) against ``chapter``'s tasks."""
    tasks_by_id = {t.grade_id: t for t in chapter_tasks(chapter.number)}
    expected = set(tasks_by_id)
    found, problems = [], []
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell["cell_type"] == "code" and meta.get("grade"):
            found.append(meta["grade_id"])
            task = tasks_by_id.get(meta["grade_id"])
            if task is None:
                problems.append(f"{meta['grade_id']} grades no task of chapter {chapter.number}")
                continue
            named = checks.checks_named_in("".join(cell["source"]))
            if named != [task.name]:
                problems.append(f"{meta['grade_id']}'s hidden part names {named}, not [{task.name!r}]")
    problems += [f"no grade cell for {g}" for g in sorted(expected - set(found))]
    problems += [f"{g} graded twice" for g in sorted({g for g in found if found.count(g) > 1})]
    return problems


def notebook(chapter):
    return json.loads((REPO / "book" / chapter.notebook).read_text())


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_every_grade_cell_grades_one_task_of_its_chapter(chapter):
    assert chapter_tasks(chapter.number)
    assert grade_cell_problems(notebook(chapter), chapter) == []


def test_a_grade_cell_that_matches_no_task_is_found():
    chapter = CHAPTERS[0]
    nb = notebook(chapter)
    cell = next(
        c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "task_1_1_sigmoid"
    )
    cell["metadata"]["nbgrader"]["grade_id"] = "task_1_1_sigmoidd"
    assert grade_cell_problems(nb, chapter) == [
        "task_1_1_sigmoidd grades no task of chapter 1",
        "no grade cell for task_1_1_sigmoid",
    ]


def test_a_hidden_part_naming_another_check_is_found():
    chapter = CHAPTERS[0]
    nb = notebook(chapter)
    cell = next(
        c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "task_1_2_sigmoid_grad"
    )
    cell["source"] = "".join(cell["source"]).replace("feedforward.sigmoid_grad", "feedforward.sigmoid")
    assert grade_cell_problems(nb, chapter) == [
        "task_1_2_sigmoid_grad's hidden part names ['feedforward.sigmoid'], not ['feedforward.sigmoid_grad']"
    ]


def test_every_task_has_its_check_and_every_check_a_task():
    names = {t.name for t in tasks()}
    for task in tasks():
        assert checks.get(task.name).task == task.number
    assert set(checks.REGISTRY) == names
    assert [t.number for t in tasks()] == [t.number for t in sorted(tasks(), key=lambda t: t.order)]


def test_a_check_without_a_task_is_refused():
    with pytest.raises(KeyError, match="Task N.M"):
        checks.check("feedforward.no_such_function")(lambda rng, ref: [])


def test_the_chapters_are_read_from_the_toc_and_the_notebooks():
    assert [c.module for c in read_chapters(REPO)] == [c.module for c in CHAPTERS]
    assert CHAPTERS[3].modules == ("normalization", "keras_layers")  # from Tasks 4.9 and 4.10
    assert CHAPTERS[0].title == "Feed-forward networks"
    assert Task("4.10", "keras_layers", "BatchNormLayer.call").grade_id == "task_4_10_call"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.module)
def test_the_corpus_names_only_its_chapters_checks_and_kinds_are_consistent(chapter):
    module = corpus(chapter.module)
    assert module.ALL == {t.name for t in chapter_tasks(chapter.number)}
    for sub in module.SAMPLE_CLASS:
        assert sub.kind in KINDS
        assert sub.fails is None or sub.fails <= module.ALL, sub.student
        assert kind_problems(sub, module.ALL) == [], sub.student


def kind_problems(sub, every_check):
    """Why ``sub``'s kind does not fit what it is."""
    if sub.kind == "correct" and (sub.fails or sub.library != "solution"):
        return ["a correct submission fails nothing and uses the solution"]
    if sub.kind == "mutant" and (sub.fails is None or sub.library != "solution"):
        # it may fail none: a bug in an earlier chapter's function costs only that chapter
        return ["a mutant is the solution with a bug, naming the checks it fails"]
    if sub.kind == "blank" and (sub.library != "release" or sub.edits):
        return ["the blank submission is the untouched release"]
    return []


def test_a_fixture_of_the_wrong_kind_is_found():
    sample = corpus("feedforward").SAMPLE_CLASS
    solution = next(s for s in sample if s.kind == "correct")
    bug = next(s for s in sample if s.kind == "mutant")
    every = corpus("feedforward").ALL
    blank = next(s for s in sample if s.kind == "blank")
    assert kind_problems(dataclasses.replace(blank, kind="mutant"), every)
    assert kind_problems(dataclasses.replace(bug, kind="correct"), every)
    with pytest.raises(ValueError, match="kind must be one of"):
        dataclasses.replace(solution, kind="bug")
