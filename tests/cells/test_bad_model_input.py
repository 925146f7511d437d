"""Bad model input that used to pass ``validate`` (or fail obscurely) is refused up front:
a .mod file that does not compile, synapse parameters that do not exist, a synapse that is no
synapse, a recording of a mechanism not inserted there, and a morphology that leaves a region
empty. Each through ``validate`` and ``run`` (same exit status 2, same lines, nothing written).
"""

import copy
import os
import shutil

import pytest
import yaml
from click.testing import CliRunner

from cellsweep.cells import mechanisms as M
from cellsweep.launch.cli import main
from tests.launch.test_validate_equals_run import check

SYN = {"kind": "synapses", "start_ms": 10, "interval_ms": 5, "number": 3, "weight_uS": 0.001,
       "locations": ["soma"]}

# a point process of one's own: GLOBAL tau, RANGE e/g, receives events
GSYN = """NEURON { POINT_PROCESS GSyn RANGE e, i, g  NONSPECIFIC_CURRENT i  GLOBAL tau }
PARAMETER { tau = 2 (ms) e = 0 (mV) }
ASSIGNED { v (mV) i (nA) }
STATE { g (uS) }
INITIAL { g = 0 }
BREAKPOINT { SOLVE st METHOD cnexp  i = g*(v - e) }
DERIVATIVE st { g' = -g/tau }
NET_RECEIVE(w (uS)) { g = g + w }
"""
CLAMP = """NEURON { POINT_PROCESS MyClamp RANGE amp  ELECTRODE_CURRENT i }
PARAMETER { amp = 0 (nA) }
ASSIGNED { i (nA) }
BREAKPOINT { i = -amp }
"""

SOMA_ONLY = "1 1 0 0 0 10 -1\n2 1 0 -10 0 10 1\n3 1 0 10 0 10 1\n"


@pytest.fixture()
def example(example_dir):
    tmp_path, data = example_dir
    data["run"]["output"] = "out.h5"
    return tmp_path, copy.deepcopy(data)


def _with_synapse(data, **extra):
    data["protocols"]["step_pos"]["stimuli"]["syn"] = {**SYN, **extra}
    return data


def _custom_mechanisms(tmp_path, repo):
    mods = tmp_path / "mods"
    shutil.copytree(repo / "mechanisms" / "example", mods)
    (mods / "gsyn.mod").write_text(GSYN)
    (mods / "myclamp.mod").write_text(CLAMP)
    return mods


# -- synapses ------------------------------------------------------------------------------------
SYNAPSE_CASES = {
    "unknown parameter of a built-in synapse": (
        {"synapse": "Exp2Syn", "synapse_params": {"tau9": 1}},
        "protocols.step_pos.stimuli.syn.synapse_params.tau9: Exp2Syn has no parameter 'tau9'; "
        "expected one of tau1, tau2, e"),
    "ExpSyn has no tau1": (
        {"synapse": "ExpSyn", "synapse_params": {"tau1": 1}},
        "synapse_params.tau1: ExpSyn has no parameter 'tau1'; expected one of tau, e"),
    "a current clamp as synapse": (
        {"synapse": "IClamp"},
        "protocols.step_pos.stimuli.syn.synapse: IClamp is not a synapse: it has no NET_RECEIVE "
        "block, so the stimulus's NetStim events cannot reach it; expected a synapse: one of "
        "Exp2Syn, ExpSyn"),
    "an artificial cell as synapse": (
        {"synapse": "NetStim"},
        "protocols.step_pos.stimuli.syn.synapse: NetStim is an artificial cell"),
    "a density mechanism as synapse": (
        {"synapse": "na_t"},
        "protocols.step_pos.stimuli.syn.synapse: na_t is a density mechanism (SUFFIX), not a "
        "point process"),
    "misspelt synapse": (
        {"synapse": "Exp2syn"},
        "synapse: unknown point process 'Exp2syn'; expected a synapse: one of Exp2Syn, ExpSyn; "
        "did you mean 'Exp2Syn'?"),
}


