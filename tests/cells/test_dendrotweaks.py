"""DendroTweaks model folders in and out, against DendroTweaks itself.

A model is built with DendroTweaks' own API (a small SWC written here, Hodgkin-Huxley Na and K
channels and DendroTweaks' Leak with distributions of every kind over distance and diameter
groups, a current clamp, recordings at the soma and in the dendrites), exported by DendroTweaks
as a folder, read by cellsweep (``cell: {dendrotweaks: ...}``), and the voltage traces of both
compared; then a cellsweep model is written as a folder and simulated by DendroTweaks. Each
simulation runs in its own process (both load mechanisms into NEURON). The morphology's
coordinates and lengths are exact in float32 (NEURON's 3-D points), so the path distances, the
distributions and nseg are the same numbers in both (every segment's cm, Ra, conductances, area
and axial resistance are equal bit for bit); the traces differ by ~1e-11 mV because NEURON
solves the cable equation in the order the sections were created, and DendroTweaks creates them
in its own order (Import3d in the file's), which rounds differently.
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

pytest.importorskip("dendrotweaks")

from cellsweep.cells.errors import ConfigError  # noqa: E402
from cellsweep.cells.loader import load_model  # noqa: E402

VENV_BIN = str(Path(sys.executable).parent)
TOLERANCE_MV = 1e-9

NA = """
NEURON {
    SUFFIX Na
    USEION na READ ena WRITE ina
    RANGE gbar, i
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}
PARAMETER {
    gbar = 0.12 (S/cm2)
}
ASSIGNED {
    v (mV)
    ena (mV)
    ina (mA/cm2)
    i (mA/cm2)
    minf (1)
    hinf (1)
    mtau (ms)
    htau (ms)
}
STATE { m h }
BREAKPOINT {
    SOLVE states METHOD cnexp
    i = gbar * m * m * m * h * (v - ena)
    ina = i
}
INITIAL {
    rates(v)
    m = minf
    h = hinf
}
DERIVATIVE states {
    rates(v)
    m' = (minf - m) / mtau
    h' = (hinf - h) / htau
}
PROCEDURE rates(v (mV)) {
    LOCAL am, bm, ah, bh
    am = 0.1 * (v + 40.0001) / (1 - exp(-(v + 40.0001) / 10))
    bm = 4 * exp(-(v + 65) / 18)
    ah = 0.07 * exp(-(v + 65) / 20)
    bh = 1 / (1 + exp(-(v + 35) / 10))
    minf = am / (am + bm)
    mtau = 1 / (am + bm)
    hinf = ah / (ah + bh)
    htau = 1 / (ah + bh)
}
"""

KV = """
NEURON {
    SUFFIX Kv
    USEION k READ ek WRITE ik
    RANGE gbar, i
}
UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
    (S) = (siemens)
}
PARAMETER {
    gbar = 0.036 (S/cm2)
}
ASSIGNED {
    v (mV)
    ek (mV)
    ik (mA/cm2)
    i (mA/cm2)
    ninf (1)
    ntau (ms)
}
STATE { n }
BREAKPOINT {
    SOLVE states METHOD cnexp
    i = gbar * n * n * n * n * (v - ek)
    ik = i
}
INITIAL {
    rates(v)
    n = ninf
}
DERIVATIVE states {
    rates(v)
    n' = (ninf - n) / ntau
}
PROCEDURE rates(v (mV)) {
    LOCAL an, bn
    an = 0.01 * (v + 55.0001) / (1 - exp(-(v + 55.0001) / 10))
    bn = 0.125 * exp(-(v + 65) / 80)
    ninf = an / (an + bn)
    ntau = 1 / (an + bn)
}
"""

# A three-point soma (NeuroMorpho's: centre, two points one radius away), a branched basal
# dendrite written before an unbranched one (DendroTweaks numbers the unbranched one first),
# an axon, and an apical dendrite whose branches are symmetric about +y (so DendroTweaks does
# not rotate the cell). Every length is a whole number of micrometres.
SWC = """\
1 1 0 0 0 10 -1
2 1 0 -10 0 10 1
3 1 0 10 0 10 1
4 3 0 -10 0 1.5 1
5 3 0 -50 0 1.25 4
6 3 30 -90 0 0.5 5
7 3 -30 -90 0 0.5 5
8 3 -40 -120 0 0.5 7
9 3 -10 0 0 1 1
10 3 -90 0 0 0.75 9
11 2 10 0 0 1 1
12 2 50 0 0 0.5 11
13 4 0 10 0 2 1
14 4 0 110 0 1.5 13
15 4 0 210 0 1 14
16 4 30 250 0 0.5 15
17 4 -30 250 0 0.5 15
"""

BUILD = """
import os, sys, warnings
warnings.simplefilter("ignore")
from dendrotweaks import Model
m = Model(sys.argv[1])
m.load_morphology("cell")
m.add_default_mechanisms()
m.add_mechanism("Na", recompile=False)
m.add_mechanism("Kv", recompile=False)
for domain in ("soma", "dend", "apic", "axon"):
    for mech in ("Leak", "Na", "Kv"):
        m.insert_mechanism(mech, domain)
