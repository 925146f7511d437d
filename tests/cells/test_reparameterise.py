"""A cell built once and re-parameterised must give exactly what a fresh build gives."""

import copy
import gc
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml

from cellsweep.cells.config import model_from_dict
from cellsweep.cells.evaluate import drop_cells, evaluate

pytestmark = pytest.mark.neuron


def _quick_example(repo, extra_free=True):
    """The bundled example with short protocols and more free parameters (Ra, cm, nseg, ...)."""
    src = repo / "configs" / "example"
    data = yaml.safe_load((src / "example.yaml").read_text())
    data = copy.deepcopy(data)
    for proto in data["protocols"].values():
        proto["tstop_ms"] = 120
        proto["stimuli"]["step"].update(delay_ms=20, duration_ms=80)
    if extra_free:
        fixed, free = data["cell"]["fixed"], data["cell"]["free"]
        for key in ("Ra.all", "cm.basal", "celsius", "gbar_ih.apical"):
            value = fixed.pop(key)
            dist = {}
            if isinstance(value, dict):
                dist = {"distribution": value["distribution"]}
                value = value["value"]
            free[key] = {"low": value * 0.5, "high": value * 1.5, **dist}
        free["step_pos.step.amp_nA"] = {"low": 0.1, "high": 0.5}
        free["nseg.d_lambda"] = {"low": 0.05, "high": 0.3}
    return model_from_dict(data, source="quick.yaml", base_dir=src)


def _random_sets(model, n, seed):
    rng = np.random.default_rng(seed)
    return [{p.name: float(rng.uniform(p.low, p.high)) for p in model.free_parameters}
            for _ in range(n)]


def _assert_same(a, b):
    assert a.status == b.status, (a.message, b.message)
    assert a.nseg == b.nseg
    for protocol, recs in a.traces.items():
        for name, (t, v) in recs.items():
            t2, v2 = b.traces[protocol][name]
            assert np.array_equal(t, t2) and np.array_equal(v, v2), f"{protocol}.{name} differs"
    assert json.dumps(a.features) == json.dumps(b.features)   # NaN-aware exact comparison
    assert a.scores == b.scores


@pytest.mark.slow
def test_reused_cell_equals_fresh_build_over_many_parameter_sets(repo):
    model = _quick_example(repo)
    sets = _random_sets(model, 200, seed=7)
    reused = [evaluate(model, p, traces=True) for p in sets]
    nsegs = {sum(r.nseg.values()) for r in reused}
    assert len(nsegs) > 3, "the sets must exercise changes of discretisation"
    statuses = {r.status for r in reused}
    assert statuses == {"ok"}, [r.message for r in reused if r.status != "ok"][:3]
    for params, first in zip(sets, reused):
        _assert_same(first, evaluate(model, params, traces=True, fresh=True))


def test_reused_cell_equals_a_new_process(repo, tmp_path):
    """Evaluations after others in one process equal the same evaluations in a new process."""
    model = _quick_example(repo)
    sets = _random_sets(model, 6, seed=11)
    for p in sets:                                         # warm this process up with others
        evaluate(model, p)
    here = [evaluate(model, p).features for p in sets[::-1]]
    script = (
        "import json, sys\n"
        "sys.path.insert(0, %r)\n"
        "from tests.cells.test_reparameterise import _quick_example\n"
        "from cellsweep.cells.evaluate import evaluate\n"
        "from pathlib import Path\n"
        "model = _quick_example(Path(%r))\n"
        "sets = json.loads(sys.argv[1])\n"
        "print(json.dumps([evaluate(model, p).features for p in sets]))\n"
    ) % (str(repo), str(repo))
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(sets[::-1])],
                          capture_output=True, text=True, check=True)
    there = json.loads(proc.stdout.strip().splitlines()[-1])
    assert json.dumps(here) == json.dumps(there)


