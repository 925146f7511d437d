"""rxd in the config: cellsweep's concentration traces equal plain NEURON rxd scripts', bit for
bit, in every backend and after other parameter sets in the same process; bad rxd configs are
refused up front, one line each.

NEURON and rxd keep global state per process, so both cellsweep's evaluations and the plain
scripts run in subprocesses of their own (a plain script's process is a fresh one).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from cellsweep.cells.errors import ConfigError
from cellsweep.cells.loader import load_model
from cellsweep.cells.trace_features import measure
from cellsweep import load_results
from tests.helpers import assert_same_results, env, run_cellsweep

pytestmark = pytest.mark.neuron

KFS = (0.5, 2.0, 4.0)

# -- the plain scripts (written from NEURON's rxd tutorials, nothing of cellsweep) ------------
CALCIUM = """
import sys
import numpy as np
from neuron import h, rxd
h.load_file("stdrun.hoc")
kf, cvode, out = float(sys.argv[1]), sys.argv[2] == "1", sys.argv[3]
soma = h.Section(name="soma")
soma.L = soma.diam = 10
cyt = rxd.Region([soma], nrn_region="i")
ca = rxd.Species(cyt, name="ca", charge=2, initial=1)
buf = rxd.Species(cyt, name="buf", initial=1)
cabuf = rxd.Species(cyt, name="cabuf", initial=0)
buffering = rxd.Reaction(2 * ca + buf, cabuf, kf, 0.1)
growth = rxd.Rate(buf, 1e-3 * buf)
h.cvode_active(1 if cvode else 0)
h.cvode.atol(1e-3)
h.dt = 0.025
t = h.Vector().record(h._ref_t)
vecs = {name: h.Vector().record(s.nodes(soma(0.5))[0]._ref_concentration)
        for name, s in (("ca", ca), ("buf", buf), ("cabuf", cabuf))}
h.finitialize(-65)
h.continuerun(50)
np.savez(out, t=np.array(t), **{k: np.array(v) for k, v in vecs.items()})
"""

POTASSIUM = """
import sys
import numpy as np
from neuron import h, rxd
h.load_file("stdrun.hoc")
h.load_file("import3d.hoc")
tortuosity, fraction, out, swc = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
reader = h.Import3d_SWC_read()
reader.input(swc)
h.Import3d_GUI(reader, False).instantiate(None)
soma, dend = h.soma[0], h.dend[0]
dend.nseg = 7
for sec in h.allsec():
    sec.Ra, sec.cm = 100, 1
    sec.insert("pas")
    for seg in sec:
        seg.pas.g, seg.pas.e = 1e-4, -65
soma.insert("steady_k")
soma(0.5).steady_k.amp = 0.1
pts = np.array([[h.x3d(i, sec=s), h.y3d(i, sec=s), h.z3d(i, sec=s)]
                for s in h.allsec() for i in range(s.n3d())])
lo, hi = pts.min(axis=0) - 20, pts.max(axis=0) + 20
ecs = rxd.Extracellular(*lo, *hi, dx=10, volume_fraction=fraction, tortuosity=tortuosity)
k = rxd.Species(ecs, name="k", charge=1, d=2.62, initial=3)
h.dt = 0.1
t = h.Vector().record(h._ref_t)
near = h.Vector().record(k[ecs].node_by_location(0, 0, 0)._ref_concentration)
nodes = list(k[ecs].nodes)
every = [h.Vector().record(n._ref_concentration) for n in nodes]
h.finitialize(-65)
h.continuerun(100)
volumes = np.array([n.volume for n in nodes])
traces = np.array([v.as_numpy() for v in every])
mean = (volumes[:, None] * traces).sum(axis=0) / volumes.sum()
np.savez(out, t=np.array(t), near=np.array(near), mean=mean)
"""

# cellsweep's side: the config's model evaluated for a list of parameter sets, in order, in one
# process; every trace saved
EVALUATE = """
import sys, json
import numpy as np
from cellsweep.cells.loader import load_model
from cellsweep.cells.evaluate import evaluate
sets = json.loads(sys.argv[2])
model, _ = load_model(sys.argv[1], extra_parameters=sorted({k for p in sets for k in p}))
out = {}
for i, params in enumerate(sets):
    result = evaluate(model, params, traces=True)
    assert result.status == "ok", result.message
    for protocol, recs in result.traces.items():
        for name, (t, v) in recs.items():
            out[f"{i}/t"] = t
            out[f"{i}/{name}"] = v
    for name, value in result.features.items():
        out[f"{i}/feature/{name}"] = np.array([value])