m.add_group("apical_far", ["apic"], select_by="distance", min_value=100, max_value=230)
m.add_group("thin", ["dend", "apic"], select_by="diam", max_value=0.8)
m.add_group("dend_near", ["dend"], select_by="distance", max_value=60)
m.add_group("apical_base", ["apic"], select_by="domain_distance", max_value=50)
m.set_param("cm", "all", "constant", value=1.0)
m.set_param("cm", "dendritic", "constant", value=2.0)
m.set_param("Ra", "all", "constant", value=120)
m.set_param("gbar_Leak", "all", "constant", value=3e-4)
m.set_distribution("gbar_Leak", "apical", "polynomial", coeffs=[1e-9, 2e-7, 3e-4])  # set_param
m.distribute("gbar_Leak")                                   # refuses lists
m.set_param("e_Leak", "all", "constant", value=-65)
m.set_param("gbar_Na", "all", "constant", value=0.01)
m.set_param("gbar_Na", "somatic", "constant", value=0.12)
m.set_param("gbar_Na", "axonal", "step", start=5, end=30, min_value=0.05, max_value=0.2)
m.set_param("gbar_Na", "apical_far", "linear", slope=1e-4, intercept=0.005)
m.set_param("gbar_Na", "thin", "gaussian", amplitude=0.02, mean=80, std=40)
m.set_param("gbar_Kv", "all", "constant", value=0.036)
m.set_param("gbar_Kv", "apical", "exponential", vertical_shift=0.01, scale_factor=0.02,
            growth_rate=-0.01, horizontal_shift=10)
m.set_param("gbar_Kv", "dendritic", "sinusoidal", amplitude=0.03, frequency=0.005, phase=0.2)
m.set_param("gbar_Kv", "dend_near", "sigmoid", vertical_shift=0.005, scale_factor=0.03,
            growth_rate=0.1, horizontal_shift=30)
m.set_param("gbar_Kv", "apical_base", "constant", value=0.05)
m.set_param("ena", "all", "constant", value=50)
m.set_param("ek", "all", "constant", value=-77)
secs = m.sec_tree.sections
m.add_iclamp(secs[0], 0.5, amp=0.3, delay=5, dur=30)
m.add_recording(secs[0], 0.5)
for sec in secs[1:]:
    m.add_recording(sec, 0.5)
m.simulator.temperature = 37
m.simulator._duration = 50
m.export_biophys("biophys")
m.export_stimuli("step")
json.dump({"nseg": [s._ref.nseg for s in secs],
           "ends": [[s.points[-1].x, s.points[-1].y] for s in secs]},
          open(sys.argv[2], "w"))
""".replace("import os, sys, warnings", "import json, os, sys, warnings")

SIMULATE_DT = """
import json, sys, warnings
warnings.simplefilter("ignore")
from dendrotweaks import Model
folder, morphology, biophys, stimuli, out = sys.argv[1:6]
m = Model(folder)
m.load_morphology(morphology)
m.load_biophys(biophys, recompile=False)
m.load_stimuli(stimuli)
m.run(m.simulator._duration)
traces = {f"{seg._section.idx}:{seg.x!r}": list(v) for seg, v in m.simulator.recordings["v"].items()}
json.dump({"t": list(m.simulator.t), "v": traces, "nseg": [s._ref.nseg for s in m.sec_tree.sections]},
          open(out, "w"))
"""

SIMULATE_CS = """
import json, sys
from cellsweep.cells.evaluate import evaluate
from cellsweep.cells.loader import load_model
params = json.loads(sys.argv[3])
model, _ = load_model(sys.argv[1], extra_parameters=tuple(params))
if sys.argv[4:] == ["after-defaults"]:       # the cell re-parameterised, not fresh
    assert evaluate(model, {}).status == "ok"
result = evaluate(model, params, traces=True)
assert result.traces, result
json.dump({p: {r: [list(map(float, t)), list(map(float, v))] for r, (t, v) in recs.items()}
           for p, recs in result.traces.items()}, open(sys.argv[2], "w"))
