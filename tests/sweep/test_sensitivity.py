"""Sensitivity designs and their analysis, through the engine (no NEURON: the Ishigami function
stands in for the cell, support/ishigami.py).

- the Ishigami function's Sobol' indices (S1, ST, S13) contain the analytic values within
  their bootstrap intervals, and a parameter it ignores gets exactly zero;
- the points are SALib's, in SALib's order, whatever order they completed in (processes);
- Morris: a parameter the function ignores has mu* = sigma = 0 exactly; the indices are
  SALib's on the same design;
- failed points: whole blocks dropped and counted, indices still close; too many: refused
  with the count; never a NaN index;
- bad design settings are refused with one problem each.
"""

import math
import shutil

import numpy as np
import pytest
import yaml

from cellsweep.cells.errors import ConfigError
from cellsweep.cells.schema import Problems, Section
from cellsweep.sweep import designs, sensitivity
from cellsweep.sweep.store import ResultsFile
from support.ishigami import analytic, ishigami, run_ishigami
from tests.helpers import DATA

ISHIGAMI = DATA / "sensitivity" / "ishigami.yaml"
MORRIS = DATA / "sensitivity" / "morris.yaml"
X = ["gnabar_hh.somatic", "gkbar_hh.somatic", "gl_hh.somatic"]
DUMMY = "el_hh.somatic"


def config(tmp_path, source=ISHIGAMI, **sweep):
    data = yaml.safe_load(source.read_text())
    data["sweep"].update(sweep)
    data["sweep"] = {k: v for k, v in data["sweep"].items() if v is not None}
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def sobol_file(tmp_path_factory):
    """The Ishigami function on N = 1024 base samples with second order (10 240 points)."""
    folder = tmp_path_factory.mktemp("ishigami")
    shutil.copy(ISHIGAMI, folder / ISHIGAMI.name)
    out = folder / "ishigami.h5"
    summary = run_ishigami(folder / ISHIGAMI.name, out)
    assert summary.complete and summary.counts == {"ok": 1024 * 10}
    return out


def index(result, output, name, parameter):
    t = result.table
    row = t[(t["output"] == output) & (t["index"] == name) & (t["parameter"] == parameter)]
    assert len(row) == 1
    return float(row["value"].iloc[0]), float(row["conf"].iloc[0])


def test_ishigami_sobol_indices_contain_the_analytic_values(sobol_file):
    result = sensitivity.analyse(sobol_file)
    exact = analytic()
    assert result.method == "sobol" and sensitivity.design_of(sobol_file) == "saltelli"
    assert result.parameters == X + [DUMMY]
    for j, p in enumerate(X):
        for name in ("S1", "ST"):
            value, conf = index(result, "ishigami", name, p)
            assert 0 < conf < 0.15
            assert abs(value - exact[name][j]) <= conf, (p, name, value, conf, exact[name][j])
    value, conf = index(result, "ishigami", "S2", f"{X[0]},{X[2]}")
    assert abs(value - exact["S13"]) <= conf
    for pair in (f"{X[0]},{X[1]}", f"{X[1]},{X[2]}"):
        value, conf = index(result, "ishigami", "S2", pair)
        assert abs(value) <= conf
    # the parameter f ignores: its cross-sampled rows give f unchanged, bit for bit
    for name in ("S1", "ST"):
        assert index(result, "ishigami", name, DUMMY) == (0.0, 0.0)
    counts = result.counts.set_index("output").loc["ishigami"]
    assert (counts["points"], counts["valid"], counts["blocks"], counts["used"],
            counts["dropped"], counts["outcome"]) == (10240, 10240, 1024, 1024, 0, "analysed")
    assert result.notes == []
    assert set(result.counts["output"]) == {"ishigami", "score.ishigami", "total_score"}
    assert np.isfinite(result.table["value"]).all()


def test_the_file_keeps_the_design_and_the_points_are_salibs_in_salibs_order(sobol_file,
                                                                           tmp_path):
    from SALib.sample import sobol

    f = ResultsFile(sobol_file)
    settings = sensitivity.settings_of(f)
    assert settings["design"] == "saltelli" and settings["n"] == 1024
    assert settings["second_order"] is True and settings["seed"] == 3
    assert settings["problem"]["names"] == X + [DUMMY]
    assert settings["problem"]["bounds"] == [[0.05, 0.2], [0.01, 0.06], [0.0001, 0.001],
                                             [-70, -50]]
    bounds = np.array(settings["problem"]["bounds"])
    expected = sobol.sample({"num_vars": 4, "names": X + [DUMMY], "bounds": bounds.tolist()},
                            1024, calc_second_order=True, seed=3)
    np.testing.assert_allclose(f.column("parameters"), expected, rtol=1e-12)
    # completion order does not matter: two processes give the same file rows and indices
    small = config(tmp_path, n=64, second_order=False)
    serial, parallel = tmp_path / "serial.h5", tmp_path / "parallel.h5"
    run_ishigami(small, serial)
    run_ishigami(small, parallel, workers=2)
    a, b = ResultsFile(serial), ResultsFile(parallel)
    assert np.array_equal(a.column("parameters"), b.column("parameters"))
    assert np.array_equal(a.column("features"), b.column("features"))
    ra, rb = sensitivity.analyse(serial), sensitivity.analyse(parallel)
    assert ra.table.equals(rb.table)


