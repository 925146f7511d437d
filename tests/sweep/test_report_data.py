"""The numbers of the campaign report (``sweep.report_data``) against the file they come from:
real results files written through the store by a NEURON-free evaluator
(``support.response``), so every expected number is known independently."""

import math

import numpy as np
import pytest
import yaml

from cellsweep.sweep import report_data as R
from cellsweep.sweep import store as St
from cellsweep.sweep.batch import RecordBatch
from support.response import (FAILURES, ResponseEvaluator, layout_and_campaign, run_sweep,
                              write_results)
from tests.helpers import DATA, copy_tiny, plain
from tests.launch.test_profile_command import CELL


def expected_status(i: int) -> str:
    for k, (status, _) in FAILURES.items():
        if i % k == 1:
            return status
    return "ok"


@pytest.fixture(scope="module")
def random3(tmp_path_factory):
    """1200 points of three parameters, failures by ResponseEvaluator's rule, 3 workers."""
    path = tmp_path_factory.mktemp("report_data") / "random3.h5"
    points = np.random.default_rng(5).random((1200, 3))
    write_results(path, points, workers=3, seconds=0.02)
    return path, points


def test_status_and_failures_equal_the_file(random3):
    path, points = random3
    data = R.gather(path)
    with plain(path) as f:
        codes = f["status"][:]
    names = {0: "ok", 1: "nan", 2: "error", 3: "crashed", 4: "timeout"}
    assert data["status"]["counts"] == {names[c]: int(n) for c, n in
                                        zip(*np.unique(codes, return_counts=True))}
    assert data["status"]["done"] == data["status"]["total"] == len(points)
    assert data["status"]["complete"] and not data["status"]["running"]
    expected = {}
    for i in range(len(points)):
        status = expected_status(i)
        if status != "ok":
            expected.setdefault(status, []).append(i)
    groups = data["failures"]["groups"]
    assert {g["status"]: g["count"] for g in groups} == {k: len(v) for k, v in expected.items()}
    for g in groups:
        assert g["examples"] == expected[g["status"]][:R.EXAMPLES]
        assert g["message"] == next(m for s, m in FAILURES.values() if s == g["status"])
    assert [g["count"] for g in groups] == sorted((g["count"] for g in groups), reverse=True)
    timeouts = next(g for g in groups if g["status"] == "timeout")
    assert timeouts["retried"] == timeouts["count"]          # a timeout is retried once
    assert data["status"]["retried"] == timeouts["count"]


def test_slowest_are_the_longest_wall_times(random3):
    path, _ = random3
    data = R.gather(path)
    with plain(path) as f:
        wall = f["t_end"][:] - f["t_start"][:]
    order = np.lexsort((np.arange(wall.size), -wall))[:R.SLOWEST]
    rows = data["slowest"]["rows"]
    assert [r["eval_id"] for r in rows] == order.tolist()
    assert [r["seconds"] for r in rows] == pytest.approx(wall[order].tolist())


def test_scatter_matrix_is_a_seeded_sample_and_says_so(random3):
    path, points = random3
    data = R.gather(path, points=300, seed=3)
    r = data["response"]
    ok = [i for i in range(len(points)) if expected_status(i) == "ok"]
    assert r["kind"] == "matrix" and r["of"] == len(ok) and r["shown"] == 300
    assert set(r["ids"].tolist()) <= set(ok)
    assert np.array_equal(r["columns"], points[r["ids"]])     # each point its own values
    assert np.array_equal(R.gather(path, points=300, seed=3)["response"]["ids"], r["ids"])
    assert not np.array_equal(R.gather(path, points=300, seed=4)["response"]["ids"], r["ids"])
    assert R.gather(path, points=5000)["response"]["shown"] == len(ok)


def test_curves_and_heatmaps_of_one_and_two_parameters(tmp_path):
    ev = ResponseEvaluator(("a", "b"))
    grid = np.array([(x, y) for x in np.linspace(0, 1, 6) for y in np.linspace(0, 1, 5)])
    write_results(tmp_path / "grid.h5", grid, names=("a", "b"), design="grid")
    r = R.gather(tmp_path / "grid.h5")["response"]
    assert r["kind"] == "heatmaps" and r["grids"][0].shape == (5, 6)
    for i, (x, y) in enumerate(grid):
        ix, iy = np.searchsorted(r["x"], x), np.searchsorted(r["y"], y)
        want = ev.features([x, y])[0] if expected_status(i) == "ok" else math.nan
        assert r["grids"][0][iy, ix] == pytest.approx(want, nan_ok=True)
    line = np.linspace(0, 1, 40)[::-1, None]
    write_results(tmp_path / "line.h5", line, names=("a",), design="grid")
    r = R.gather(tmp_path / "line.h5")["response"]
    assert r["kind"] == "curves" and np.all(np.diff(r["x"]) >= 0)
    assert r["values"][1] == pytest.approx([ev.features([x])[1] for x in r["x"]])
    assert r["values"][-1].size == r["x"].size           # the total score, last


