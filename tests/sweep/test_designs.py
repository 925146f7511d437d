"""Sweep designs: deterministic point tables, correct axes, precise errors."""

import numpy as np
import pytest

from cellsweep.cells.errors import ConfigError
from cellsweep.cells.schema import Problems, Section
from cellsweep.cells.spec import Parameter
from cellsweep.sweep import designs


def read(section, tmp_path=None, free=()):
    problems = Problems("s.yaml")
    spec = designs.read_sweep(Section(section, "sweep", problems), tmp_path, free)
    problems.raise_if_any()
    return spec


def test_grid_is_a_cartesian_product_last_axis_fastest():
    spec = read({"design": "grid", "parameters": {"a": {"values": [1, 2]},
                                                  "b": {"linspace": [0, 1, 3]}}})
    pts = designs.points(spec)
    assert pts.tolist() == [[1, 0], [1, 0.5], [1, 1], [2, 0], [2, 0.5], [2, 1]]


def test_logspace_takes_the_values_themselves():
    spec = read({"design": "grid", "parameters": {"g": {"logspace": [1e-5, 1e-3, 3]}}})
    assert designs.points(spec)[:, 0] == pytest.approx([1e-5, 1e-4, 1e-3])


def test_zip_pairs_values():
    spec = read({"design": "zip", "parameters": {"a": {"values": [1, 2, 3]},
                                                 "b": {"values": [4, 5, 6]}}})
    assert designs.points(spec).tolist() == [[1, 4], [2, 5], [3, 6]]


@pytest.mark.parametrize("design", ["random", "latin_hypercube", "sobol"])
def test_space_filling_designs_are_seeded_bounded_and_log_aware(design):
    section = {"design": design, "n_samples": 50, "seed": 3,
               "parameters": {"x": {"low": -1, "high": 2},
                              "g": {"low": 1e-6, "high": 1e-2, "log": True}}}
    a, b = designs.points(read(section)), designs.points(read(section))
    assert a.shape == (50, 2) and np.array_equal(a, b)
    assert a[:, 0].min() >= -1 and a[:, 0].max() <= 2
    assert a[:, 1].min() >= 1e-6 and a[:, 1].max() <= 1e-2
    # log axis: about as many points per decade in every decade
    decades = np.histogram(np.log10(a[:, 1]), bins=4, range=(-6, -2))[0]
    assert decades.min() >= 5
    other = designs.points(read({**section, "seed": 4}))
    assert not np.array_equal(a, other)


def test_latin_hypercube_fills_every_stratum():
    spec = read({"design": "latin_hypercube", "n_samples": 20,
                 "parameters": {"x": {"low": 0, "high": 1}, "y": {"low": 0, "high": 1}}})
    pts = designs.points(spec)
    for column in pts.T:
        assert sorted(np.floor(column * 20).astype(int).tolist()) == list(range(20))


def test_default_axes_are_the_free_parameters():
    free = (Parameter(name="a.all", kind="range", variable="a", low=0.0, high=1.0, value=0.5),)
    spec = read({"design": "sobol", "n_samples": 8}, free=free)
    assert spec.names == ["a.all"] and designs.points(spec).shape == (8, 1)


def test_csv_design(tmp_path):
    (tmp_path / "p.csv").write_text("# comment\na,b\n1,2\n3,nan\n")
    spec = read({"design": "csv", "file": "p.csv"}, tmp_path)
    pts = designs.points(spec)
    assert spec.names == ["a", "b"] and pts[0].tolist() == [1, 2] and np.isnan(pts[1, 1])


BAD_SWEEPS = [
    ({"design": "gird"}, "sweep.design: unknown value 'gird'; expected one of grid"),
    ({"design": "grid", "parameters": {"a": {"values": [1], "linspace": [0, 1, 2]}}},
     "sweep.parameters.a: expected exactly one of values, linspace"),
    ({"design": "grid", "parameters": {"a": {"linspace": [0, 1]}}},
     "sweep.parameters.a.linspace: expected [start, stop, n]"),
    ({"design": "grid", "parameters": {"a": {"logspace": [0, 1, 3]}}},
     "logspace takes the start and stop values themselves, both positive"),
    ({"design": "zip", "parameters": {"a": {"values": [1, 2]}, "b": {"values": [1]}}},
     "a zip design needs the same number of values on every axis"),
    ({"design": "random", "parameters": {"a": {"low": 0, "high": 1}}},
     "sweep.n_samples: missing required key"),
    ({"design": "sobol", "n_samples": 4, "parameters": {"a": {"low": 1, "high": 0}}},
     "sweep.parameters.a: expected low < high"),
    ({"design": "grid", "n_samples": 4, "parameters": {"a": {"values": [1]}}},
     "sweep.n_samples: n_samples applies to random"),
    ({"design": "grid", "parameters": {"a": {"values": [1]}}, "seeds": 1},
     "sweep.seeds: unknown key; did you mean 'seed'?"),
]


@pytest.mark.parametrize("section, message", BAD_SWEEPS)
def test_bad_sweep_sections(section, message):
    with pytest.raises(ConfigError) as info:
        read(section)
    assert any(message in p for p in info.value.problems), info.value.problems
