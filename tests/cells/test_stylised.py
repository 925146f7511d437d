"""Stylised cells (``cell.sections``): exact geometry, the same traces as a plain NEURON script,
L and diam as parameters, and one clear line per bad config."""

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from cellsweep.cells.config import model_from_dict
from cellsweep.cells.errors import ConfigError
from cellsweep.cells.evaluate import current_cell, evaluate
from cellsweep.launch.cli import main

pytestmark = pytest.mark.neuron


@pytest.fixture(scope="module")
def tutorial(repo):
    path = repo / "configs" / "tutorials" / "ball_and_stick.yaml"
    return yaml.safe_load(path.read_text()), path.parent


def _model(data, base, edit=None):
    data = copy.deepcopy(data)
    data.pop("convergence", None)
    data.pop("run", None)
    if edit:
        edit(data)
    return model_from_dict(data, source="bs.yaml", base_dir=base)


def test_geometry_is_exact_and_the_template_lists_hold_the_sections(tutorial):
    model = _model(*tutorial)
    assert evaluate(model, {}).status == "ok"
    cell = current_cell()
    soma = cell.icell.soma[0]
    assert soma.L == 12.6157 and soma.diam == 12.6157 and soma.n3d() == 0
    assert soma(0.5).area() == pytest.approx(500.0029638, abs=5e-8)
    dend = cell.icell.dend[0]
    assert dend.parentseg().sec == soma and dend.parentseg().x == 1.0
    assert [s.name().rsplit(".", 1)[-1] for s in cell.icell.basal] == ["dend[0]"]
    assert cell.distance(dend(1)) == pytest.approx(12.6157 / 2 + 200)


PLAIN = """
import json, sys
from neuron import h
h.load_file("stdrun.hoc")
soma, dend = h.Section(name="soma"), h.Section(name="dend")
dend.connect(soma(1))
soma.L = soma.diam = 12.6157
dend.L, dend.diam, dend.nseg = 200, 1, int(sys.argv[1])
for s in (soma, dend):
    s.Ra, s.cm = 100, 1
soma.insert("hh")
soma.gnabar_hh, soma.gkbar_hh, soma.gl_hh, soma.el_hh = 0.12, 0.036, 0.0003, -54.3
dend.insert("pas")
dend.g_pas, dend.e_pas = 0.001, -65
stim = h.IClamp(dend(1))
stim.delay, stim.dur, stim.amp = 5, 1, float(sys.argv[2])
v, dv = h.Vector().record(soma(0.5)._ref_v), h.Vector().record(dend(0.5)._ref_v)
h.tstop = 25
h.run()
print(json.dumps([list(v), list(dv)]))
"""


def test_traces_equal_the_tutorials_plain_script_bit_for_bit(tutorial):
    """h.run() with the tutorial's settings vs cellsweep's psolve on the stylised cell."""
    model = _model(*tutorial, edit=lambda d: d["cell"].update(
        free={"nseg.basal": {"low": 1, "high": 101},
              "pulse.stim.amp_nA": {"low": 0.0, "high": 1.0}}))
    for nseg, amp in ((11, 0.3), (1, 0.15)):
        result = evaluate(model, {"nseg.basal": nseg, "pulse.stim.amp_nA": amp}, traces=True)
        proc = subprocess.run([sys.executable, "-c", PLAIN, str(nseg), repr(amp)],
                              capture_output=True, text=True, check=True)
        soma, dend = json.loads(proc.stdout.strip().splitlines()[-1])
        traces = result.traces["pulse"]
        assert np.array_equal(traces["soma"][1], soma)
        assert np.array_equal(traces["dend"][1], dend)


def test_arrays_chains_tapers_and_named_regions(tutorial):
    def edit(d):
        d["cell"]["sections"] = [
            {"name": "soma", "L": 20, "diam": 20},
            {"name": "dend", "L": 50, "diam": [2, 1], "count": 3, "chain": True,
             "parent": "soma(0)", "region": "trunk", "nseg": 5},
            {"name": "dend", "L": 30, "diam": 0.5, "count": 2, "parent": "dend[2](1)"},
            {"name": "apic", "L": 100, "diam": 1},
        ]
        d["cell"]["insert"] = {"somatic": ["hh"], "basal": ["pas"], "apical": ["pas"]}
        d["cell"]["fixed"].update({"g_pas.trunk": 0.002, "g_pas.apical": 0.001,
                                   "e_pas.apical": -65})
        d["protocols"]["pulse"]["recordings"]["tip"] = "dend[4](1)"
    model = _model(*tutorial, edit=edit)
    assert evaluate(model, {}).status == "ok"
    cell = current_cell()
    icell = cell.icell
    parents = {f"dend[{i}]": icell.dend[i].parentseg() for i in range(5)}
    assert parents["dend[0]"].sec == icell.soma[0] and parents["dend[0]"].x == 0.0
    assert parents["dend[1]"].sec == icell.dend[0] and parents["dend[2]"].sec == icell.dend[1]
    assert parents["dend[3]"].sec == icell.dend[2] and parents["dend[4]"].sec == icell.dend[2]
    assert [seg.diam for seg in icell.dend[0]] == pytest.approx([1.9, 1.7, 1.5, 1.3, 1.1])
    assert icell.dend[0].nseg == 5 and icell.dend[0](0.5).g_pas == 0.002
    assert icell.dend[3](0.5).g_pas == 0.001
    assert len(cell.regions["trunk"]) == 3 and len(cell.regions["basal"]) == 5
    assert cell.distance(icell.dend[4](1)) == pytest.approx(10 + 150 + 30)