@pytest.mark.parametrize("case", sorted(SYNAPSE_CASES))
def test_bad_synapses(example, case):
    tmp_path, data = example
    extra, expected = SYNAPSE_CASES[case]
    check(tmp_path, _with_synapse(data, **extra), expected)


CUSTOM_SYNAPSE_CASES = {
    "a GLOBAL of a .mod synapse": (
        {"synapse": "GSyn", "synapse_params": {"tau": 1}},
        "synapse_params.tau: tau is GLOBAL in gsyn.mod (one value shared by every GSyn), not a "
        "parameter of each synapse; declare it RANGE there to set it here"),
    "a name a .mod synapse lacks": (
        {"synapse": "GSyn", "synapse_params": {"gmax": 1}},
        "synapse_params.gmax: GSyn has no parameter 'gmax'; expected the RANGE variables of "
        "gsyn.mod: e, i, g"),
    "a .mod point process without NET_RECEIVE": (
        {"synapse": "MyClamp"},
        "synapse: MyClamp is not a synapse: myclamp.mod has no NET_RECEIVE block; ".replace(
            "block; ", "block, so the stimulus's NetStim events cannot reach it; expected a "
                       "synapse: one of Exp2Syn, ExpSyn, GSyn")),
}


@pytest.mark.parametrize("case", sorted(CUSTOM_SYNAPSE_CASES))
def test_bad_custom_synapses(example, repo, case):
    """Read from the .mod files before anything is compiled."""
    tmp_path, data = example
    data["cell"]["mechanisms_dir"] = str(_custom_mechanisms(tmp_path, repo))
    extra, expected = CUSTOM_SYNAPSE_CASES[case]
    check(tmp_path, _with_synapse(data, **extra), expected)


def test_good_synapse_parameters_are_accepted(example):
    tmp_path, data = example
    _with_synapse(data, synapse="Exp2Syn", synapse_params={"tau1": 0.5, "tau2": 5, "e": 0})
    config = tmp_path / "good.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(main, ["validate", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output


@pytest.mark.neuron
def test_builtin_point_process_table_matches_neuron():
    os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")
    from neuron import h

    for name, params in M.BUILTIN_POINT_PARAMETERS.items():
        standard = h.MechanismStandard(name, 1)       # 1: PARAMETERs
        ref = h.ref("")
        found = []
        for i in range(int(standard.count())):
            standard.name(ref, i)
            found.append(ref[0])
        assert tuple(found) == params, name
    section = h.Section(name="probe")
    try:
        for name in M.BUILTIN_RECEIVERS:          # a NetCon accepts them as targets
            target = getattr(h, name)(section(0.5))
            assert h.NetCon(None, target) is not None
    finally:
        del section


def test_mod_parsing_knows_synapses(tmp_path, repo):
    mset = M.read_mechanism_set(_custom_mechanisms(tmp_path, repo))
    assert mset.synapses() == ["Exp2Syn", "ExpSyn", "GSyn"]
    gsyn = mset.mechanisms["GSyn"]
    assert gsyn.receives_events and "tau" in gsyn.global_names and "tau" not in gsyn.range_names
    assert not mset.mechanisms["MyClamp"].receives_events


# -- recordings ----------------------------------------------------------------------------------
def test_recording_of_a_mechanism_not_inserted_there(example):
    tmp_path, data = example
    data["protocols"]["step_pos"]["recordings"]["mk"] = {
        "location": {"region": "apical", "distance_um": 300}, "variable": "n_k_m"}
    check(tmp_path, data, "protocols.step_pos.recordings.mk: n_k_m: mechanism k_m is not "
                          "inserted at apical@300um; it is inserted in somatic")


def test_recording_of_a_variable_of_no_mechanism(example):
    tmp_path, data = example
    data["protocols"]["step_pos"]["recordings"]["x"] = {"location": "soma",
                                                        "variable": "zz_nothing"}
    check(tmp_path, data, "protocols.step_pos.recordings.x: variable 'zz_nothing' does not exist "
                          "at soma")


