"""Solution regions: stubs name their task, malformed regions are refused."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.course import Course
from autograder.regions import RegionError, all_regions, find_regions, stub_text

COURSE = Course.find()
GRADED = [
    "sigmoid",
    "sigmoid_grad",
    "forward_propagation",
    "mse_loss",
    "back_propagation",
    "affine_forward",
    "affine_backward",
    "relu_forward",
    "relu_backward",
    "softmax_loss",
]


def test_every_graded_function_is_a_numbered_task():
    regions = [r for r in all_regions(COURSE.source_lib) if r.path.stem == "feedforward"]
    assert [r.function for r in regions] == GRADED
    assert [r.task for r in regions] == [f"1.{i}" for i in range(1, 11)]


STUB_PROBE = """
import importlib, json, sys
sys.path.insert(0, sys.argv[1])
mod = importlib.import_module("source_lib." + sys.argv[3])
classes = [v for v in vars(mod).values() if isinstance(v, type) and v.__module__ == mod.__name__]
said = {}
for name in json.loads(sys.argv[2]):
    # a module-level function, or a method of one of the module's classes
    func = getattr(mod, name, None) or next(vars(c)[name] for c in classes if name in vars(c))
    try:
        # hyperparameter dicts (conv_param, config...) may be read by a stub's provided lines
        names = func.__code__.co_varnames[:func.__code__.co_argcount]
        func(*[{} if n.endswith(("param", "config")) else None for n in names])
        said[name] = "returned"
    except NotImplementedError as exc:
        said[name] = str(exc)
print(json.dumps(said))
"""


@pytest.mark.parametrize("module", sorted({r.path.stem for r in all_regions(COURSE.source_lib)}))
def test_stubbed_module_imports_and_each_stub_names_its_task(tmp_path, module):
    # in a fresh interpreter: a stubbed Keras layer must not replace the real one
    # in Keras's registry of serializable classes for the other tests
    # the whole package stubbed, as released: modules import their siblings
    lib = tmp_path / "source_lib"
    lib.mkdir()
    for source in COURSE.source_lib.glob("*.py"):
        text = source.read_text()
        (lib / source.name).write_text(stub_text(source) if "BEGIN SOLUTION" in text else text)
    path = COURSE.source_lib / f"{module}.py"
    assert "BEGIN SOLUTION" not in (lib / path.name).read_text()
    regions = find_regions(path)
    assert regions
    proc = subprocess.run(
        [sys.executable, "-c", STUB_PROBE, str(tmp_path), json.dumps([r.function for r in regions]), module],
        capture_output=True,
        text=True,
        check=True,
    )
    said = json.loads(proc.stdout.strip().splitlines()[-1])
    for region in regions:
        assert said[region.function] == f"Task {region.task}: implement {region.function}"


def test_task_numbers_are_unique_and_match_their_chapter():
    from autograder.course import CHAPTERS

    regions = all_regions(COURSE.source_lib)
    assert len({r.task for r in regions}) == len(regions)
    numbers = {m: c.number for c in CHAPTERS for m in c.modules}
    for r in regions:
        assert r.task.split(".")[0] == str(numbers[r.path.stem]), (r.function, r.task)


BAD = {
    "nested": 'def f():\n    """Task 9.1: x."""\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n',
    "unclosed": 'def f():\n    """Task 9.1: x."""\n    ### BEGIN SOLUTION\n    return 1\n',
    "no task": 'def f():\n    """Nothing."""\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n',
    "outside": "### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n",
}


@pytest.mark.parametrize("name", BAD)
def test_malformed_regions_are_refused(tmp_path, name):
    path = tmp_path / "m.py"
    path.write_text(BAD[name])
    with pytest.raises(RegionError):
        find_regions(path)


def test_secret_lines_leave_out_what_the_provided_code_shows(tmp_path):
    from autograder.regions import solution_lines

    (tmp_path / "m.py").write_text(
        "def provided(x):\n    n_rows = x.shape[0]\n    return n_rows\n\n\n"
        'def task(x):\n    """Task 9.1: x."""\n    ### BEGIN SOLUTION\n'
        "    n_rows = x.shape[0]\n    return x.sum() / n_rows\n    ### END SOLUTION\n"
    )
    assert solution_lines(tmp_path) == {"return x.sum() / n_rows"}


def basename_clashes(files):
    """Basenames that two of ``files`` share."""
    names = [Path(f).name for f in files]
    return sorted({n for n in names if names.count(n) > 1})


def test_no_two_source_lib_files_share_a_name():
    """A flattened upload (Canvas, a zip of source_lib's contents without its folders) puts
    each file by its name alone: a subpackage's module named like a chapter's would take
    the graded module's place (``lms._target``)."""
    files = [p for p in COURSE.source_lib.rglob("*.py") if "__pycache__" not in p.parts]
    assert basename_clashes([p for p in files if p.name != "__init__.py"]) == []
    assert basename_clashes(["a/feedforward.py", "a/diagrams/feedforward.py"]) == ["feedforward.py"]