def test_timeline_utilisation_gaps_and_retries(tmp_path):
    """Worker 0 busy [0, 1) and [2, 3) (a 1 s gap), worker 1 busy [0, 3): 5 of 6 worker-seconds."""
    path = tmp_path / "timeline.h5"
    points = np.zeros((3, 3))
    lay, camp = layout_and_campaign(points, ("a", "b", "c"))
    store = St.ResultStore(path, lay, camp, points, lock=St.acquire_lock(path))
    store.open()
    t0 = 1.7e9
    ev = ResponseEvaluator()
    records = []
    for i, (w, a, b, attempt) in enumerate([(0, 0, 1, 1), (0, 2, 3, 2), (1, 0, 3, 1)]):
        r = ev({"id": i, "params": {"a": 0.0, "b": 0.0, "c": 0.0}})
        r.update(worker=w, host="h", t_start=t0 + a, t_end=t0 + b, attempt=attempt)
        records.append(r)
    store.record(RecordBatch.from_records(records))
    store.finish(complete=True)
    tl = R.gather(path)["timeline"]
    assert tl["span_s"] == pytest.approx(3.0) and tl["n_workers"] == 2
    assert tl["utilisation"] == pytest.approx(5 / 6)
    assert tl["idle_gaps_s"] == pytest.approx(1.0) and tl["longest_gap_s"] == pytest.approx(1.0)
    w0, w1 = tl["workers"]
    assert (w0["evaluations"], w0["busy_s"], w0["idle_s"], w0["retried"]) == (2, 2.0, 1.0, 1)
    assert (w1["evaluations"], w1["busy_s"], w1["idle_s"]) == (1, 3.0, 0.0)
    width = np.diff(tl["edges_s"])
    assert float(np.sum(tl["busy_workers"] * width)) == pytest.approx(5.0)
    assert float(np.sum(tl["per_worker"][0] * width)) == pytest.approx(2.0)
    middle = (tl["edges_s"][:-1] > 1.05) & (tl["edges_s"][1:] < 1.95)
    assert np.allclose(tl["busy_workers"][middle], 1.0)        # only worker 1 in the gap


def test_a_running_campaign_is_reported_from_its_journal(tmp_path):
    path = tmp_path / "running.h5"
    points = np.random.default_rng(1).random((700, 3))
    store = write_results(path, points, finish=False, upto=300, commit=False)
    try:
        data = R.gather(path)
        st = data["status"]
        assert st["running"] and st["journal"] and not st["complete"]
        assert st["done"] == 300 and st["pending"] == 400 and st["in_file"] == 0
        want = sum(expected_status(i) != "ok" for i in range(300))
        assert data["failures"]["failed"] == want == st["failed"]
        assert data["response"]["of"] == 300 - want
    finally:
        store.finish(complete=False)
    st = R.gather(path)["status"]
    assert not st["running"] and st["journal"] and st["in_file"] == 300


def test_pareto_front_is_the_non_dominated_set():
    from cellsweep.optimise.campaign import pareto_indices

    rng = np.random.default_rng(2)
    x, y = rng.random(400), rng.random(400)
    x[:10] = x[10:20]                        # ties in one objective
    front = R._front_2d(x, y)
    assert sorted(front.tolist()) == sorted(pareto_indices(np.column_stack([x, y])))


def test_sensitivity_section_only_for_sensitivity_designs(tmp_path, random3):
    copy_tiny(tmp_path)
    data = yaml.safe_load((DATA / "tiny" / "tiny.yaml").read_text())
    data["sweep"] = {"design": "saltelli", "n": 16, "parameters": {
        "gnabar_hh.somatic": {"low": 0.05, "high": 0.2},
        "gkbar_hh.somatic": {"low": 0.01, "high": 0.06}}}
    config = tmp_path / "saltelli.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    out = run_sweep(config)
    sa = R.gather(out)["sensitivity"]
    assert sa["design"] == "saltelli" and sa["result"].method == "sobol"
    assert set(sa["result"].table["index"]) == {"S1", "ST"}
    assert R.gather(random3[0])["sensitivity"] is None


