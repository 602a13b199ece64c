"""The visible checks' messages tell a student what to fix."""
import numpy as np
import pytest

from source_lib.checking import CheckFailure, check_close, check_gradient, compare


def test_agreeing_values_pass(capsys):
    check_close("sigmoid(z)", np.array([0.5, 0.25]), [0.5, 0.25])
    assert "OK  sigmoid(z)" in capsys.readouterr().out


def test_wrong_shape_names_both_shapes():
    msg = compare("gradient dW1", np.zeros((5, 3)), np.zeros((3, 5)))
    assert msg == "gradient dW1: wrong shape: expected (3, 5), got (5, 3)"


def test_nan_says_where():
    actual = np.ones((2, 3))
    actual[1, 2] = np.nan
    msg = compare("out", actual, np.ones((2, 3)))
    assert "NaN at index (1, 2)" in msg


def test_wrong_value_gives_largest_relative_error_and_where():
    expected = np.arange(1.0, 7.0).reshape(2, 3)
    actual = expected.copy()
    actual[0, 1] *= 1.001
    actual[1, 0] *= 2.0
    msg = compare("out", actual, expected)
    assert "largest relative error 0.333 at index (1, 0)" in msg
    assert "expected 4, got 8" in msg
    assert "2 of 6 value(s) differ" in msg


@pytest.mark.parametrize("value, said", [(None, "got None"), ((1.0, 2.0), "got a tuple"),
                                         ("0.5", "got a str")])
def test_wrong_type_is_named(value, said):
    assert said in compare("loss", value, 0.5)


def test_check_close_raises_with_the_message():
    with pytest.raises(CheckFailure, match=r"wrong shape: expected \(3,\), got \(4,\)"):
        check_close("relu(x)", np.zeros(4), np.zeros(3))


def test_check_gradient():
    check_gradient("db", np.array([1.0, 2.0]), np.array([1.0, 2.0 + 1e-9]))
    with pytest.raises(CheckFailure, match=r"relative error .* at index \(1,\)"):
        check_gradient("db", np.array([1.0, 2.0]), np.array([1.0, 3.0]))
