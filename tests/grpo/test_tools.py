import pytest

from course_utils.grpo import calculate, calculator
from course_utils.grpo.tools import tool_output


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("48/2", "24"),
        ("23*47", "1081"),
        ("(3 + 4) * -2", "-14"),
        ("7/2", "3.5"),
        ("1/3", "0.333333"),
        ("+5", "5"),
        ("38.3 * 730", "27959"),
        ("0.0000001 * 1", "0"),
    ],  # rounded to 6 decimals first, then whole values as integers
)
def test_calculate_evaluates_arithmetic(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",  # a call
        "2**99999999",  # a power: refused, never computed
        "x + 1",  # a name
        "(1).__class__",  # an attribute
        "[1, 2]",
        "True + 1",  # booleans are not numbers here
        "1/0",
        "9" * 13 + " * 2",  # beyond the magnitude limit
        "1+" * 40 + "1",  # too long
        "3 +",  # not an expression
    ],
)
def test_calculate_refuses_anything_else(expression):
    with pytest.raises(ValueError):
        calculate(expression)


def test_calculator_answers_errors_in_text_for_the_model():
    assert calculator("1/0") == "error: Division by zero."


def test_tool_output_answers_only_a_pending_call():
    assert tool_output("Ann has 23*47 = <<23*47=") == "1081>>"
    assert tool_output("so <<2+2=4>>4 and 4 =") is None  # the call was answered; a bare "=" is no call
    assert tool_output("no call here") is None