# -- a sweep with a profile feature: its family of FI curves, its best set ---------------------------
# test_profile_command's tiny cell and step protocol, an FI experiment of three amplitudes
FI_SWEEP = CELL.split("profile:")[0] + """profile:
  fi: {amplitudes_nA: [0.0, 0.2, 0.4], delay_ms: 20, duration_ms: 100, after_ms: 10}
features:
  - {protocol: step, efel: Spikecount, mean: 5, std: 1}
  - {protocol: step, efel: voltage_base, mean: -65, std: 2}
  - {profile: fi_curve, mean: [0, 10, 20], std: 5}
sweep:
  design: grid
  parameters: {gnabar_hh.somatic: {values: [0.08, 0.11, 0.14, 0.17]}}
run: {progress: none}
"""


def write_fi_sweep(folder):
    """A real NEURON sweep of the tiny cell with a 3-amplitude FI curve as features and no
    stored traces (4 rows, about 2 s): ``folder/fi.h5`` beside its config ``fi.yaml``."""
    import shutil

    from tests.helpers import run_cellsweep, write_config

    shutil.copy(DATA / "tiny" / "ball_stick.swc", folder / "ball_stick.swc")
    config = write_config(folder / "fi.yaml", FI_SWEEP)
    output = folder / "fi.h5"
    run_cellsweep("run", config, "-o", output, "--workers", "2", timeout=300)
    return output


@pytest.fixture(scope="module")
def fi_sweep(tmp_path_factory):
    return write_fi_sweep(tmp_path_factory.mktemp("fi_sweep"))


@pytest.mark.neuron
def test_families_are_the_rows_fi_columns_sampled_with_a_seed(fi_sweep):
    f = St.ResultsFile(fi_sweep)
    frame = f.frame()
    columns = ["fi_curve@0nA", "fi_curve@0.2nA", "fi_curve@0.4nA"]
    fam = R.gather(fi_sweep)["families"]
    assert list(fam) == ["fi"]
    fi = fam["fi"]
    assert (fi["shown"], fi["of"]) == (4, 4) and fi["colour_by"] == "gnabar_hh.somatic"
    np.testing.assert_array_equal(fi["x"], [0.0, 0.2, 0.4])
    np.testing.assert_array_equal(fi["rows"], frame[columns].to_numpy())
    np.testing.assert_array_equal(fi["colour"], frame["gnabar_hh.somatic"].to_numpy())
    assert fi["colour_label"] == "gnabar_hh.somatic (S/cm2)"
    two = R.families(f, rows=2, seed=1)["fi"]
    assert (two["shown"], two["of"]) == (2, 4)
    by_id = frame.set_index("eval_id")
    np.testing.assert_array_equal(two["rows"], by_id.loc[two["ids"], columns].to_numpy())
    np.testing.assert_array_equal(two["colour"],
                                  by_id.loc[two["ids"], "gnabar_hh.somatic"].to_numpy())
    assert np.array_equal(R.families(f, rows=2, seed=1)["fi"]["ids"], two["ids"])


@pytest.mark.neuron
def test_a_sweeps_best_is_its_lowest_total_score(fi_sweep, random3):
    frame = St.ResultsFile(fi_sweep).frame()
    best = R.gather(fi_sweep)["best"]
    want = frame.sort_values(["total_score", "eval_id"]).iloc[0]
    assert best["eval_id"] == int(want["eval_id"]) and best["traces"] == {}
    assert best["parameters"] == {"gnabar_hh.somatic": float(want["gnabar_hh.somatic"])}
    assert best["features"].tobytes() == frame.loc[want.name, best["feature_names"]] \
        .to_numpy(dtype=float).tobytes()
    data = R.gather(random3[0])
    assert data["families"] is None                   # no profile features
    ok = St.ResultsFile(random3[0]).frame().query("status == 'ok'")
    assert data["best"]["total_score"] == ok["total_score"].min()
    assert data["best"]["eval_id"] == int(ok.sort_values(["total_score", "eval_id"])
                                          .iloc[0]["eval_id"])