def test_no_sections_leak_and_dropping_frees_them(repo):
    from neuron import h

    model = _quick_example(repo, extra_free=False)
    drop_cells()
    gc.collect()
    assert sum(1 for _ in h.allsec()) == 0
    first = evaluate(model, {})
    count = sum(1 for _ in h.allsec())
    assert count > 10
    for _ in range(3):
        assert evaluate(model, {}).status == "ok"
        assert sum(1 for _ in h.allsec()) == count
    assert first.timings["build"] > 0
    drop_cells()
    gc.collect()
    assert sum(1 for _ in h.allsec()) == 0


@pytest.mark.slow
def test_memory_stays_flat_over_thousands_of_evaluations(repo):
    """RSS after 2000 more evaluations of a small cell grows by less than 5 MB per 1000."""
    import psutil

    from cellsweep.cells.loader import load_model

    model = load_model(repo / "tests" / "data" / "tiny" / "tiny.yaml")[0]
    rng = np.random.default_rng(3)
    sets = [{p.name: float(rng.uniform(p.low, p.high)) for p in model.free_parameters}
            for _ in range(2300)]
    for params in sets[:300]:                       # warm up: caches, eFEL, NEURON pools
        evaluate(model, params)
    gc.collect()
    before = psutil.Process().memory_info().rss
    for params in sets[300:]:
        assert evaluate(model, params).status == "ok"
    gc.collect()
    grown_mb = (psutil.Process().memory_info().rss - before) / 2**20
    assert grown_mb < 10, f"RSS grew {grown_mb:.1f} MB over 2000 evaluations"


def _stylised_with_free_geometry(repo):
    """The ball-and-stick tutorial with a tapered apical dendrite and free L and diam."""
    src = repo / "configs" / "tutorials"
    data = yaml.safe_load((src / "ball_and_stick.yaml").read_text())
    data.pop("convergence", None)
    data.pop("run", None)
    data["cell"]["sections"].append({"name": "apic", "L": 300, "diam": [3, 1]})
    data["cell"]["insert"]["apical"] = ["pas"]
    data["cell"]["fixed"].update({"g_pas.apical": 0.0005, "e_pas.apical": -65})
    data["cell"]["free"] = {"L.basal": {"low": 20, "high": 2000},
                            "diam.apical": {"low": 0.5, "high": 5},
                            "L.apic[0]": {"low": 50, "high": 1500}}
    data["protocols"]["pulse"]["recordings"]["apic"] = "apic[0](0.7)"
    return model_from_dict(data, source="bs.yaml", base_dir=src)


def test_length_sweep_a_b_a_equals_fresh_builds_and_a_new_process(repo):
    model = _stylised_with_free_geometry(repo)
    a = {"L.basal": 200.0, "diam.apical": 2.0, "L.apic[0]": 300.0}
    b = {"L.basal": 1700.0, "diam.apical": 0.7, "L.apic[0]": 1200.0}
    drop_cells()
    sequence = [evaluate(model, p, traces=True) for p in (a, b, a)]
    assert sequence[0].nseg != sequence[1].nseg, "the sweep must change the discretisation"
    _assert_same(sequence[0], sequence[2])
    for params, reused in zip((a, b), sequence):
        _assert_same(reused, evaluate(model, params, traces=True, fresh=True))
    script = (
        "import json, sys\n"
        "sys.path.insert(0, %r)\n"
        "from pathlib import Path\n"
        "from tests.cells.test_reparameterise import _stylised_with_free_geometry\n"
        "from cellsweep.cells.evaluate import evaluate\n"
        "r = evaluate(_stylised_with_free_geometry(Path(%r)), json.loads(sys.argv[1]),"
        " traces=True)\n"
        "print(json.dumps({k: v.tolist() for k, (t, v) in r.traces['pulse'].items()}))\n"
    ) % (str(repo), str(repo))
    proc = subprocess.run([sys.executable, "-c", script, json.dumps(a)],
                          capture_output=True, text=True, check=True)
    there = json.loads(proc.stdout.strip().splitlines()[-1])
    assert there == {k: v.tolist() for k, (t, v) in sequence[2].traces["pulse"].items()}