"""


def run_python(code: str, *args, cwd=None) -> None:
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""),
               NEURON_INIT_MPI="0", NEURON_MODULE_OPTIONS="-nogui")
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def dendrotweaks_leak() -> Path:
    import dendrotweaks

    return Path(dendrotweaks.__file__).parent / "biophys" / "default_mod" / "Leak.mod"


def new_folder(root: Path, name: str = "cell") -> Path:
    """A DendroTweaks model folder with our .mod files, beside the workspace's shared Default/
    as a DendroTweaks user has it: DendroTweaks' Leak channel is there only (DendroTweaks'
    ``Model`` copies all of its defaults into an empty Default/; one file keeps it from
    compiling the others)."""
    (root / "Default").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(dendrotweaks_leak(), root / "Default" / "Leak.mod")
    folder = root / name
    mod = folder / "biophys" / "mod"
    mod.mkdir(parents=True)
    (folder / "morphology").mkdir()
    (mod / "Na.mod").write_text(NA)
    (mod / "Kv.mod").write_text(KV)
    return folder


def simulate_dendrotweaks(folder: Path, out: Path, morphology="cell", biophys="biophys",
                          stimuli="step") -> dict:
    run_python(SIMULATE_DT, folder, morphology, biophys, stimuli, out, cwd=folder.parent)
    return json.loads(out.read_text())


def simulate_cellsweep(config: Path, out: Path, params=None, *flags) -> dict:
    run_python(SIMULATE_CS, config, out, json.dumps(params or {}), *flags)
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def dt_model(tmp_path_factory):
    """The folder DendroTweaks wrote, what DendroTweaks built, and its simulation."""
    root = tmp_path_factory.mktemp("dendrotweaks")
    folder = new_folder(root)
    (folder / "morphology" / "cell.swc").write_text(SWC)
    run_python(BUILD, folder, root / "built.json", cwd=root)
    built = json.loads((root / "built.json").read_text())
    traces = simulate_dendrotweaks(folder, root / "dt.json")
    config = root / "model.yaml"
    config.write_text("cell:\n  dendrotweaks: cell\n  morphology: cell\n  biophys: biophys\n"
                      "  stimuli: step\n")
    return {"root": root, "folder": folder, "built": built, "dt": traces, "config": config}


def compare(dt: dict, cs: dict, protocol: str) -> dict:
    """Max |difference| (mV) per DendroTweaks recording, after checking the time vectors."""
    recs = cs[protocol]
    out = {}
    for key, values in dt["v"].items():
        idx, loc = key.split(":")
        name = f"v_sec{idx}_{float(loc):g}".replace(".", "p")
        t, v = recs[name]
        assert len(t) == len(dt["t"]) and np.array_equal(t, dt["t"])
        out[key] = float(np.max(np.abs(np.asarray(v) - np.asarray(values))))
    return out


def test_dendrotweaks_folder_simulates_as_in_dendrotweaks(dt_model):
    model, data = load_model(dt_model["config"])
    names = {p.name for p in model.parameters}
    assert {"gbar_Na.somatic", "gbar_Na.apical_far", "gbar_Na.apical_far.slope",
            "gbar_Leak.apical.coeffs_2", "gbar_Kv.dend_near.growth_rate"} <= names
    assert data["cell"]["regions"]["thin"] == {"within": ["basal", "apical"],
                                               "select_by": "diam", "up_to": 0.8}
    cs = simulate_cellsweep(dt_model["config"], dt_model["root"] / "cs.json")
    diffs = compare(dt_model["dt"], cs, "step")
    assert len(diffs) == len(dt_model["built"]["nseg"])   # soma and every dendrite section
    spikes = np.asarray(dt_model["dt"]["v"]["0:0.5"])
    assert spikes.max() > 0, "the cell should fire"
    assert max(diffs.values()) < TOLERANCE_MV, diffs


def test_one_point_soma(dt_model):
    """DendroTweaks turns a one-point soma into a three-point one (a cylinder as long as its
    diameter), as NEURON's Import3d does; the same folder with such a file simulates alike."""
    root, folder = dt_model["root"], dt_model["folder"]
    lines = SWC.splitlines()
    one_point = "\n".join([lines[0]] + [line for line in lines[3:]]) + "\n"
    renumbered = []
    for line in one_point.splitlines():      # ids 4.. become 2..: parents shift alike
        i, kind, x, y, z, r, parent = line.split()
        shift = lambda n: n if int(n) <= 1 else str(int(n) - 2)  # noqa: E731
        renumbered.append(" ".join([shift(i), kind, x, y, z, r, shift(parent)]))
    (folder / "morphology" / "onepoint.swc").write_text("\n".join(renumbered) + "\n")
    config = root / "onepoint.yaml"
    config.write_text("cell:\n  dendrotweaks: cell\n  morphology: onepoint\n"
                      "  biophys: biophys\n  stimuli: step\n")
    try:
        dt = simulate_dendrotweaks(folder, root / "dt_1ps.json", morphology="onepoint")
        cs = simulate_cellsweep(config, root / "cs_1ps.json")
    finally:
        (folder / "morphology" / "onepoint.swc").unlink()
    diffs = compare(dt, cs, "step")
    assert len(diffs) == len(dt_model["built"]["nseg"])
    assert max(diffs.values()) < TOLERANCE_MV, diffs


def test_coefficients_are_parameters(dt_model):
    """A distribution's number (``<param>.<group>.<number>``) can be set: the folder with that
    number changed simulates as cellsweep does with the parameter (on a cell that was first
    evaluated with the defaults, as a campaign's worker re-parameterises it)."""
    root = dt_model["root"]
    changed = root / "changed"
    shutil.copytree(dt_model["folder"], changed)     # with its compiled mechanisms
    bio = json.loads((changed / "biophys" / "biophys.json").read_text())
    bio["metadata"]["name"] = "changed"
    bio["params"]["gbar_Na"]["apical_far"]["parameters"]["slope"] = 3e-4
    bio["params"]["gbar_Na"]["somatic"]["parameters"]["value"] = 0.08
    (changed / "biophys" / "biophys.json").write_text(json.dumps(bio))
    stim = json.loads((changed / "stimuli" / "step" / "config.json").read_text())
    stim["metadata"]["name"] = "changed"
    (changed / "stimuli" / "step" / "config.json").write_text(json.dumps(stim))
    dt = simulate_dendrotweaks(changed, root / "dt_changed.json")
    cs = simulate_cellsweep(dt_model["config"], root / "cs_changed.json",
                            {"gbar_Na.apical_far.slope": 3e-4, "gbar_Na.somatic": 0.08},
                            "after-defaults")
    diffs = compare(dt, cs, "step")
    assert max(diffs.values()) < TOLERANCE_MV, diffs
    assert max(compare(dt_model["dt"], cs, "step").values()) > 1e-3   # it did change