def test_log_axes_are_sampled_in_log_and_stay_in_bounds():
    problems = Problems("s.yaml")
    spec = designs.read_sweep(Section(
        {"design": "morris", "trajectories": 50, "levels": 4, "seed": 2,
         "parameters": {"g": {"low": 1e-5, "high": 1e-3, "log": True}}}, "sweep", problems),
        None, ())
    problems.raise_if_any()
    points = designs.points(spec)[:, 0]
    assert points.shape == (100,) and points.min() >= 1e-5 and points.max() <= 1e-3
    # Morris levels of a log axis: 4 values evenly spaced in log from 1e-5 to 1e-3
    levels = np.unique(np.round(np.log10(points), 9))
    np.testing.assert_allclose(levels, [-5, -5 + 2 / 3, -5 + 4 / 3, -3])


def test_morris_on_ishigami(tmp_path):
    from SALib.analyze import morris

    out = tmp_path / "morris.h5"
    run_ishigami(config(tmp_path, MORRIS), out)
    result = sensitivity.analyse(out, scores=False)
    assert result.method == "morris" and sensitivity.design_of(out) == "morris"
    f = ResultsFile(out)
    assert f.n_rows == 64 * 5
    t = result.table.set_index(["parameter", "index"])["value"]
    # f does not depend on the fourth parameter: every elementary effect is exactly 0
    assert t[(DUMMY, "mu_star")] == 0.0 and t[(DUMMY, "sigma")] == 0.0 and t[(DUMMY, "mu")] == 0
    for p in X:
        assert t[(p, "mu_star")] > 1.0
    # x3 enters only through b x3^4 sin x1 (odd in x1): its mean effect nearly cancels
    assert abs(t[(X[2], "mu")]) < 0.5 * t[(X[2], "mu_star")]
    # the same numbers as SALib on the stored design and f itself
    x = f.column("parameters")
    lows, highs = x.min(axis=0), x.max(axis=0)
    y = np.array([ishigami(*(-math.pi + 2 * math.pi * (row[:3] - lows[:3]) / (highs - lows)[:3]))
                  for row in x])
    si = morris.analyze({"num_vars": 4, "names": X + [DUMMY], "bounds": [[0, 1]] * 4},
                        x, y, num_levels=4, seed=1)
    np.testing.assert_allclose([t[(p, "mu_star")] for p in X + [DUMMY]], si["mu_star"],
                               rtol=1e-9, atol=1e-12)


def test_failed_points_drop_whole_blocks_and_are_counted(tmp_path):
    out = tmp_path / "failing.h5"
    run_ishigami(config(tmp_path, second_order=False), out, fail=(0.0, 0.02))
    f = ResultsFile(out)
    failed = np.array(f.statuses()) != "ok"
    assert 0 < failed.sum() < 0.1 * failed.size
    blocks_with_failure = int(failed.reshape(1024, 6).any(axis=1).sum())
    result = sensitivity.analyse(out)
    counts = result.counts.set_index("output").loc["ishigami"]
    assert counts["outcome"] == "analysed"
    assert counts["valid"] == failed.size - failed.sum()
    assert counts["dropped"] == blocks_with_failure and counts["used"] == 1024 - blocks_with_failure
    assert f"{blocks_with_failure} dropped" in counts["detail"]
    assert any("complete base samples only" in n for n in result.notes)
    exact = analytic()
    for j, p in enumerate(X):
        for name in ("S1", "ST"):
            value, conf = index(result, "ishigami", name, p)
            assert abs(value - exact[name][j]) <= conf + 0.02, (p, name, value, conf)
    assert np.isfinite(result.table["value"]).all()


def test_too_many_failures_are_refused_with_the_count(tmp_path):
    out = tmp_path / "broken.h5"
    run_ishigami(config(tmp_path, n=64, second_order=False), out, fail=(0.0, 0.97))
    f = ResultsFile(out)
    complete = int((np.array(f.statuses()) == "ok").reshape(64, 6).all(axis=1).sum())
    assert complete < sensitivity.MIN_BLOCKS
    result = sensitivity.analyse(out)
    assert result.outputs == [] and result.table.empty
    counts = result.counts.set_index("output")
    for output in ("ishigami", "score.ishigami", "total_score"):
        assert counts.loc[output, "outcome"] == "refused"
        assert counts.loc[output, "used"] == complete
        assert (f"{complete} of 64 base samples complete ({64 - complete} hold a failed"
                in counts.loc[output, "detail"])
    assert any(n.startswith("ishigami: not analysed: ") for n in result.notes)


