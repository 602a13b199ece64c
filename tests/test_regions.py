"""Solution regions: stubs name their task, malformed regions are refused."""
import importlib.util
import re

import pytest

from autograder.regions import RegionError, all_regions, find_regions, stub_text
from autograder.course import Course

COURSE = Course.find()
GRADED = ["sigmoid", "sigmoid_grad", "forward_propagation", "mse_loss", "back_propagation",
          "affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss"]


def test_every_graded_function_is_a_numbered_task():
    regions = [r for r in all_regions(COURSE.source_lib) if r.path.stem == "feedforward"]
    assert [r.function for r in regions] == GRADED
    assert [r.task for r in regions] == [f"1.{i}" for i in range(1, 11)]


@pytest.mark.parametrize("module", sorted({r.path.stem for r in all_regions(COURSE.source_lib)}))
def test_stubbed_module_imports_and_each_stub_names_its_task(tmp_path, module):
    path = COURSE.source_lib / f"{module}.py"
    stub = tmp_path / f"{module}.py"
    stub.write_text(stub_text(path))
    assert "BEGIN SOLUTION" not in stub.read_text()
    spec = importlib.util.spec_from_file_location(f"stubbed_{module}", stub)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    regions = find_regions(path)
    assert regions
    for region in regions:
        func = getattr(mod, region.function)
        args = [None] * func.__code__.co_argcount
        message = f"Task {region.task}: implement {region.function}"
        with pytest.raises(NotImplementedError, match=re.escape(message)):
            func(*args)


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
    "outside": '### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n',
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
        'def provided(x):\n    n_rows = x.shape[0]\n    return n_rows\n\n\n'
        'def task(x):\n    """Task 9.1: x."""\n    ### BEGIN SOLUTION\n'
        '    n_rows = x.shape[0]\n    return x.sum() / n_rows\n    ### END SOLUTION\n')
    assert solution_lines(tmp_path) == {"return x.sum() / n_rows"}