@pytest.mark.parametrize("edit, message", [
    (lambda b: b["params"]["gbar_Na"].__setitem__("thin", "inherit"),
     "params.gbar_Na.thin: distribution 'inherit'"),
    (lambda b: b["groups"][-1].__setitem__("select_by", "section_length"),
     "select_by: selector 'section_length' is not supported"),
    (lambda b: b["params"]["gbar_Na"].__setitem__(
        "all", b["params"]["gbar_Na"].pop("all")),
     "params.gbar_Na: group 'somatic' comes before a broader group"),
    (lambda b: b["params"]["cm"].__setitem__(
        "all", {"function": "linear", "parameters": {"slope": 1e-3, "intercept": 1}}),
     "params.cm.all: cm with a linear"),
    (lambda b: b["params"]["gbar_Kv"]["apical"]["parameters"].__setitem__("slope", 1),
     "params.gbar_Kv.apical.parameters.slope"),
    (lambda b: b["params"].__setitem__(
        "gbar_Foo", {"all": {"function": "constant", "parameters": {"value": 1}}}),
     "bad.json: params.gbar_Foo.all: unknown variable 'gbar_Foo'"),    # found by cellsweep's
])                                                                  # reader, pointed back
def test_bad_biophys_refused(dt_model, tmp_path, edit, message):
    bio = json.loads((dt_model["folder"] / "biophys" / "biophys.json").read_text())
    edit(bio)
    (dt_model["folder"] / "biophys" / "bad.json").write_text(json.dumps(bio))
    config = dt_model["root"] / "bad.yaml"
    config.write_text("cell:\n  dendrotweaks: cell\n  biophys: bad\n  morphology: cell\n")
    try:
        with pytest.raises(ConfigError) as err:
            load_model(config)
    finally:
        (dt_model["folder"] / "biophys" / "bad.json").unlink()
    text = str(err.value)
    assert message in text, text
    assert all(line.count("bad.json") == 1 for line in text.splitlines()), text


def test_import_command_writes_a_config(dt_model):
    from click.testing import CliRunner

    from cellsweep.launch.cli import main

    root = dt_model["root"]
    out = root / "configs" / "imported.yaml"
    run = CliRunner().invoke(main, ["import-dendrotweaks", str(dt_model["folder"]), "-o",
                                    str(out), "--stimuli", "step"])
    assert run.exit_code == 0, run.output
    text = out.read_text()
    assert "dendrotweaks: ../cell" in text and "#   gbar_Na.apical_far.slope: 0.0001" in text
    model, _ = load_model(out)
    reference, _ = load_model(dt_model["config"])
    assert model.parameters == reference.parameters
    again = CliRunner().invoke(main, ["import-dendrotweaks", str(dt_model["folder"]), "-o",
                                      str(out)])
    assert again.exit_code == 2 and "exists; choose another name" in again.output


def test_freeing_must_keep_the_groups_order(dt_model):
    """gbar_Na's groups apical_far then thin may overlap: freeing only the first would make
    cellsweep apply it after the second (fixed before free)."""
    config = dt_model["root"] / "freed.yaml"
    config.write_text(yaml.safe_dump({"cell": {"dendrotweaks": "cell", "free": {
        "gbar_Na.apical_far": {"low": 0.5, "high": 2}}}}))
    with pytest.raises(ConfigError) as err:
        load_model(config)
    assert str(err.value).splitlines() == [
        f"{config}: cell.free.gbar_Na.apical_far: cellsweep would apply the groups of gbar_Na "
        "in the order gbar_Na.thin, gbar_Na.apical_far (cell.fixed before cell.free), "
        "DendroTweaks in gbar_Na.apical_far, gbar_Na.thin; free the later groups too, or none"]
    config.write_text(yaml.safe_dump({"cell": {"dendrotweaks": "cell", "free": {
        "gbar_Na.apical_far": {"low": 0.5, "high": 2}, "gbar_Na.thin": {"low": 0.5, "high": 2},
        "gbar_Na.apical_far.slope": {"low": 0, "high": 1e-3}}}}))
    model, _ = load_model(config)
    assert [p.name for p in model.free_parameters] == [
        "gbar_Na.apical_far.slope", "gbar_Na.apical_far", "gbar_Na.thin"]


def test_bad_folder_refused(dt_model, tmp_path):
    folder = tmp_path / "other"
    shutil.copytree(dt_model["folder"], folder, ignore=shutil.ignore_patterns("x86_64"))
    (folder / "stimuli" / "step" / "iclamps.csv").write_text("sec_idx,loc,amp,delay,dur\n"
                                                            "99,0.5,0.1,1,1\n0,1,0.1,1,1\n")
    (folder / "biophys" / "mod" / "Kv.mod").unlink()
    (folder / "morphology" / "cell.swc").write_text(SWC.replace("5 3 0 -50 0", "5 3 0 -10 0"))
    config = tmp_path / "m.yaml"
    config.write_text(yaml.safe_dump({"cell": {"dendrotweaks": "other"},
                                      "protocols": {}}))
    with pytest.raises(ConfigError) as err:
        load_model(config)
    text = str(err.value)
    assert "protocols: cannot be combined with cell.dendrotweaks" in text
    config.write_text(yaml.safe_dump({"cell": {"dendrotweaks": "other", "biophys": "biophys"}}))
    with pytest.raises(ConfigError) as err:
        load_model(config)
    text = str(err.value)
    assert "point 5 lies on its parent 4; DendroTweaks removes such points" in text, text
    (folder / "morphology" / "cell.swc").write_text(SWC)
    with pytest.raises(ConfigError) as err:
        load_model(config)
    text = str(err.value)
    assert "iclamps.csv:2: sec_idx 99: the cell has sections 0-" in text, text
    assert "iclamps.csv:3: loc 1: expected 0 < loc < 1" in text, text
    assert "domains.soma" in text and "Kv.mod not found" in text, text
    # no Default/ beside this copy: DendroTweaks would take its own Leak.mod, cellsweep cannot
    assert f"domains.apic[1]: mechanism 'Leak': DendroTweaks takes it from " \
           f"{tmp_path / 'Default' / 'Leak.mod'}, not found; copy DendroTweaks' own Leak.mod " \
           "there (the dendrotweaks package's biophys/default_mod/Leak.mod" in text, text
    assert text.count("Leak.mod, not found") == 1, text     # once, not once per domain
    assert "Traceback" not in text


