"""The course's one tolerance policy (``source_lib.checking``) and the mistakes it names."""

import numpy as np
import pytest

from source_lib import checking, mistakes
from source_lib.checking import (
    GRADIENT_TOLERANCE,
    TOLERANCE,
    CheckFailure,
    check_close,
    check_gradient,
    compare,
    difference,
)
from source_lib.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array


def test_agreeing_values_pass(capsys):
    check_close("sigmoid(z)", np.array([0.5, 0.25]), [0.5, 0.25])
    assert "OK  sigmoid(z)" in capsys.readouterr().out


def test_wrong_shape_names_both_shapes():
    msg = compare("gradient db1", np.zeros(5), np.zeros(3))
    assert msg == "gradient db1: wrong shape: expected (3,), got (5,)"


def test_nan_says_where():
    actual = np.ones((2, 3))
    actual[1, 2] = np.nan
    assert "NaN at index (1, 2)" in compare("out", actual, np.ones((2, 3)))


def test_the_message_prints_the_quantity_the_rule_compares_and_its_limit():
    expected = np.arange(1.0, 7.0).reshape(2, 3)
    actual = expected.copy()
    actual[0, 1] += 0.0012  # 2e-4 of the scale 6: fails
    actual[1, 0] += 0.003  # 5e-4: the largest
    finding = difference("out", actual, expected)
    assert finding.kind == "values"
    assert finding.details["error"] == pytest.approx(0.003 / 6)
    msg = finding.text()
    assert "error 0.0005 " in msg and "the limit is 0.0001" in msg
    assert "at index (1, 0): expected 4, got 4.003" in msg
    assert "2 of 6 value(s) are off by more" in msg
    # just inside the limit passes: the printed quantity is the one compared
    inside = expected.copy()
    inside[1, 0] += 0.99 * TOLERANCE * 6
    assert compare("out", inside, expected) is None


@pytest.mark.parametrize(
    "value, said", [(None, "got None"), ((1.0, 2.0), "got a tuple"), ("0.5", "got a str")]
)
def test_wrong_type_is_named(value, said):
    assert said in compare("loss", value, 0.5)


def test_check_close_raises_with_the_message():
    with pytest.raises(CheckFailure, match=r"wrong shape: expected \(3,\), got \(4,\)"):
        check_close("relu(x)", np.zeros(4), np.zeros(3))


def test_check_gradient_uses_the_gradient_limit():
    check_gradient("db", np.array([1.0, 2.0]), np.array([1.0, 2.0 * (1 + 0.9 * GRADIENT_TOLERANCE)]))
    with pytest.raises(
        CheckFailure, match=r"gradients disagree: error 0.333 .*numerical 3, analytic 2.* the limit is 0.001"
    ):
        check_gradient("db", np.array([1.0, 2.0]), np.array([1.0, 3.0]))


def test_a_mean_that_cancels_is_measured_against_the_data_it_came_from():
    """The false failure of issue #15: a moving mean of centred data is ~1e-4, and
    float32 rounding of the data (~1e-7 of 1) is 1e-3 of it."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    x -= x.mean(axis=0) - 1e-4  # every column's mean is 1e-4
    exact = x.mean(axis=0)
    single = x.astype(np.float32).mean(axis=0, dtype=np.float32)
    assert compare("moving_mean", single, exact) is not None  # against itself: fails
    assert compare("moving_mean", single, exact, scale=float(np.abs(x).max())) is None


@pytest.mark.parametrize("seed", range(20))
def test_float32_rounding_of_any_result_passes(seed):
    """float32 code is off by a few units in the 7th digit of the scale, whatever the shape."""
    rng = np.random.default_rng(seed)
    expected = rng.standard_normal(rng.integers(1, 6, size=rng.integers(1, 4))) * 10.0 ** rng.integers(-4, 4)
    single = (expected.astype(np.float32) * np.float32(1 + 3e-7)).astype(np.float32)
    assert compare("out", single, expected) is None


def _numeric_gradient_error(f32):
    rng = np.random.default_rng(1)
    x, w, dout = rng.standard_normal((6, 7)), rng.standard_normal((7, 5)), rng.standard_normal((6, 5))
    cast = (lambda a: a.astype(np.float32)) if f32 else (lambda a: a)
    numeric = eval_numerical_gradient_array(lambda v: np.tanh(cast(v) @ cast(w)), x.copy(), dout)
    analytic = ((1 - np.tanh(x @ w) ** 2) * dout) @ w.T
    return checking.error(numeric, analytic)


def test_numerical_gradients_meet_the_gradient_limit_for_float64_and_float32_code():
    assert _numeric_gradient_error(f32=False) < 1e-7
    assert _numeric_gradient_error(f32=True) < GRADIENT_TOLERANCE / 3


def test_the_numerical_gradient_of_a_scalar_function_is_exact_for_a_cubic():
    x = np.array([0.3, -1.2, 2.0])
    numeric = eval_numerical_gradient(lambda v: float(np.sum(v**3)), x.copy())
    assert np.allclose(numeric, 3 * x**2, rtol=1e-12, atol=1e-12)  # five points: exact to O(h^4)


# Each mistake, recognised from a result made by hand with that mistake.
RNG = np.random.default_rng(5)
E = RNG.standard_normal((4, 3))


@pytest.mark.parametrize(
    "actual, expected, inputs, warnings, mistake",
    [
        (E.T.copy(), E, {}, (), "transposed"),
        (E.ravel(), E, {}, (), "reshaped"),
        (np.stack([E / 2, E / 2]), E, {}, (), "missing-batch-sum"),
        (np.zeros_like(E), E, {}, (), "all-zeros"),
        (-E, E, {}, (), "sign-flipped"),
        (4 * E, E, {"x": np.ones((4, 7))}, (), "summed-not-averaged"),
        (E / 4, E, {"x": np.ones((4, 7))}, (), "averaged-not-summed"),
        (2 * E, E, {}, (), "scaled"),
        (np.array(7 * 0.35), np.array(0.35), {"x": np.ones((2, 7))}, (), "scaled"),
        (E + 1.0, E, {"x": E + 1.0}, (), "equal-to-input"),
        (np.vstack([E[:1], np.zeros((3, 3))]), E, {}, (), "first-example-only"),
        (np.full(3, np.nan), np.ones(3), {}, ["overflow encountered in exp"], "overflow"),
    ],
)
def test_each_mistake_is_recognised(actual, expected, inputs, warnings, mistake):
    finding = difference("out", actual, expected, inputs=inputs, warnings=warnings)
    assert finding is not None and finding.mistake == mistake
    assert mistakes.explain(mistake, finding.details["mistake"], "out") in finding.text()


@pytest.mark.parametrize("actual", [E + RNG.standard_normal(E.shape), np.array(0.71)])
def test_an_unrelated_wrong_result_names_no_mistake(actual):
    expected = E if np.ndim(actual) else np.array(0.35)
    finding = difference("out", actual, expected, inputs={"x": np.ones((5, 2))})
    assert finding.kind == "values" and finding.mistake is None