# -- regions the morphology leaves empty ---------------------------------------------------------
def _soma_only(tmp_path, data):
    (tmp_path / "soma_only.swc").write_text(SOMA_ONLY)
    data["cell"]["morphology"] = "soma_only.swc"
    return data


def test_location_in_an_empty_region(example):
    tmp_path, data = example
    check(tmp_path, _soma_only(tmp_path, data),
          "protocols.step_pos.recordings.apical_300: apical@300um: region 'apical' is empty (no "
          "apical sections in soma_only.swc)")


def test_section_of_an_empty_region(example):
    """Indexing a section array the morphology left empty used to abort the whole process."""
    tmp_path, data = example
    _soma_only(tmp_path, data)
    del data["protocols"]["step_pos"]["recordings"]["apical_300"]
    data["features"] = [f for f in data["features"] if f.get("recording") != "apical_300"]
    data["protocols"]["step_pos"]["stimuli"]["step"]["location"] = {"section": "apic[0]"}
    check(tmp_path, data, "protocols.step_pos.stimuli.step.location: apic[0]: no such section in "
                          "soma_only.swc (region 'apical' is empty: it has no apical sections)")


def test_parameters_on_an_empty_region_warn(example):
    tmp_path, data = example
    _soma_only(tmp_path, data)
    del data["protocols"]["step_pos"]["recordings"]["apical_300"]
    data["features"] = [f for f in data["features"] if f.get("recording") != "apical_300"]
    data["sweep"] = {"design": "grid", "parameters": {"gbar_k_m.somatic": {"values": [0.005]}}}
    config = tmp_path / "soma.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    expected = ["warning: soma.yaml: cell: region 'apical' is empty (no apical sections in "
                "soma_only.swc); its parameters cm.apical, gbar_na_t.apical, gbar_k_dr.apical, "
                "gbar_ih.apical have no effect",
                "warning: soma.yaml: cell: region 'axonal' is empty (no axonal sections in "
                "soma_only.swc); its parameters gbar_na_t.axonal, gbar_k_dr.axonal have no effect",
                "warning: soma.yaml: cell: region 'basal' is empty"]
    cwd = os.getcwd()
    os.chdir(tmp_path)        # the source as users name it, and run's output beside it
    try:
        results = [CliRunner().invoke(main, [command, "soma.yaml"], catch_exceptions=False)
                   for command in ("validate", "run")]
    finally:
        os.chdir(cwd)
    for result in results:
        assert result.exit_code == 0, result.output
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 3 and all(w in result.stderr for w in expected), result.stderr


def test_check_before_run_returns_the_warnings(example):
    from cellsweep.cells.loader import load_model
    from cellsweep.launch.checks import check_before_run

    tmp_path, data = example
    _soma_only(tmp_path, data)
    del data["protocols"]["step_pos"]["recordings"]["apical_300"]
    data["features"] = [f for f in data["features"] if f.get("recording") != "apical_300"]
    config = tmp_path / "soma.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    warnings = check_before_run(load_model(config)[0], print_warnings=False)
    assert [w.split("region ")[1].split(" ")[0] for w in warnings] == \
        ["'apical'", "'axonal'", "'basal'"]


# -- mechanisms that do not compile --------------------------------------------------------------
@pytest.fixture(scope="module")
def broken_mechanisms(tmp_path_factory, repo):
    """The example's mechanisms with a syntax error at line 62 of k_m.mod, and a build cache of
    their own (outside every test's directory): (mechanisms dir, cache dir)."""
    base = tmp_path_factory.mktemp("broken")
    mods = base / "mods"
    shutil.copytree(repo / "mechanisms" / "example", mods)
    lines = (mods / "k_m.mod").read_text().splitlines(keepends=True)
    assert lines[61].startswith("BREAKPOINT {")
    lines[61] = lines[61].replace("BREAKPOINT {", "BREAKPOINTX {")
    (mods / "k_m.mod").write_text("".join(lines))
    cache = base / "cache"
    old = os.environ.get("CELLSWEEP_CACHE")
    os.environ["CELLSWEEP_CACHE"] = str(cache)
    yield mods, cache
    if old is None:
        os.environ.pop("CELLSWEEP_CACHE", None)
    else:
        os.environ["CELLSWEEP_CACHE"] = old