READ_MECHANISMS_DIR = """
import sys
from cellsweep.cells.loader import load_model
print(load_model(sys.argv[1])[0].cell.mechanisms_dir)
"""


def workspace(dt_model, root: Path) -> Path:
    """A copy of the fixture's DendroTweaks workspace (the folder beside its Default/), without
    what DendroTweaks compiled; returns the config reading it."""
    ignore = shutil.ignore_patterns("x86_64", "Na", "Kv", "Leak")
    shutil.copytree(dt_model["folder"], root / "cell", ignore=ignore)
    shutil.copytree(dt_model["root"] / "Default", root / "Default", ignore=ignore)
    config = root / "model.yaml"
    config.write_text(dt_model["config"].read_text())
    return config


def test_mechanisms_from_default_gathered_in_the_cache(dt_model, tmp_path, monkeypatch):
    """The folder's Leak comes from the shared Default/ (nothing copied into biophys/mod):
    cellsweep's one mechanisms folder is biophys/mod's files plus Default/Leak.mod, in the
    cache, the same folder for every read of the same files (concurrent processes too), with
    the content hash a folder holding the three files has."""
    from cellsweep.cells.mechanisms import content_hash, mod_files

    cache = tmp_path / "cache"
    monkeypatch.setenv("CELLSWEEP_CACHE", str(cache))
    config = workspace(dt_model, tmp_path / "ws")
    folder, default = tmp_path / "ws" / "cell", tmp_path / "ws" / "Default"
    for name in ("AMPA.mod", "CaDyn.mod"):        # DendroTweaks' others: not used, not taken
        shutil.copyfile(dendrotweaks_leak().with_name(name), default / name)
    assert sorted(p.name for p in mod_files(folder / "biophys" / "mod")) == ["Kv.mod", "Na.mod"]
    readers = [subprocess.Popen([sys.executable, "-c", READ_MECHANISMS_DIR, str(config)],
                                env=dict(os.environ, NEURON_INIT_MPI="0"),
                                stdout=subprocess.PIPE, text=True) for _ in range(4)]
    printed = {r.communicate(timeout=120)[0].strip() for r in readers}
    assert all(r.returncode == 0 for r in readers)
    first = load_model(config)[0].cell.mechanisms_dir
    assert printed == {str(first)} and load_model(config)[0].cell.mechanisms_dir == first
    assert first.parent == cache / "mod"
    assert sorted(p.name for p in (cache / "mod").iterdir()) == [first.name, first.name + ".lock"]
    sources = {"Kv.mod": folder / "biophys" / "mod" / "Kv.mod",
               "Na.mod": folder / "biophys" / "mod" / "Na.mod", "Leak.mod": default / "Leak.mod"}
    assert {p.name: p.read_bytes() for p in mod_files(first)} == \
        {name: path.read_bytes() for name, path in sources.items()}
    copied = tmp_path / "copied"
    copied.mkdir()
    for name, path in sources.items():
        shutil.copyfile(path, copied / name)
    assert content_hash(first) == content_hash(copied)     # the campaign signature's part
    assert sorted(p.name for p in mod_files(folder / "biophys" / "mod")) == ["Kv.mod", "Na.mod"]

    # the same Leak.mod in biophys/mod too: DendroTweaks ignores it; the same folder
    shutil.copyfile(default / "Leak.mod", folder / "biophys" / "mod" / "Leak.mod")
    assert load_model(config)[0].cell.mechanisms_dir == first
    # a different one (or another file of SUFFIX Leak) is refused naming both files
    (folder / "biophys" / "mod" / "Leak.mod").write_text(
        dendrotweaks_leak().read_text().replace("e = -70", "e = -60"))
    shutil.copyfile(default / "Leak.mod", folder / "biophys" / "mod" / "leak2.mod")
    with pytest.raises(ConfigError) as err:
        load_model(config)
    assert str(err.value).splitlines() == [
        f"{folder / 'biophys' / 'mod' / name}: mechanism 'Leak' in {name}: DendroTweaks inserts "
        f"Leak from {default / 'Leak.mod'} and never reads this file; remove it or make it "
        "equal to that one" for name in ("Leak.mod", "leak2.mod")]
    (folder / "biophys" / "mod" / "leak2.mod").unlink()
    (folder / "biophys" / "mod" / "Leak.mod").unlink()
    # CaDyn in a domain: taken from Default/ too
    bio = json.loads((folder / "biophys" / "biophys.json").read_text())
    bio["domains"]["soma"].append("CaDyn")
    (folder / "biophys" / "withca.json").write_text(json.dumps(bio))
    (tmp_path / "ws" / "withca.yaml").write_text("cell: {dendrotweaks: cell, biophys: withca}\n")
    with_ca = load_model(tmp_path / "ws" / "withca.yaml")[0]
    assert sorted(p.name for p in mod_files(with_ca.cell.mechanisms_dir)) == [
        "CaDyn.mod", "Kv.mod", "Leak.mod", "Na.mod"]
    assert ("somatic", ("Kv", "Leak", "Na", "CaDyn")) in with_ca.cell.insert
    # a Default/Leak.mod that is not DendroTweaks' Leak channel
    (default / "Leak.mod").write_text(dendrotweaks_leak().read_text().replace(
        "SUFFIX Leak", "SUFFIX Leak2"))
    with pytest.raises(ConfigError) as err:
        load_model(config)
    assert f"biophys.json: domains.apic[1]: mechanism 'Leak': {default / 'Leak.mod'} defines " \
           "the density mechanism 'Leak2'; DendroTweaks inserts Leak from that file" \
           in str(err.value), str(err.value)