def test_length_and_diameter_parameters_redo_the_discretisation(tutorial):
    model = _model(*tutorial, edit=lambda d: d["cell"].update(
        free={"L.basal": {"low": 50, "high": 2000}, "diam.dend[0]": {"low": 0.5, "high": 4}}))
    assert {p.name: p.units for p in model.free_parameters} == {"L.basal": "um",
                                                                "diam.dend[0]": "um"}
    short = evaluate(model, {"L.basal": 50, "diam.dend[0]": 1})
    long = evaluate(model, {"L.basal": 2000, "diam.dend[0]": 1})
    assert long.nseg["basal"] > short.nseg["basal"]
    cell = current_cell()
    assert cell.icell.dend[0].L == 2000
    evaluate(model, {"L.basal": 200, "diam.dend[0]": 2.5})
    assert cell.icell.dend[0].L == 200 and cell.icell.dend[0].diam == 2.5
    assert cell.distance(cell.icell.dend[0](1)) == pytest.approx(12.6157 / 2 + 200)


def _sections(*entries):
    return lambda d: d["cell"].update(sections=list(entries))


SOMA = {"name": "soma", "L": 10, "diam": 10}
BAD = {
    "unknown parent": (_sections(SOMA, {"name": "dend", "L": 10, "diam": 1,
                                        "parent": "apic[0](1)"}),
                       "cell.sections[1].parent: unknown parent section 'apic[0]'"),
    "cycle": (_sections(SOMA, {"name": "dend", "L": 10, "diam": 1, "parent": "dend[1](1)"},
                        {"name": "dend", "L": 10, "diam": 1, "parent": "dend[0](1)"}),
              "the parents form a cycle (dend[0] -> dend[1] -> dend[0])"),
    "L <= 0": (_sections(SOMA, {"name": "dend", "L": 0, "diam": 1}),
               "cell.sections[1].L: expected a value > 0, found 0"),
    "diam <= 0": (_sections(SOMA, {"name": "dend", "L": 10, "diam": [1, -1]}),
                  "cell.sections[1].diam[1]: expected a value > 0, found -1"),
    "morphology and sections": (lambda d: d["cell"].update(morphology="x.swc"),
                                "cell.sections: a cell has either a morphology file or sections"),
    "neither": (lambda d: d["cell"].pop("sections"),
                "cell.morphology: missing required key (or sections: a stylised cell)"),
    "a section in no region": (_sections(SOMA, {"name": "dendrite", "L": 10, "diam": 1}),
                               "cell.sections[1].name: unknown value 'dendrite'; expected one of "
                               "soma, dend, apic, axon, myelin"),
    "wrong base region": (_sections(SOMA, {"name": "dend", "L": 10, "diam": 1,
                                           "region": "apical"}),
                          "cell.sections[1].region: dend sections belong to basal"),
    "no soma": (_sections({"name": "dend", "L": 10, "diam": 1}),
                "cell.sections: no soma section"),
    "euclidean distance": (
        lambda d: d["cell"].update(distributions={"far": {"kind": "linear", "slope_per_um": 0.01,
                                                          "distance": "euclidean"}}),
        "cell.distributions.far.distance: a stylised cell has no 3-D points"),
    "L of a morphology cell": (
        lambda d: (d["cell"].pop("sections"), d["cell"].update(morphology="../example/"
                                                               "example_pyramid.swc"),
                   d["cell"]["fixed"].update({"L.all": 10})),
        "cell.fixed['L.all']: L.<region> is a parameter of stylised cells"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_stylised_configs_give_one_clear_line(tutorial, case):
    edit, expected = BAD[case]
    with pytest.raises(ConfigError) as info:
        _model(*tutorial, edit=edit)
    lines = str(info.value).splitlines()
    assert len(lines) == 1, lines
    assert expected in lines[0], lines[0]


@pytest.mark.parametrize("location", ["dend[3](1)", "apic[0](0.5)"])
def test_validate_refuses_a_location_on_a_missing_section(tutorial, tmp_path, location):
    data, base = tutorial
    data = copy.deepcopy(data)
    data["protocols"]["pulse"]["stimuli"]["stim"]["location"] = location
    data.pop("convergence", None)
    data.pop("run", None)
    config = tmp_path / "bad.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(main, ["validate", str(config)], catch_exceptions=False)
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "protocols.pulse.stimuli.stim.location" in errors[0], errors
    assert "no such section in cell.sections" in errors[0]
