"""Property-based mutations of the bundled example (Hypothesis): whatever is changed, deleted,
retyped or pushed to an extreme, ``validate`` ends with exit 0 or 2 (a hang hits the test's
time limit), never with a traceback, and says exactly what the run's own validation step says.

Bounded in examples so that CI stays short (``CELLSWEEP_FUZZ_EXAMPLES`` raises the count for a
longer run by hand).
"""

import copy
import math
import os

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellsweep.cells.errors import FrameworkError
from cellsweep.launch.cli import main

EXAMPLES = int(os.environ.get("CELLSWEEP_FUZZ_EXAMPLES", "40"))

EXTREMES = [0, -1, 1e308, -1e308, 1e-320, math.nan, math.inf, -math.inf, True, None, "",
            "x" * 300, [], {}, [[1, 2], [3]], {"a": {"b": [None]}}, "1e-5", 10 ** 40, -0.0]


def paths(node, prefix=()):
    """Every key path of a nested mapping/list."""
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, prefix + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out += paths(value, prefix + (i,))
    return out


def mutate(data, path, how, value):
    data = copy.deepcopy(data)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "duplicate" and isinstance(parent, list):
        parent.append(copy.deepcopy(parent[last]))
    elif how == "rename" and isinstance(parent, dict):
        parent[f"{last}_x"] = parent.pop(last)
    elif how == "wrap":
        parent[last] = [parent[last]]
    else:
        parent[last] = value
    return data


@pytest.fixture(scope="module")
def base(tmp_path_factory, repo):
    folder = tmp_path_factory.mktemp("fuzz")
    src = repo / "configs" / "example"
    (folder / "example_pyramid.swc").write_bytes((src / "example_pyramid.swc").read_bytes())
    data = yaml.safe_load((src / "example.yaml").read_text())
    data["cell"]["mechanisms_dir"] = str(repo / "mechanisms" / "example")
    data["run"]["output"] = "out.h5"
    return folder, data


def run_prepare_lines(config) -> list[str]:
    """What the run's validation step refuses, as the lines the CLI prints (no lines: valid)."""
    from cellsweep.launch.run import prepare

    try:
        prepare(config)
    except FrameworkError as exc:
        return [f"error: {line}" for line in (getattr(exc, "problems", None) or [str(exc)])]
    return []


@pytest.mark.timeout(600)      # a hang fails the test; no speed target
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_example_is_valid_or_refused_cleanly(base, data):
    folder, original = base
    all_paths = paths(original)
    path = data.draw(st.sampled_from(all_paths), label="path")
    how = data.draw(st.sampled_from(["set", "set", "delete", "duplicate", "rename", "wrap"]),
                    label="how")
    value = data.draw(st.one_of(st.sampled_from(EXTREMES),
                                st.floats(allow_nan=True, allow_infinity=True),
                                st.integers(-10 ** 6, 10 ** 6), st.text(max_size=20)),
                      label="value")
    mutated = mutate(original, path, how, value)
    config = folder / "fuzz.yaml"
    config.write_text(yaml.safe_dump(mutated, sort_keys=False, allow_unicode=True))
    before = sorted(p.name for p in folder.iterdir())
    result = CliRunner().invoke(main, ["validate", str(config)], catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        f"{path} {how} {value!r}: {result.exception!r}"
    assert result.exit_code in (0, 2), (path, how, value, result.output)
    assert "Traceback" not in result.output + result.stderr
    assert sorted(p.name for p in folder.iterdir()) == before, "validate wrote something"
    refused = run_prepare_lines(config)
    if result.exit_code == 2:
        assert result.stderr.splitlines() == refused, (path, how, value)
    else:
        assert refused == [], (path, how, value, refused)