# -- the other way: a cellsweep model written as a DendroTweaks folder ------------------------
EXPORT_CONFIG = """
cell:
  name: written
  morphology: cell.swc
  mechanisms_dir: mod
  range_variables: where_inserted
  insert:
    all: [Leak]
    somatic: [Na, Kv]
    basal: [Na, Kv]
    apical: [Na, Kv]
  regions:
    dendrites: {within: [basal, apical]}
    far: {within: [apical], select_by: distance, above: 100, up_to: 230}
    thin: {within: [basal, apical], select_by: diam, up_to: 0.8}
  distributions:
    ramp: {kind: dendrotweaks.linear, slope: 1.0e-4, intercept: 0.005}
    decay: {kind: dendrotweaks.exponential, vertical_shift: 0.01, scale_factor: 0.02,
            growth_rate: -0.01, horizontal_shift: 10}
    bell: {kind: dendrotweaks.gaussian, amplitude: 0.02, mean: 80, std: 40}
    poly: {kind: dendrotweaks.polynomial, coeffs: [1.0e-9, 2.0e-7, 3.0e-4]}
    flat: {kind: uniform}
  fixed:
    celsius: 34
    v_init: -68
    Ra.all: 110
    cm.dendrites: 1.5
    gbar_Leak.all: {value: 1.0, distribution: poly}
    e_Leak.all: -66
    gbar_Na.all: {value: 0.01, distribution: flat}
    gbar_Na.somatic: 0.12
    gbar_Na.far: {value: 1.0, distribution: ramp}
    gbar_Na.thin: {value: 1.0, distribution: bell}
    gbar_Kv.all: 0.03
    gbar_Kv.apical: {value: 1.0, distribution: decay}
    ek.all: -80
  free:
    ramp.slope: {low: 0.0, high: 5.0e-4}
simulation: {cvode: false, dt_ms: 0.025}
protocols:
  step:
    tstop_ms: 40
    stimuli:
      stim: {kind: step, amp_nA: 0.25, delay_ms: 3, duration_ms: 30}
    recordings:
      soma: soma
      apical: "apic[1](0.5)"
      basal: "dend[2](0.25)"
"""


def cellsweep_model(root: Path, text: str = EXPORT_CONFIG) -> Path:
    import dendrotweaks

    (root / "mod").mkdir(parents=True, exist_ok=True)
    (root / "mod" / "Na.mod").write_text(NA)
    (root / "mod" / "Kv.mod").write_text(KV)
    leak = Path(dendrotweaks.__file__).parent / "biophys" / "default_mod" / "Leak.mod"
    shutil.copyfile(leak, root / "mod" / "Leak.mod")
    (root / "Default").mkdir(exist_ok=True)           # DendroTweaks' ../Default, Leak only
    shutil.copyfile(leak, root / "Default" / "Leak.mod")
    (root / "cell.swc").write_text(SWC)
    config = root / "written.yaml"
    config.write_text(text)
    return config


def test_cellsweep_model_written_as_a_folder_simulates_in_dendrotweaks(tmp_path):
    from cellsweep.cells.dendrotweaks_write import write_folder
    from cellsweep.cells.evaluate import full_values

    config = cellsweep_model(tmp_path)
    params = {"ramp.slope": 3e-4, "step.stim.amp_nA": 0.8}
    model, _ = load_model(config, extra_parameters=tuple(params))
    folder = write_folder(model, full_values(model, params), tmp_path / "written")
    bio = json.loads((folder / "biophys" / "biophys.json").read_text())
    assert bio["params"]["gbar_Na"]["far"] == {
        "function": "linear", "parameters": {"slope": 3e-4, "intercept": 0.005}}
    assert sorted(g["name"] for g in bio["groups"]) == ["all", "apical", "dendrites", "far",
                                                        "somatic", "thin"]
    assert list(bio["params"]["gbar_Na"]) == ["all", "somatic", "far", "thin"]   # applied so
    # DendroTweaks takes Leak from ../Default and never reads it from biophys/mod
    assert sorted(p.name for p in (folder / "biophys" / "mod").iterdir()) == ["Kv.mod", "Na.mod"]
    dt = simulate_dendrotweaks(folder, tmp_path / "dt.json", morphology="cell")
    cs = simulate_cellsweep(config, tmp_path / "cs.json", params)["step"]
    # recorded where cellsweep records (DendroTweaks names a segment by its centre)
    assert [k.split(":")[0] for k in dt["v"]] == [
        "0", str(dt_index(folder, "apic[1]")), str(dt_index(folder, "dend[2]"))]
    for (name, (t, v)), values in zip(cs.items(), dt["v"].values()):
        assert np.array_equal(t, dt["t"])
        assert np.max(np.abs(np.asarray(v) - np.asarray(values))) < TOLERANCE_MV, name
    assert np.max(dt["v"]["0:0.5"]) > 0


def dt_index(folder: Path, name: str) -> int:
    from cellsweep.cells.dendrotweaks_folder import _Morphology
    from cellsweep.cells.schema import Problems

    return _Morphology(folder / "morphology" / "cell.swc", Problems("x")).names.index(name)


