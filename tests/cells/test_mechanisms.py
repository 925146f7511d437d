"""Mechanism sets: parsing, the built-in table, compile-once caching, compiler errors."""

import subprocess
import sys

import pytest

from cellsweep.cells import mechanisms as M
from cellsweep.cells.errors import MechanismError

GOOD = """NEURON { SUFFIX leaky_test RANGE gbar, e  NONSPECIFIC_CURRENT i }
PARAMETER { gbar = 0.001 (S/cm2) e = -70 (mV) tau = 5 (ms) }
ASSIGNED { v (mV) i (mA/cm2) }
BREAKPOINT { i = gbar*(v - e) }
"""


def test_example_set_is_parsed(repo):
    mset = M.read_mechanism_set(repo / "mechanisms" / "example")
    density = mset.density()
    assert {"na_t", "k_dr", "k_m", "ih", "pas", "hh"} <= set(density)
    rv = mset.range_variables()
    assert rv["gbar_na_t"] == "na_t" and rv["ena"] == "na_ion" and rv["gbar_ih"] == "ih"
    assert "q10_na_t" in mset.global_variables()


def test_non_range_parameters_are_globals(tmp_path):
    (tmp_path / "leaky.mod").write_text(GOOD)
    mech = M.parse_mod(tmp_path / "leaky.mod")
    assert mech.name == "leaky_test" and mech.kind == "density"
    assert set(mech.range_names) >= {"gbar", "e", "i"} and "tau" in mech.global_names


def test_duplicate_suffix_is_an_error(tmp_path):
    (tmp_path / "a.mod").write_text(GOOD)
    (tmp_path / "b.mod").write_text(GOOD)
    with pytest.raises(MechanismError, match="already defined by a.mod"):
        M.read_mechanism_set(tmp_path)


@pytest.mark.neuron
def test_builtin_table_matches_neuron():
    from neuron import h

    sec = h.Section(name="builtin_probe")
    for name, table in M.BUILTIN_DENSITY.items():
        if name == "extracellular":
            continue
        sec.insert(name)
        for var in table["range"]:
            assert hasattr(sec(0.5), f"{var}_{name}"), f"{var}_{name}"
    for ion in ("na", "k"):                          # hh uses both ions
        for var in M.ION_VARIABLES[ion]:
            assert hasattr(sec(0.5), var), var
    for point in M.BUILTIN_POINT:
        assert hasattr(h, point), point
    del sec                                          # a leftover section would be simulated


@pytest.mark.neuron
def test_build_is_cached_by_content(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLSWEEP_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "mods"
    src.mkdir()
    (src / "leaky.mod").write_text(GOOD)
    first = M.build(src)
    assert (first / "BUILD_OK").exists() and M._library(first) is not None
    assert not any(p.is_dir() for p in src.iterdir()), "nothing may be built in the source folder"
    mtime = (first / "BUILD_OK").stat().st_mtime_ns
    assert M.build(src) == first and (first / "BUILD_OK").stat().st_mtime_ns == mtime
    (src / "leaky.mod").write_text(GOOD.replace("0.001", "0.002"))
    assert M.build(src) != first


@pytest.mark.neuron
def test_compile_error_shows_the_compiler_message_and_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CELLSWEEP_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "mods"
    src.mkdir()
    (src / "broken.mod").write_text(GOOD.replace("BREAKPOINT { i = gbar*(v - e) }",
                                                 "BREAKPOINT { i = gbar*(v - e) + }"))
    with pytest.raises(MechanismError) as info:
        M.build(src)
    text = str(info.value)
    assert "nrnivmodl failed in broken.mod" in text and "compiler output" in text
    assert not list((tmp_path / "cache" / "mechanisms").glob("*/BUILD_OK"))


@pytest.mark.neuron
@pytest.mark.slow
def test_concurrent_builders_share_one_build(tmp_path):
    """Two processes asking at once: one compiles, the other waits and reuses it."""
    src = tmp_path / "mods"
    src.mkdir()
    (src / "leaky.mod").write_text(GOOD)
    code = ("import sys; from cellsweep.cells.mechanisms import build; "
            "print(build(sys.argv[1]).name)")
    env = {**__import__("os").environ, "CELLSWEEP_CACHE": str(tmp_path / "cache")}
    procs = [subprocess.Popen([sys.executable, "-c", code, str(src)], stdout=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    names = [p.communicate(timeout=300)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert names[0] == names[1]
    builds = [p for p in (tmp_path / "cache" / "mechanisms").iterdir() if p.is_dir()]
    assert [b.name for b in builds] == [names[0]]
