"""Hostile or absurd input: refused with one line per problem, status 2, no traceback, quickly.

Each case writes a copy of the bundled example config (as YAML text, so the YAML itself can be
hostile: duplicate keys, deep nesting, anchors and aliases) and runs ``cellsweep validate``.
"""


import pytest
import yaml

from cellsweep.cells.errors import ConfigError
from cellsweep.cells.expressions import ExpressionError, compile_expression
from cellsweep.cells.schema import Problems, check_number, parse_yaml, quote
from tests.cells.test_config_errors import run_cli

# a bomb must be refused at once; the harness's time limit only catches a hang (no speed target)
pytestmark = pytest.mark.timeout(60)


def example_text(data) -> str:
    return yaml.safe_dump(data, sort_keys=False)


def refused(tmp_path, text):
    """Run ``validate`` on ``text``; assert the common shape of a refusal; return stderr."""
    result = run_cli(tmp_path, text)
    output = result.output + result.stderr
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), result.stderr
    return result.stderr


def test_duplicate_key_is_refused_with_both_lines(example_dir):
    tmp_path, data = example_dir
    text = example_text(data).replace("    celsius: 34\n", "    celsius: 34\n    celsius: 35\n")
    first = text.splitlines().index("    celsius: 34") + 1
    err = refused(tmp_path, text)
    assert (f"bad.yaml:{first + 1}: cell.fixed: key 'celsius' appears twice in one "
            f"mapping (first at line {first}); expected each key once") in err


def test_duplicate_key_in_a_flow_mapping(example_dir):
    tmp_path, data = example_dir
    text = example_text(data) + "simulation: {cvode: true, atol: 1.0e-3, cvode: false}\n"
    err = refused(tmp_path, text)
    # the top-level 'simulation' key is now twice too: whichever comes first is reported
    assert "appears twice in one mapping (first at line " in err


def test_scientific_notation_still_reads_as_a_number_and_merges_are_not_duplicates():
    data = parse_yaml("a: 1e-5\nbase: &b {x: 1, y: 2}\nc: {<<: *b, x: 3}\n", "t.yaml")
    assert data["a"] == 1e-5
    assert data["c"] == {"x": 3, "y": 2}


def test_deep_nesting_is_refused(example_dir):
    tmp_path, data = example_dir
    text = example_text(data) + "deep: " + "[" * 10_000 + "]" * 10_000 + "\n"
    err = refused(tmp_path, text)
    assert "nested more than 100 levels deep; expected at most 100 levels of mappings and " \
           "lists" in err


def test_deep_mapping_nesting_is_refused(example_dir):
    tmp_path, data = example_dir
    text = example_text(data) + "deep: " + "{a: " * 5_000 + "1" + "}" * 5_000 + "\n"
    assert "nested more than 100 levels deep" in refused(tmp_path, text)


def test_nesting_through_aliases_is_refused():
    # each anchor is 60 levels deep, within bounds alone; together 120
    inner = "[" * 60 + "1" + "]" * 60
    text = f"a: &a {inner}\nb: &b {'[' * 60}*a{']' * 60}\n"
    with pytest.raises(ConfigError, match="nested more than 100 levels deep once aliases "
                                          "are expanded"):
        parse_yaml(text, "t.yaml")


BOMB_LEVELS = 9