@pytest.mark.parametrize("edit, message", [
    (("simulation: {cvode: false, dt_ms: 0.025}", "simulation: {cvode: true}"),
     "simulation.cvode: DendroTweaks' NEURON simulator integrates with fixed steps"),
    (("flat: {kind: uniform}", "flat: {kind: linear, slope_per_um: 0.001}"),
     "cell.fixed.gbar_Na.all: distribution 'flat' of kind 'linear' is cellsweep's own formula"),
    (("far: {within: [apical], select_by: distance, above: 100, up_to: 230}",
      "far: {within: apical, min_distance_um: 100}"),
     "cell.fixed.gbar_Na.far: region 'far': a distance region [min, max) has no DendroTweaks"),
    (("gbar_Na.far: {value: 1.0,", "gbar_Na.far: {value: 2.0,"),
     "cell.fixed.gbar_Na.far: 2.0 times a dendrotweaks.linear distribution"),
    (('basal: "dend[2](0.25)"', 'basal: {location: {region: basal, distance_um: 20}}'),
     "protocols.step.recordings.basal: location basal@20um"),
])
def test_what_dendrotweaks_cannot_express_is_refused(tmp_path, edit, message):
    from cellsweep.cells.dendrotweaks_write import write_folder

    config = cellsweep_model(tmp_path, EXPORT_CONFIG.replace(*edit))
    model, _ = load_model(config)
    with pytest.raises(ConfigError) as err:
        write_folder(model, model.default_values(), tmp_path / "out")
    assert message in str(err.value), str(err.value)
    assert not (tmp_path / "out").exists()


# -- synapse populations ------------------------------------------------------------------------
BUILD_SYNAPSES = """
import json, sys, warnings
warnings.simplefilter("ignore")
import numpy as np
from dendrotweaks import Model
m = Model(sys.argv[1])
m.load_morphology("cell")
m.add_default_mechanisms()
m.add_mechanism("Na", recompile=False)
m.add_mechanism("Kv", recompile=False)
for domain in ("soma", "dend", "apic", "axon"):
    for mech in ("Leak", "Na", "Kv"):
        m.insert_mechanism(mech, domain)
m.set_param("gbar_Leak", "all", "constant", value=3e-4)
m.set_param("e_Leak", "all", "constant", value=-65)
m.set_param("gbar_Na", "all", "constant", value=0.05)
m.set_param("gbar_Kv", "all", "constant", value=0.036)
m.set_param("ena", "all", "constant", value=50)
m.set_param("ek", "all", "constant", value=-77)
secs = m.sec_tree.sections
np.random.seed(5)            # where the synapses go (DendroTweaks' global RNG; written to the CSV)
apical = [seg for sec in secs if sec.domain_name == "apic" for seg in sec]
basal = [seg for sec in secs if sec.domain_name == "dend" for seg in sec]
m.add_population("exc", apical, 12, "AMPA")
m.update_population_kinetic_params("exc", gmax=0.004, tau_decay=3.0)
m.update_population_input_params("exc", rate=60, noise=1, start=5, end=45, seed=11, weight=1.5)
m.add_population("nmda", basal, 4, "NMDA")
m.update_population_kinetic_params("nmda", gmax=0.003)
m.update_population_input_params("nmda", rate=80, noise=0.3, start=10, end=40, seed=3,
                                 delay=0.5)
m.add_recording(secs[0], 0.5)
for sec in secs[1:]:
    m.add_recording(sec, 0.5)
m.simulator.temperature = 37
m.simulator._duration = 50
m.export_biophys("biophys")
m.export_stimuli("syn")
"""


def dendrotweaks_default(name: str) -> Path:
    return dendrotweaks_leak().parent / name


@pytest.fixture(scope="module")
def syn_model(tmp_path_factory):
    """A folder with an AMPA and an NMDA population (seeded), built and simulated by
    DendroTweaks; the Default/ files its synapses use, from the installed package."""
    root = tmp_path_factory.mktemp("dendrotweaks_syn")
    folder = new_folder(root)
    for name in ("AMPA.mod", "NMDA.mod", "vecstim.mod"):
        shutil.copyfile(dendrotweaks_default(name), root / "Default" / name)
    (folder / "morphology" / "cell.swc").write_text(SWC)
    run_python(BUILD_SYNAPSES, folder, cwd=root)
    traces = simulate_dendrotweaks(folder, root / "dt.json", stimuli="syn")
    config = root / "model.yaml"
    config.write_text("cell:\n  dendrotweaks: cell\n  morphology: cell\n  biophys: biophys\n"
                      "  stimuli: syn\n")
    return {"root": root, "folder": folder, "dt": traces, "config": config}


def test_synapse_populations_simulate_as_in_dendrotweaks(syn_model):
    """Each population's seeded trains, drawn as DendroTweaks draws them, played by VecStim
    to DendroTweaks' own AMPA (Poisson trains) and NMDA (jittered regular trains): the soma
    and every section's traces are DendroTweaks'."""
    rows = (syn_model["folder"] / "stimuli" / "syn" / "synapses.csv").read_text().split()[1:]
    assert len(rows) == 16 and all(0 < float(r.split(",")[1]) < 1 for r in rows)
    model, data = load_model(syn_model["config"])
    stimuli = data["protocols"]["syn"]["stimuli"]
    assert set(stimuli) == {"exc", "nmda"}
    exc = stimuli["exc"]
    assert exc["synapse"] == "AMPA" and exc["synapse_params"]["gmax"] == 0.004
    assert exc["weight_uS"] == 1.5 and len(exc["spike_times_ms"]) == 12
    assert sum(map(len, exc["spike_times_ms"])) > 12            # a train per synapse
    assert all(5 <= t <= 45 for train in exc["spike_times_ms"] for t in train)
    cs = simulate_cellsweep(syn_model["config"], syn_model["root"] / "cs.json")
    dt = syn_model["dt"]
    diffs = compare(dt, cs, "syn")
    assert len(diffs) == len(dt["nseg"]) and max(diffs.values()) < TOLERANCE_MV, diffs
    soma = np.asarray(dt["v"]["0:0.5"])
    assert soma.max() > 0, "the synapses should make the cell fire"