@pytest.mark.neuron
@pytest.mark.slow
def test_compile_error_names_the_file_line_and_key(example, broken_mechanisms):
    tmp_path, data = example
    mods, cache = broken_mechanisms
    data["cell"]["mechanisms_dir"] = str(mods)
    log = cache / "mechanisms" / f"{M.content_hash(mods)}.log"
    check(tmp_path, data, ["bad.yaml: cell.mechanisms_dir: k_m.mod:62: Error: Illegal block at "
                           "line 62 in file k_m.mod; nrnivmodl's whole output is in "
                           f"{log}"])
    result = CliRunner().invoke(main, ["validate", str(tmp_path / "bad.yaml")])
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr                 # one line per failing file
    for other in ("ih.mod", "na_t.mod", "k_dr.mod", "nrnivmodl\", line", "NOTE"):
        assert other not in result.stderr
    assert "Illegal block at line 62 in file k_m.mod" in log.read_text()
    assert not list((cache / "mechanisms").glob("*/BUILD_OK"))


@pytest.mark.neuron
@pytest.mark.slow
def test_a_fixed_file_compiles_after_a_failure(example, broken_mechanisms, repo):
    """What the failed build left behind (lock, log) does not stop the fixed set compiling."""
    tmp_path, data = example
    mods, cache = broken_mechanisms
    with pytest.raises(M.CompileError):
        M.build(mods)
    shutil.copy(repo / "mechanisms" / "example" / "k_m.mod", mods / "k_m.mod")
    data["cell"]["mechanisms_dir"] = str(mods)
    config = tmp_path / "fixed.yaml"
    config.write_text(yaml.safe_dump(data, sort_keys=False))
    result = CliRunner().invoke(main, ["validate", str(config)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert (cache / "mechanisms" / M.content_hash(mods) / "BUILD_OK").exists()


# compiler output as NEURON 9 prints it (ANSI colours removed), for the parser alone
CXX_OUTPUT = """ -> NMODL ../mod/ih.mod
Translating ih.mod into /tmp/x/x86_64/ih.cpp
Thread Safe
 -> Compiling /tmp/x/x86_64/ih.cpp
/tmp/x/x86_64/ih.cpp: In function 'double _nrn_current__ih(...)':
/tmp/x/x86_64/ih.cpp:505:11: error: expected primary-expression before ';' token
  505 |   int x = ;
make: *** [makemod2c_inc:7: ih.o] Error 1
"""
TWO_FILES = """Translating k_m.mod into /tmp/x/x86_64/k_m.cpp
syntax error:
 Error: Illegal block at line 62 in file k_m.mod
Translating na_t.mod into /tmp/x/x86_64/na_t.cpp
 Error: Illegal block at line 7 in file na_t.mod
make: *** [makemod2c_inc:19: k_m.cpp] Error 1
make: *** [makemod2c_inc:23: na_t.cpp] Error 1
make: *** [makemod2c_inc:27: k_dr.cpp] Error 1
"""


def test_compile_output_parsing(tmp_path):
    (tmp_path / "ih.mod").write_text("BREAKPOINT {\n  VERBATIM\n  int x = ;\n  ENDVERBATIM\n}\n")
    for name in ("k_m.mod", "na_t.mod", "k_dr.mod"):
        (tmp_path / name).write_text("")
    files = M.mod_files(tmp_path)
    assert M.compile_failures(CXX_OUTPUT, files) == [
        ("ih.mod", 3, "error: expected primary-expression before ';' token [in the C++ code "
                      "translated from it (ih.cpp:505)]")]
    assert M.compile_failures(TWO_FILES, files) == [
        ("k_m.mod", 62, "Error: Illegal block at line 62 in file k_m.mod"),
        ("na_t.mod", 7, "Error: Illegal block at line 7 in file na_t.mod"),
        ("k_dr.mod", None, "nrnivmodl failed while translating it")]
    assert M.compile_failures("something else went wrong\n", files) == [
        ("nrnivmodl", None, "no error line recognised")]