def billion_laughs() -> str:
    """About 1 kB of YAML that expands to 9**9 strings: a flow list of anchored lists."""
    items = ["&l0 [" + ", ".join(["lol"] * 9) + "]"]
    items += [f"&l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, BOMB_LEVELS)]
    return "[" + ", ".join(items) + "]"


def test_alias_bomb_in_the_cell_name_is_refused_quickly(example_dir):
    tmp_path, data = example_dir
    bomb = billion_laughs()
    assert len(bomb) < 2_000
    text = example_text(data).replace("  name: example_pyramid\n", f"  name: {bomb}\n")
    err = refused(tmp_path, text)
    assert ": cell.name[5]: anchors and aliases expand this value to more than 100000 values; " \
           "expected at most 100000 values once aliases are expanded" in err
    assert "lol" not in err and len(err) < 500          # the expanded value is never printed


def test_recursive_alias_is_refused(example_dir):
    tmp_path, data = example_dir
    text = example_text(data).replace("  name: example_pyramid\n", "  name: &me [1, *me]\n")
    assert "cell.name[1]: an alias refers to a value that contains it" in refused(tmp_path, text)


def test_long_values_are_quoted_truncated(example_dir):
    tmp_path, data = example_dir
    data["cell"]["fixed"]["celsius"] = "w" * 5_000
    err = refused(tmp_path, example_text(data))
    assert ("cell.fixed.celsius: expected a number, found a string '" + "w" * 80
            + "'… (5000 characters in all)") in err
    assert "w" * 81 not in err


def test_long_choice_values_and_lists_are_quoted_truncated(example_dir):
    tmp_path, data = example_dir
    data["protocols"]["step_neg"]["stimuli"]["step"]["kind"] = "s" * 1_000
    data["cell"]["name"] = list(range(10_000))
    err = refused(tmp_path, example_text(data))
    assert "stimuli.step.kind: unknown value '" + "s" * 80 + "'… (1000 characters in all)" in err
    assert "s" * 81 not in err
    assert max(len(line) for line in err.splitlines()) < 400


@pytest.mark.parametrize("indent, where", [("    ", "cell.fixed"), ("  ", "cell")])
def test_long_key_is_refused_without_quoting_it_whole(example_dir, indent, where):
    tmp_path, data = example_dir
    anchor = "    celsius: 34\n" if where == "cell.fixed" else "  name: example_pyramid\n"
    text = example_text(data).replace(anchor, f"{anchor}{indent}? {'k' * 3_000}\n{indent}: 1\n")
    err = refused(tmp_path, text)
    assert (f": {where}: key '" + "k" * 80 + "'… (3000 characters in all) is too long; "
            "expected a key of at most 200 characters") in err
    assert "k" * 81 not in err


def test_quote_helper():
    assert quote("short") == "'short'"
    assert quote("x" * 200) == "'" + "x" * 80 + "'… (200 characters in all)"
    assert quote(10 ** 400) == "1" + "0" * 79 + "… (401 digits in all)"
    assert len(quote([list(range(100))] * 100)) < 120
    assert quote(1.5) == "1.5" and quote(None) == "None"


def test_huge_integer_bound_is_refused_as_not_finite(example_dir):
    tmp_path, data = example_dir
    data["cell"]["free"]["gbar_na_t.somatic"]["low"] = 10 ** 399
    text = example_text(data)
    assert "low: 1" + "0" * 399 in text
    err = refused(tmp_path, text)
    assert ("cell.free['gbar_na_t.somatic'].low: number 1" + "0" * 79
            + "… (400 characters in all) is too large; expected a finite number") in err


def test_integer_beyond_python_conversion_limit_is_refused(example_dir):
    tmp_path, data = example_dir
    text = example_text(data).replace("    celsius: 34\n", "    celsius: 1" + "0" * 5_000 + "\n")
    err = refused(tmp_path, text)
    assert "cell.fixed.celsius: number 1" in err and "(5001 characters in all) is too large" in err


def test_check_number_reports_an_int_too_large_for_a_float():
    problems = Problems("t.yaml")
    assert check_number(10 ** 400, "x.low", problems) is None
    assert [str(p) for p in problems.items] == [
        "t.yaml: x.low: expected a finite number, found 1" + "0" * 79 + "… (401 digits in all)"]


def with_expression(data, expression):
    data["cell"]["distributions"]["hostile"] = {"kind": "expression", "expression": expression}
    return example_text(data)


@pytest.mark.parametrize("expression, message", [
    ("+".join(["distance"] * 3_000),
     "expression is 26999 characters long; expected at most 2000 characters"),
    ("(" * 5_000 + "distance" + ")" * 5_000,
     "expression is 10008 characters long; expected at most 2000 characters"),
    ("1+" * 999 + "1",
     "expression is nested more than 100 levels deep; expected at most 100 levels of operators"),
    ("-" * 1_500 + "distance",
     "expression is nested more than 100 levels deep"),
    ("(" * 250 + "distance" + ")" * 250,
     "not a valid expression: too many nested parentheses"),
])
def test_hostile_expression_is_refused(example_dir, expression, message):
    tmp_path, data = example_dir
    err = refused(tmp_path, with_expression(data, expression))
    assert "cell.distributions.hostile.expression: " + message in err


def test_expression_limits_directly():
    with pytest.raises(ExpressionError, match="more than 1000 numbers, names and operators"):
        compile_expression("max(" + ",".join(["1"] * 990) + ")" + "+1" * 7)   # wide, shallow
    with pytest.raises(ExpressionError,
                       match=r"unknown name 'xxxx.*… \(1500 characters in all\)"):
        compile_expression("x" * 1_500)
    # a real BluePyOpt formula is well within the limits
    compile_expression("(-0.8696 + 2.087*math.exp(({distance})*0.0031))*{value}")