def test_population_refusals(syn_model, tmp_path):
    """An unseeded population (DendroTweaks' default) cannot be reproduced: refused, naming
    the key and why; so are what cellsweep cannot read of a population."""
    folder = syn_model["folder"]
    config_json = folder / "stimuli" / "syn" / "config.json"
    original = config_json.read_text()
    cases = [
        (lambda d: d["stimuli"]["populations"]["exc"]["input_params"].__setitem__("seed", None),
         "stimuli.populations.exc.input_params.seed: null: DendroTweaks then draws"),
        (lambda d: d["stimuli"]["populations"]["nmda"].__setitem__("N", 5),
         "stimuli.populations.nmda.N: 5 synapses, but"),
        (lambda d: d["stimuli"]["populations"]["nmda"]["kinetic_params"].pop("mu"),
         "stimuli.populations.nmda.kinetic_params: missing mu"),
        (lambda d: d["stimuli"]["populations"].pop("nmda"),
         "pop_idx 1: no population"),
    ]
    try:
        for edit, message in cases:
            data = json.loads(original)
            edit(data)
            config_json.write_text(json.dumps(data))
            with pytest.raises(ConfigError) as err:
                load_model(syn_model["config"])
            assert message in str(err.value), str(err.value)
            assert len(str(err.value).splitlines()) == 1, str(err.value)
    finally:
        config_json.write_text(original)


GIVEN = {"kind": "synapses", "synapse": "ExpSyn", "weight_uS": 0.001, "locations": ["soma"]}
SPIKE_TIME_CASES = {
    "a NetStim key": ({"spike_times_ms": [5, 10], "number": 3},
                      "stimuli.syn.number: not with spike_times_ms"),
    "one list per location": ({"spike_times_ms": [[5], [6]]}, "2 lists for 1 locations"),
    "decreasing": ({"spike_times_ms": [10, 5]}, "spike_times_ms: times must not decrease"),
    "no VecStim": ({"spike_times_ms": [5, 10]},
                   "spike_times_ms: given event times are delivered by VecStim, an artificial "
                   "cell that mechanisms_dir does not define"),
}


@pytest.mark.parametrize("case", sorted(SPIKE_TIME_CASES))
def test_bad_spike_times(example_dir, case):
    """``spike_times_ms`` (the general form a population is read into) refused up front, by
    ``validate`` and ``run`` alike."""
    from tests.launch.test_validate_equals_run import check

    tmp_path, data = example_dir
    data["run"]["output"] = "out.h5"
    extra, expected = SPIKE_TIME_CASES[case]
    data["protocols"]["step_pos"]["stimuli"]["syn"] = {**GIVEN, **extra}
    check(tmp_path, data, expected)


def test_spike_times_shared_by_every_location(example_dir, repo):
    tmp_path, data = example_dir
    mods = tmp_path / "mods"
    shutil.copytree(repo / "mechanisms" / "example", mods)
    shutil.copyfile(dendrotweaks_default("vecstim.mod"), mods / "vecstim.mod")
    data["cell"]["mechanisms_dir"] = str(mods)
    data["protocols"]["step_pos"]["stimuli"]["syn"] = {
        **GIVEN, "locations": ["soma", "soma"], "spike_times_ms": [5, 10.5]}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(data))
    model, _ = load_model(tmp_path / "c.yaml")
    protocol = next(p for p in model.protocols if p.name == "step_pos")
    syn = next(s for s in protocol.stimuli if s.name == "syn")
    assert syn.spike_times == ((5.0, 10.5), (5.0, 10.5))
    assert dict(syn.values) == {"weight_uS": 0.001, "netcon_delay_ms": 0.0}


def test_populations_are_not_written_back(syn_model, tmp_path):
    """DendroTweaks draws a population's trains itself: given spike times cannot go back."""
    from cellsweep.cells.dendrotweaks_write import write_folder

    model, _ = load_model(syn_model["config"])
    with pytest.raises(ConfigError) as err:
        write_folder(model, model.default_values(), tmp_path / "out")
    assert "protocols.syn.stimuli.exc: a synapses stimulus: a DendroTweaks population holds " \
           "only rate, noise, start, end and seed" in str(err.value), str(err.value)
    assert not (tmp_path / "out").exists()


def test_given_spike_times_equal_a_regular_netstim(repo, tmp_path):
    """``spike_times_ms`` through VecStim (tests/data/dendrotweaks' own vecstim.mod) delivers
    exactly the events a regular NetStim would: the traces are equal sample for sample. In its
    own process: this model's mechanism set need not be the one this process holds."""
    out = tmp_path / "traces.json"
    run_python(SIMULATE_CS, repo / "tests" / "data" / "dendrotweaks" / "given_spikes.yaml", out,
               "{}")
    traces = json.loads(out.read_text())
    (t1, given), (t2, netstim) = ([np.array(a) for a in traces[p]["soma"]]
                                  for p in ("given", "netstim"))
    assert np.array_equal(t1, t2) and np.array_equal(given, netstim)
    assert given.max() - given[0] > 1            # the events arrived