np.savez(sys.argv[3], **out)
"""


def _python(code: str, *args, tmp_path, cwd=None) -> None:
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                          text=True, env=env(), cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _evaluations(config, params: list, tmp_path) -> list[dict]:
    out = tmp_path / "cellsweep.npz"
    _python(EVALUATE, config, json.dumps(params), out, tmp_path=tmp_path)
    data = np.load(out)
    runs = [{} for _ in params]
    for key in data.files:
        i, _, name = key.partition("/")
        runs[int(i)][name] = data[key]
    return runs


def _calcium_config(repo, tmp_path, cvode=False) -> str:
    folder = tmp_path / "rxd"
    folder.mkdir(exist_ok=True)
    shutil.copy(repo / "configs" / "rxd" / "soma.swc", folder)
    data = yaml.safe_load((repo / "configs" / "rxd" / "calcium_buffering.yaml").read_text())
    data["simulation"]["cvode"] = cvode
    data["run"]["output"] = "calcium.h5"
    path = folder / ("calcium_cvode.yaml" if cvode else "calcium.yaml")
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _plain_calcium(kf, cvode, tmp_path):
    out = tmp_path / f"plain_{kf}_{int(cvode)}.npz"
    _python(CALCIUM, kf, int(cvode), out, tmp_path=tmp_path)
    return np.load(out)


@pytest.mark.parametrize("cvode", [False, True])
def test_calcium_buffering_equals_plain_rxd_script_after_other_parameter_sets(repo, tmp_path,
                                                                              cvode):
    """kf 0.5, 2, 4, 0.5 in one process: each equals a fresh plain script's, bit for bit (so
    nothing of one evaluation's rxd objects reaches the next: A, B, A)."""
    config = _calcium_config(repo, tmp_path, cvode)
    order = [KFS[0], KFS[1], KFS[2], KFS[0]]
    runs = _evaluations(config, [{"rxd.reactions.buffering.kf": kf} for kf in order], tmp_path)
    for kf, run in zip(order, runs):
        ref = _plain_calcium(kf, cvode, tmp_path)
        assert np.array_equal(run["t"], ref["t"])
        for species in ("ca", "buf", "cabuf"):
            assert np.array_equal(run[f"{species}_soma"], ref[species]), (kf, species)
    assert runs[0]["ca_soma"][-1] != runs[1]["ca_soma"][-1]
    # Rate(buf, 1e-3 * buf) is growth: with cabuf settled, buf rises
    buf = runs[0]["buf_soma"]
    assert buf[-1] > buf[len(buf) // 2]


def _features_from_plain(model, kf, tmp_path) -> dict:
    ref = _plain_calcium(kf, False, tmp_path)
    names = {"ca_soma": "ca", "buf_soma": "buf", "cabuf_soma": "cabuf"}
    return {f.name: measure(f.trace, ref["t"], ref[names[f.recording]], f.window_ms, f.at,
                            dict(f.settings)) for f in model.features}


def _calcium_sweep(repo, tmp_path, *args, mpi=None):
    config = _calcium_config(repo, tmp_path)
    out = tmp_path / f"calcium_{'_'.join(map(str, args)) or 'mpi'}.h5"
    run_cellsweep("run", config, "-o", out, *args, mpi=mpi)
    return config, out


def _check_sweep_against_plain(config, out, tmp_path):
    model, _ = load_model(config)
    frame = load_results(out)
    names = [f.name for f in model.features]
    assert sorted(frame["rxd.reactions.buffering.kf"]) == [0.5, 1.0, 2.0, 4.0]
    for _, row in frame.iterrows():
        expected = _features_from_plain(model, float(row["rxd.reactions.buffering.kf"]),
                                        tmp_path)
        assert {n: row[n] for n in names} == expected


def test_calcium_sweep_serial_and_processes_equal_plain_script(repo, tmp_path):
    config, serial = _calcium_sweep(repo, tmp_path, "--backend", "serial")
    _, processes = _calcium_sweep(repo, tmp_path, "--backend", "processes", "--workers", "2")
    assert_same_results(serial, processes)
    _check_sweep_against_plain(config, serial, tmp_path)


@pytest.mark.mpi
def test_calcium_sweep_under_mpi_equals_serial(repo, tmp_path):
    config, serial = _calcium_sweep(repo, tmp_path, "--backend", "serial")
    _, under_mpi = _calcium_sweep(repo, tmp_path, mpi=2)
    assert_same_results(serial, under_mpi)
    _check_sweep_against_plain(config, under_mpi, tmp_path)


# -- extracellular potassium ---------------------------------------------------------------------
def _potassium_folder(repo, tmp_path):
    folder = tmp_path / "configs" / "rxd"
    folder.mkdir(parents=True)
    for name in ("extracellular_k.yaml", "ball_stick.swc"):
        shutil.copy(repo / "configs" / "rxd" / name, folder)
    (tmp_path / "mechanisms").symlink_to(repo / "mechanisms")
    return folder


def _plain_potassium(tortuosity, fraction, swc, tmp_path):
    out = tmp_path / f"plain_k_{tortuosity}_{fraction}.npz"
    # the mechanisms cellsweep compiled (its cache), loaded the plain way
    from cellsweep.cells.mechanisms import build

    built = build(swc.parents[2] / "mechanisms" / "rxd")
    code = f"import neuron\nneuron.load_mechanisms({str(built)!r})\n" + POTASSIUM
    _python(code, tortuosity, fraction, out, swc, tmp_path=tmp_path)
    return np.load(out)


def test_extracellular_potassium_equals_plain_script_after_other_parameter_sets(repo, tmp_path):
    folder = _potassium_folder(repo, tmp_path)
    config = folder / "extracellular_k.yaml"
    sets = [(1.6, 0.2), (2.2, 0.1), (1.6, 0.2)]
    runs = _evaluations(config, [{"rxd.extracellular.tortuosity": a,
                                  "rxd.extracellular.volume_fraction": b} for a, b in sets],
                        tmp_path)
    for (tortuosity, fraction), run in zip(sets, runs):
        ref = _plain_potassium(tortuosity, fraction, folder / "ball_stick.swc", tmp_path)
        assert np.array_equal(run["t"], ref["t"])
        assert np.array_equal(run["k_soma"], ref["near"])
        assert np.array_equal(run["k_mean"], ref["mean"])
        assert run["k_soma"][-1] > 3.1       # the source raises the local [K+]
    assert not np.array_equal(runs[0]["k_soma"], runs[1]["k_soma"])


def test_lower_volume_fraction_and_higher_tortuosity_keep_more_potassium_near_the_source(
        repo, tmp_path):
    folder = _potassium_folder(repo, tmp_path)
    out = tmp_path / "k.h5"
    run_cellsweep("run", folder / "extracellular_k.yaml", "-o", out)
    frame = load_results(out)
    tortuosity = frame["rxd.extracellular.tortuosity"]
    fraction = frame["rxd.extracellular.volume_fraction"]
    value = dict(zip(zip(tortuosity, fraction), frame["release.k_soma.value_at"]))
    taus, alphas = sorted(set(tortuosity)), sorted(set(fraction))
    for a in taus:                       # less volume: more [K+]
        assert all(value[a, x] > value[a, y] for x, y in zip(alphas, alphas[1:]))
    for b in alphas:                     # slower diffusion: more [K+]
        assert all(value[x, b] < value[y, b] for x, y in zip(taus, taus[1:]))


# -- bad configs -----------------------------------------------------------------------------------
def _calcium(repo) -> dict:
    return yaml.safe_load((repo / "configs" / "rxd" / "calcium_buffering.yaml").read_text())


BAD = {
    "unknown species in a reaction": (
        lambda d: d["rxd"]["reactions"]["buffering"]["reactants"].update(mg=1),
        "rxd.reactions.buffering.reactants: unknown species 'mg'"),
    "unknown region of a species": (
        lambda d: d["rxd"]["species"]["ca"].update(regions=["er"]),
        "rxd.species.ca.regions: unknown rxd region 'er'"),
    "unknown cell region": (
        lambda d: d["rxd"]["regions"]["cyt"].update(cell_region="spine"),
        "rxd.regions.cyt.cell_region: unknown cell region 'spine'"),
    "negative concentration": (
        lambda d: d["rxd"]["species"]["buf"].update(initial=-1),
        "rxd.species.buf.initial: expected a value >= 0, found -1"),
    "negative diffusion constant": (
        lambda d: d["rxd"]["species"]["ca"].update(d=-0.1),
        "rxd.species.ca.d: expected a value >= 0"),
    "rate over an unknown name": (
        lambda d: d["rxd"]["rates"]["growth"].update(rate="1e-3 * bf"),
        "rxd.rates.growth.rate: unknown name 'bf'"),
    "rate that calls something": (
        lambda d: d["rxd"]["rates"]["growth"].update(rate="__import__('os').getcwd()"),
        "rxd.rates.growth.rate: "),
    "unknown rxd parameter": (
        lambda d: d["sweep"]["parameters"].update({"rxd.reactions.buffering.kx": {"values": [1]}}),
        "unknown rxd number 'rxd.reactions.buffering.kx'"),
    "negative swept rate constant": (
        lambda d: d["cell"].update(free={"rxd.reactions.buffering.kf": {"low": -1, "high": 1}}),
        "cell.free['rxd.reactions.buffering.kf'].low: expected a value >= 0"),
    "recording of an unknown species": (
        lambda d: d["protocols"]["buffering"]["recordings"].update(
            mg_soma={"species": "mg", "location": "soma"}),
        "protocols.buffering.recordings.mg_soma.species: unknown species 'mg'"),
    "too many voxels": (
        lambda d: d["rxd"].update(extracellular={"lower_um": [-10, -10, -10],
                                                 "upper_um": [10, 10, 10], "dx_um": 0.01},
                                  species={**d["rxd"]["species"],
                                           "buf": {"regions": ["cyt"]},
                                           "cabuf": {"regions": ["cyt"]}}),
        "rxd.extracellular.dx_um: the extracellular space would have 8000000000 voxels"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_rxd_config_is_refused_with_a_clear_line(repo, tmp_path, case):
    change, expected = BAD[case]
    data = _calcium(repo)
    change(data)
    shutil.copy(repo / "configs" / "rxd" / "soma.swc", tmp_path)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    from cellsweep.sweep import campaign

    with pytest.raises(ConfigError) as info:
        campaign.prepare(path)
    assert any(expected in line for line in str(info.value).splitlines()), str(info.value)


@pytest.mark.parametrize("extracellular, expected", [
    ({"lower_um": [-3, -3, -3], "upper_um": [3, 3, 3]}, "does not contain the cell"),
    ({"padding_um": 100, "dx_um": 0.5}, "voxels, more than rxd.max_voxels (1000000)"),
])
def test_extracellular_box_is_checked_on_the_real_cell(repo, tmp_path, extracellular, expected):
    data = _calcium(repo)
    data["rxd"]["extracellular"] = extracellular
    data["rxd"]["species"]["na"] = {"regions": ["ecs"], "charge": 1, "initial": 140}
    data["rxd"]["species"]["ca"]["regions"] = ["cyt"]
    for name in ("buf", "cabuf"):
        data["rxd"]["species"][name]["regions"] = ["cyt"]
    shutil.copy(repo / "configs" / "rxd" / "soma.swc", tmp_path)
    path = tmp_path / "box.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = run_cellsweep("validate", path, check=False)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and expected in lines[0] and "rxd.extracellular" in lines[0], \
        proc.stderr


def test_geometry_config_evaluates(repo, tmp_path):
    """Fractional volumes on a distance region, an explicit box, region-restricted reactions
    and a rate with rxd functions build and run under CVode."""
    runs = _evaluations(repo / "tests" / "data" / "rxd" / "geometry.yaml", [{}], tmp_path)
    ca = runs[0]["ca_near"]
    assert np.all(np.isfinite(ca)) and ca[-1] < ca[0]     # buffered and pumped
    assert np.all(runs[0]["k_point"] == 3.0)              # no K+ source: stays at initial
    # a State driven by a Parameter: d gate/dt = p (1 - gate) - gate, p = 2, gate(0) = 0.2
    t, gate = runs[0]["t"], runs[0]["gate_near"]
    p, g0 = 2.0, 0.2
    exact = p / (1 + p) + (g0 - p / (1 + p)) * np.exp(-(1 + p) * t)
    # within the config's CVode tolerance (atol 1e-3, absolute error ~4e-3 here)
    assert np.max(np.abs(gate - exact)) < 1e-2 and abs(gate[-1] - 2 / 3) < 1e-3


def test_a_parameter_value_is_swept_like_any_number(repo, tmp_path):
    runs = _evaluations(repo / "tests" / "data" / "rxd" / "geometry.yaml",
                        [{"rxd.species.rate_scale.initial": 0.5},
                         {"rxd.species.rate_scale.initial": 2.0}], tmp_path)
    assert runs[0]["gate_near"][-1] < 1 / 3 + 0.01 < runs[1]["gate_near"][-1]


@pytest.mark.parametrize("species, expected", [
    ({"kind": "state", "regions": ["cyt"], "charge": 1}, "a state has no charge"),
    ({"kind": "parameter", "regions": ["cyt"], "d": 1.0}, "a parameter does not diffuse"),
    ({"kind": "gate", "regions": ["cyt"]}, "unknown value 'gate'"),
])
def test_bad_states_and_parameters_are_refused(repo, tmp_path, species, expected):
    data = yaml.safe_load((repo / "tests" / "data" / "rxd" / "geometry.yaml").read_text())
    data["cell"]["morphology"] = str(repo / "tests" / "data" / "tiny" / "ball_stick.swc")
    data["rxd"]["species"]["odd"] = species
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = run_cellsweep("validate", path, check=False)
    assert proc.returncode == 2 and expected in proc.stderr, proc.stderr


def test_trace_measures():
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    v = np.array([0.0, 2.0, 4.0, 3.0, 3.0])
    assert measure("value_at", t, v, (0, 4), at=1.5) == 3.0
    assert measure("max", t, v, (0, 4)) == 4.0 and measure("time_of_max", t, v, (0, 4)) == 2.0
    assert measure("mean", t, v, (3, 4)) == 3.0
    assert measure("steady_state", t, v, (0, 4), settings={"last_ms": 1}) == 3.0
    assert measure("time_to_fraction", t, v, (0, 4), settings={"fraction": 0.75}) == 1.5
    assert measure("max", t, v, (10, 20)) is None


def test_a_species_recorded_off_its_region_is_refused_and_an_rxd_error_leaves_nothing_behind(
        repo, tmp_path):
    """Up front: a recording where its species has no node. At run time (the check skipped):
    the evaluation fails as data, and the next model's evaluation in the same process still
    equals the plain script's."""
    data = yaml.safe_load((repo / "tests" / "data" / "rxd" / "geometry.yaml").read_text())
    data["cell"]["morphology"] = str(repo / "tests" / "data" / "tiny" / "ball_stick.swc")
    data["protocols"]["rest"]["recordings"]["ca_soma"] = {"species": "ca", "location": "soma"}
    bad = tmp_path / "off_region.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False))
    proc = run_cellsweep("validate", bad, check=False)
    assert proc.returncode == 2
    assert "recordings.ca_soma.location: soma is not in rxd region 'cyt'" in proc.stderr
    good = _calcium_config(repo, tmp_path)
    script = f"""
import numpy as np
from cellsweep.cells.loader import load_model
from cellsweep.cells.evaluate import evaluate
first = evaluate(load_model({str(bad)!r})[0], {{}})
assert first.status == "error" and "has no node" in first.message, first.message
result = evaluate(load_model({str(good)!r})[0], {{}}, traces=True)
assert result.status == "ok", result.message
np.save({str(tmp_path / "after.npy")!r}, result.traces["buffering"]["ca_soma"][1])
"""
    _python(script, tmp_path=tmp_path)
    plain_ca = _plain_calcium(1.0, False, tmp_path)["ca"]
    assert np.array_equal(np.load(tmp_path / "after.npy"), plain_ca)


STYLISED_K = """
cell:
  name: stylised_k
  sections:
    - {name: soma, L: 12.6157, diam: 12.6157}
  mechanisms_dir: MECHANISMS
  insert: {all: [pas, steady_k]}
simulation: {cvode: true}
rxd:
  extracellular: {lower_um: [-20, -20, -20], upper_um: [40, 20, 20], dx_um: 10}
  species: {k: {charge: 1, d: 2.62, initial: 3}}
protocols:
  rest:
    tstop_ms: 10
    recordings: {k: {species: k, location: soma}}
"""


def test_stylised_cell_geometry_swept_with_rxd_equals_fresh_processes(repo, tmp_path):
    """rxd gives a stylised cell float32 3-D points (define_shape); they go with the rxd
    objects, so a swept L after another L equals a fresh process's."""
    path = tmp_path / "stylised_k.yaml"
    path.write_text(STYLISED_K.replace("MECHANISMS", str(repo / "mechanisms" / "rxd")))
    params = [{"L.somatic": 12.6157}, {"L.somatic": 20.0}, {"L.somatic": 12.6157}]
    in_one = _evaluations(path, params, tmp_path)
    for i, p in enumerate(params[:2]):
        folder = tmp_path / f"fresh{i}"
        folder.mkdir()
        fresh = _evaluations(path, [p], folder)[0]
        assert np.array_equal(in_one[i]["k"], fresh["k"])
    assert np.array_equal(in_one[2]["k"], in_one[0]["k"])
    assert not np.array_equal(in_one[0]["k"], in_one[1]["k"])


PLAIN_STYLISED_K = POTASSIUM.replace('''reader = h.Import3d_SWC_read()
reader.input(swc)
h.Import3d_GUI(reader, False).instantiate(None)
soma, dend = h.soma[0], h.dend[0]
dend.nseg = 7''', '''soma, dend = h.Section(name="soma"), h.Section(name="dend")
soma.L = soma.diam = 20
dend.L, dend.diam, dend.nseg = 200, 1, 7
dend.connect(soma(1))
h.define_shape()''').replace("k[ecs].node_by_location(0, 0, 0)",
                             "k[ecs].node_by_location(*[(f(0, sec=soma) + f(soma.n3d() - 1, "
                             "sec=soma)) / 2 for f in (h.x3d, h.y3d, h.z3d)])")


def test_a_padded_box_around_a_stylised_cell_equals_a_plain_script(repo, tmp_path):
    """A stylised cell has no 3-D points until rxd gives it some (define_shape): the padded
    box is put around those, as a plain script that calls define_shape does."""
    assert "Import3d" not in PLAIN_STYLISED_K and "node_by_location(0, 0, 0)" not in \
        PLAIN_STYLISED_K
    folder = _potassium_folder(repo, tmp_path)
    config = folder / "stylised_k.yaml"
    config.write_text((folder / "extracellular_k.yaml").read_text().replace(
        "  morphology: ball_stick.swc\n",
        "  sections:\n    - {name: soma, L: 20, diam: 20, nseg: 1}\n"
        "    - {name: dend, L: 200, diam: 1, nseg: 7, region: basal}\n").replace(
        "point_um: [0, 30, 0]", "point_um: [30, 0, 0]"))
    run = _evaluations(config, [{"rxd.extracellular.tortuosity": 1.6,
                                 "rxd.extracellular.volume_fraction": 0.2}], tmp_path)[0]
    from cellsweep.cells.mechanisms import build

    built = build(repo / "mechanisms" / "rxd")
    out = tmp_path / "plain_stylised.npz"
    _python(f"import neuron\nneuron.load_mechanisms({str(built)!r})\n" + PLAIN_STYLISED_K,
            1.6, 0.2, out, "unused.swc", tmp_path=tmp_path)
    ref = np.load(out)
    assert np.array_equal(run["t"], ref["t"])
    assert np.array_equal(run["k_soma"], ref["near"])
    assert np.array_equal(run["k_mean"], ref["mean"])


ER_CONFIG = (Path(__file__).resolve().parents[1] / "data" / "rxd" / "er_exchange.yaml"
             ).read_text()

PLAIN_ER = """
import sys
import numpy as np
from neuron import h, rxd
h.load_file("stdrun.hoc")
kf, out = float(sys.argv[1]), sys.argv[2]
soma = h.Section(name="soma")
soma.L = soma.diam = 10
soma.insert("pas")
cyt = rxd.Region([soma], nrn_region="i", name="cyt",
                 geometry=rxd.FractionalVolume(0.83, surface_fraction=1))
er = rxd.Region([soma], name="er", geometry=rxd.FractionalVolume(0.17))
cyt_er = rxd.Region([soma], name="cyt_er", geometry=rxd.ScalableBorder(1, on_cell_surface=False))
ca = rxd.Species([cyt, er], d=0.08, name="ca", charge=2, initial=1e-4)
uptake = rxd.MultiCompartmentReaction(ca[cyt], ca[er], kf, 1e-4, membrane=cyt_er)
h.dt = 0.025
t = h.Vector().record(h._ref_t)
c = h.Vector().record(ca[cyt].nodes(soma(0.5))[0]._ref_concentration)
e = h.Vector().record(ca[er].nodes(soma(0.5))[0]._ref_concentration)
h.finitialize(-65)
h.continuerun(50)
np.savez(out, t=np.array(t), cyt=np.array(c), er=np.array(e))
"""


def test_a_reaction_across_a_membrane_equals_a_plain_script(tmp_path):
    """A MultiCompartmentReaction (ca[cyt] <> ca[er] across a ScalableBorder) moves calcium
    into the ER exactly as a plain rxd script does, for the kf it is given."""
    path = tmp_path / "er.yaml"
    path.write_text(ER_CONFIG)
    kfs = (1.0e-3, 5.0e-3)
    runs = _evaluations(path, [{"rxd.reactions.uptake.kf": k} for k in kfs], tmp_path)
    for kf, run in zip(kfs, runs):
        out = tmp_path / f"plain_er_{kf}.npz"
        _python(PLAIN_ER, kf, out, tmp_path=tmp_path)
        ref = np.load(out)
        assert np.array_equal(run["t"], ref["t"])
        assert np.array_equal(run["ca_cyt"], ref["cyt"])
        assert np.array_equal(run["ca_er"], ref["er"])
        assert run["ca_er"][-1] > run["ca_er"][0] and run["ca_cyt"][-1] < run["ca_cyt"][0]
    assert runs[1]["ca_er"][-1] > runs[0]["ca_er"][-1]


@pytest.mark.parametrize("change, expected", [
    ({"reactants": {"ca": 1}}, "needs every species with its region"),
    ({"membrane": "nowhere"}, "unknown rxd region 'nowhere'"),
    ({"reactants": {"ca[ecs]": 1}}, "species 'ca' lives in cyt, er"),
    ({"membrane": None, "membrane_flux": True}, "only a reaction across a membrane"),
])
def test_bad_multicompartment_reactions_are_refused(tmp_path, change, expected):
    data = yaml.safe_load(ER_CONFIG)
    reaction = data["rxd"]["reactions"]["uptake"]
    reaction.update(change)
    data["rxd"]["reactions"]["uptake"] = {k: v for k, v in reaction.items() if v is not None}
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    proc = run_cellsweep("validate", path, check=False)
    assert proc.returncode == 2 and expected in proc.stderr, proc.stderr


def _read_only(folder: Path) -> bool:
    """Make ``folder`` unwritable (chmod; for root, which chmod does not stop, chattr +i)."""
    folder.chmod(0o555)
    if os.access(folder, os.W_OK):
        subprocess.run(["chattr", "+i", str(folder)], capture_output=True)
    try:
        (folder / "probe").write_text("")
    except OSError:
        return True
    (folder / "probe").unlink()
    return False


def _writable_again(folder: Path) -> None:
    subprocess.run(["chattr", "-i", str(folder)], capture_output=True)
    folder.chmod(0o755)


def test_rxd_compiles_aside_from_an_unwritable_working_directory(repo, tmp_path):
    """rxd writes and compiles its reaction code in the working directory at every
    finitialize: cellsweep evaluates rxd models in a scratch directory of their own and comes
    back, so the user's directory need not be writable and is never littered."""
    work = tmp_path / "work"
    work.mkdir()
    config = _calcium_config(repo, tmp_path)
    code = EVALUATE + "\nimport os\nassert os.getcwd() == sys.argv[4], os.getcwd()\n"
    if not _read_only(work):
        _writable_again(work)
        pytest.skip("cannot make a directory unwritable here (chmod and chattr both fail)")
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(config), json.dumps([{}, {}]),
                               str(tmp_path / "out.npz"), str(work)],
                              capture_output=True, text=True, env=env(), cwd=work, timeout=300)
    finally:
        _writable_again(work)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert list(work.iterdir()) == []
