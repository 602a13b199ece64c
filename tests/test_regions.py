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


def test_stubbed_module_imports_and_each_stub_names_its_task(tmp_path):
    path = COURSE.source_lib / "feedforward.py"
    stub = tmp_path / "feedforward.py"
    stub.write_text(stub_text(path))
    assert "BEGIN SOLUTION" not in stub.read_text()
    spec = importlib.util.spec_from_file_location("stubbed_feedforward", stub)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for i, name in enumerate(GRADED, start=1):
        func = getattr(mod, name)
        args = [None] * func.__code__.co_argcount
        with pytest.raises(NotImplementedError, match=re.escape(f"Task 1.{i}: implement {name}")):
            func(*args)


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
