import numpy as np
import pytest

from cellsweep.cells.expressions import ExpressionError, compile_expression


def test_bluepyopt_formula_is_evaluated_on_arrays():
    f = compile_expression("(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}")
    d = np.array([0.0, 100.0, 500.0])
    expected = (-0.8696 + 2.087 * np.exp(d * 0.0031)) * 2e-4
    assert np.array_equal(f(distance=d, value=2e-4), expected)


def test_conditional_and_functions():
    f = compile_expression("value if distance < 300 else value*min(distance/300, 2)")
    out = f(distance=np.array([100.0, 450.0, 900.0]), value=1.5)
    assert out.tolist() == [1.5, 2.25, 3.0]


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('true')", "only plain function calls"),
    ("open('x')", "unknown function 'open'"),
    ("distance.real", "not allowed"),
    ("secret * 2", "unknown name 'secret'"),
    ("value +", "not a valid expression"),
    ("[1, 2]", "not allowed"),
    ("lambda: 1", "not allowed"),
])
def test_unsafe_or_invalid_expressions_are_refused(text, message):
    with pytest.raises(ExpressionError, match=message):
        compile_expression(text)