def test_other_designs_are_not_sensitivity_designs(tmp_path):
    out = tmp_path / "grid.h5"
    grid = {"design": "grid", "n": None, "second_order": None, "seed": None,
            "parameters": {p: {"linspace": [lo, hi, 3]} for p, lo, hi in
                           ((X[0], 0.05, 0.2), (X[1], 0.01, 0.06), (X[2], 0.0001, 0.001))}}
    run_ishigami(config(tmp_path, **grid), out)
    assert sensitivity.design_of(out) is None
    with pytest.raises(sensitivity.NotASensitivityDesign, match="design 'grid'"):
        sensitivity.analyse(out)
    # every sweep keeps its axes' bounds (an export's prior): here the grids' ranges
    import json
    assert json.loads(ResultsFile(out).attrs["parameter_bounds"]) == {
        X[0]: [0.05, 0.2], X[1]: [0.01, 0.06], X[2]: [0.0001, 0.001]}


def test_analyse_refuses_unknown_features(sobol_file):
    with pytest.raises(ValueError, match="no feature 'nope'"):
        sensitivity.analyse(sobol_file, features=["nope"])
    only = sensitivity.analyse(sobol_file, features=["ishigami"], scores=False)
    assert set(only.table["output"]) == {"ishigami"}


def problems_of(section, free=()):
    problems = Problems("s.yaml")
    designs.read_sweep(Section(section, "sweep", problems), None, free)
    return [f"{p.path}: {p.message}" for p in problems.items]


AXIS = {"x": {"low": 0.0, "high": 1.0}}


@pytest.mark.parametrize("section, expected", [
    ({"design": "saltelli", "n": 100, "parameters": AXIS}, "sweep.n: expected a power of two"),
    ({"design": "saltelli", "n": 0, "parameters": AXIS}, "sweep.n: expected a value >= 2"),
    ({"design": "saltelli", "n": 2.5, "parameters": AXIS}, "sweep.n: expected a whole number"),
    ({"design": "saltelli", "parameters": AXIS}, "sweep.n: missing"),
    ({"design": "saltelli", "n": 8, "n_samples": 8, "parameters": AXIS},
     "sweep.n_samples: a saltelli design's size follows from n"),
    ({"design": "saltelli", "n": 8, "second_order": "yes", "parameters": AXIS},
     "sweep.second_order: expected"),
    ({"design": "saltelli", "n": 8}, "sweep.parameters: no axes"),
    ({"design": "saltelli", "n": 8, "parameters": {"x": {"values": [1, 2], **AXIS["x"]}}},
     "sweep.parameters.x.values: unknown key"),
    ({"design": "morris", "trajectories": 1, "parameters": AXIS},
     "sweep.trajectories: expected a value >= 2"),
    ({"design": "morris", "parameters": AXIS}, "sweep.trajectories: missing"),
    ({"design": "morris", "trajectories": 4, "levels": 1, "parameters": AXIS},
     "sweep.levels: expected a value >= 2"),
    ({"design": "morris", "trajectories": 4, "levels": 5, "parameters": AXIS},
     "sweep.levels: expected an even number of levels"),
    ({"design": "morris", "trajectories": 4, "n": 8, "parameters": AXIS}, "sweep.n: unknown key"),
    ({"design": "grid", "trajectories": 4, "parameters": {"x": {"values": [1]}}},
     "sweep.trajectories: unknown key"),
])
def test_bad_design_settings_are_refused(section, expected):
    found = problems_of(section)
    assert len(found) == 1 and found[0].startswith(expected), found


def test_a_bad_design_fails_before_any_work(tmp_path):
    bad = config(tmp_path, n=100)
    with pytest.raises(ConfigError) as exc:
        run_ishigami(bad, tmp_path / "never.h5")
    assert [p for p in exc.value.problems if "power of two" in p]
    assert not (tmp_path / "never.h5").exists()


def test_a_stopped_campaign_is_analysed_from_its_journal_and_resumes(tmp_path):
    small = config(tmp_path, n=64, second_order=False)
    whole, stopped = tmp_path / "whole.h5", tmp_path / "stopped.h5"
    run_ishigami(small, whole)
    summary = run_ishigami(small, stopped, stop_after=200)
    assert not summary.complete and sum(summary.counts.values()) == 200
    partial = sensitivity.analyse(stopped)
    counts = partial.counts.set_index("output").loc["ishigami"]
    assert (counts["valid"], counts["used"], counts["dropped"]) == (200, 200 // 6, 64 - 200 // 6)
    assert any("184 of 384 points have no result yet" in n for n in partial.notes)
    assert run_ishigami(small, stopped, restart=False).complete
    assert sensitivity.analyse(stopped).table.equals(sensitivity.analyse(whole).table)
