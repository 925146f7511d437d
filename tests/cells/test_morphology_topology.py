"""``topology_report`` (cells.morphology_check) against the cell NEURON's Import3d really builds.

For every file the report's claims are checked against NEURON 9.0.2, built in a fresh
interpreter per file (``cells.morphology.new_cell`` + ``instantiate_morphology``, as cellsweep
builds a cell; a NEURON process keeps its sections and templates): the section names, each
section's ``parentseg()`` and ``trueparentseg()``, logical connections (``pt3dstyle``), number of
3-D points and length; and the report's soma, neurite, section and length lines are parsed and
compared with counts taken from what NEURON built. Warnings are checked one by one: a file gets
exactly the warnings listed for it.

Files: the synthetic ones of tests/data/morphologies/topology (one convention each, described
in their header comments), the example cell, BluePyOpt's simplecell, seeded random SWC trees,
and the real NeuroMorpho and Neurolucida files of the shared data folder when it is present.
"""

import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import textwrap
from collections import Counter, namedtuple

import pytest

from cellsweep.cells.errors import MorphologyError
from cellsweep.cells.morphology_check import (
    check_morphology,
    import3d_topology,
    topology_report,
)
from tests.conftest import REPO, bluepyopt_file

TOPOLOGY = REPO / "tests" / "data" / "morphologies" / "topology"
EXAMPLE_SWC = REPO / "configs" / "example" / "example_pyramid.swc"
needs_neuron = pytest.mark.skipif(importlib.util.find_spec("neuron") is None,
                                  reason="NEURON is not installed")

# somas: soma sections; neurites: the report's neurites line; warnings: one text per warning line
Expect = namedtuple("Expect", "somas neurites warnings")

SPLIT_SOMA = "the three-point soma is not NeuroMorpho's sphere to Import3d"
SEVERAL_SOMAS = "the soma is 2 sections, soma[0] to soma[1]; 'soma' locations, recordings and "
OFF_PLACE = "Import3d attaches neurites on interior soma points at 0.5: "

CASES = {
    "one_point_soma.swc": Expect(
        1, "axon 1 at soma(0.5); basal 2 at soma(0.5); apical 1 at soma(0.5)", []),
    "three_point_soma.swc": Expect(
        1, "axon 1 at soma(0.5); basal 2 at soma(0.5); apical 1 at soma(0.5)", []),
    # the dendrite on the end point splits the soma: soma[0] = centre to -r, soma[1] = centre
    # to +r (on soma[0](0)); the neurites on the centre go to soma[0](0), the apical to soma[1](1)
    "three_point_end_dendrite.swc": Expect(
        2, "axon 1 at soma[0](0); basal 2 at soma[0](0); apical 1 at soma[1](1)",
        [f"{SPLIT_SOMA} (a neurite hangs on an end point, line 14)",
         f"{SEVERAL_SOMAS}distances use soma[0]: 6 of the soma's 12 um"]),
    # the same split from radii that differ by 0.5 um, with every neurite on the centre
    "three_point_unequal_radii.swc": Expect(
        2, "axon 1 at soma[0](0); basal 2 at soma[0](0); apical 1 at soma[0](0)",
        [f"{SPLIT_SOMA} (the three radii differ)",
         f"{SEVERAL_SOMAS}distances use soma[0]: 6 of the soma's 12 um"]),
    "chain_soma_ends.swc": Expect(
        1, "axon 1 at soma(0); basal 1 at soma(0.5); apical 1 at soma(1)", []),
    # the dendrite on the chain's second point (a quarter along) is connected at soma(0.5)
    "chain_soma_off_centre.swc": Expect(
        1, "axon 1 at soma(0); basal 1 at soma(0.5); apical 1 at soma(1)",
        [f"{OFF_PLACE}1 neurite away from its point (line 10: at soma[0](0.5), its point is "
         f"at soma[0](0.25))"]),
    "soma_outline.swc": Expect(
        1, "axon 1 at soma(0); basal 1 at soma(0.5)",
        ["the soma points trace an outline, which Import3d does not recognise",
         "(line 14: at soma[0](0.5), its point is at soma[0](0.29))"]),
    "multifurcation.swc": Expect(
        1, "axon 1 at soma(0.5); basal 3 at soma(0.5); apical 1 at soma(0.5)", []),
    "axon_on_dendrite.swc": Expect(
        1, "axon 1 on dend[0](1); basal 1 at soma(0.5); apical 1 at soma(0.5)", []),
    "root_dendrite.swc": Expect(
        1, "basal 1 as the root section; apical 1 at soma(1)",
        ["the file's root point (line 3) is not a soma point: the root section is dend[0]"]),
    "zero_length_branch.swc": Expect(
        1, "basal 1 at soma(0.5)",
        ["Import3d drops 1 section of one point or of zero length (starting at line 8)"]),
    # the branch on the first point of a dendrite wired to the soma goes to that dendrite's 0 end
    "branch_on_neurite_start.swc": Expect(1, "axon 1 at soma(0.5); basal 1 at soma(0.5)", []),
    "contour_soma.asc": Expect(
        1, "axon 1 at soma(0.5); basal 2 at soma(0.5); apical 1 at soma(0.5)", []),
    "contour_stack.asc": Expect(
        1, "axon 1 at soma(0.5); basal 2 at soma(0.5); apical 1 at soma(0.5)", []),
    "two_somas.asc": Expect(
        2, "axon 1 at soma[1](0.5); basal 2: 1 at soma[0](0.5), 1 at soma[1](0.5)",
        ["the tree starting at line 53 begins 75.7 um outside the soma contours' boxes; "
         "Import3d wires it to the middle of the nearest soma, soma[1](0.5)",
         f"{SEVERAL_SOMAS}distances use soma[0]: one of 2 contours"]),
}

# the shared data folder's real files (when present); relative to it
REAL_FILES = {
    "morphologies/C010398B-P2.CNG.swc": Expect(
        1, "axon 1 at soma(0.5); basal 7 at soma(0.5); apical 1 at soma(0.5)", []),
    "morphologies/c91662.CNG.swc": Expect(  # a three-point soma not along y
        1, "axon 1 at soma(0.5); basal 2 at soma(0.5); apical 2 at soma(0.5)", []),
    "morphologies/C040600B3.CNG.swc": Expect(1, "axon 1 at soma(0.5); basal 8 at soma(0.5)", []),
    "morphologies/10-2012-02-09-001.CNG.swc": Expect(1, "basal 1 at soma(0)", []),
    # two trees start up to 0.34 um outside the contour's box: wired to it all the same
    "morphologies/C010398B-P2.asc": Expect(
        1, "axon 1 at soma(0.5); basal 7 at soma(0.5); apical 1 at soma(0.5)", []),
}

_BUILD = textwrap.dedent("""
    import json, sys
    from neuron import h
    from cellsweep.cells import morphology
    cell = morphology.new_cell(h, "CellsweepTopologyTest")
    morphology.instantiate_morphology(h, sys.argv[1], cell)
    def name(sec):
        return sec.name().rsplit(".", 1)[-1]
    def seg(s):
        return None if s is None else [name(s.sec), s.x]
    sections = [{"name": name(s), "parent": seg(s.parentseg()), "true": seg(s.trueparentseg()),
                 "logical": bool(s.pt3dstyle()), "n3d": int(s.n3d()), "L": s.L}
                for s in h.allsec()]
    assert len(sections) == len(list(cell.all)), "sections outside the cell"
    print(json.dumps(sections))
""")


def build_in_neuron(path) -> list[dict]:
    """Every section NEURON builds from ``path``, in a fresh interpreter."""
    env = dict(os.environ, NEURON_INIT_MPI="0", NEURON_MODULE_OPTIONS="-nogui")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    result = subprocess.run([sys.executable, "-c", _BUILD, str(path)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"building {path}: {result.stderr[-3000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def _kind(name: str) -> str:
    return name.split("[")[0]


NEURITE = {"axon": "axon", "dend": "basal", "apic": "apical"}


def _neurites_in_neuron(built) -> Counter:
    """(neurite type, place) -> count, from NEURON's parentseg, named as the report names them."""
    by_name = {s["name"]: s for s in built}
    one_soma = sum(1 for s in built if _kind(s["name"]) == "soma") == 1
    found = Counter()
    for s in built:
        kind, parent = _kind(s["name"]), s["parent"]
        if kind == "soma" or (parent and _kind(parent[0]) == kind):
            continue
        if parent is None:
            place = "as the root section"
        elif _kind(parent[0]) == "soma":
            place = f"at {'soma' if one_soma else parent[0]}({parent[1]:g})"
        else:
            place = f"on {parent[0]}({parent[1]:g})"
        assert parent is None or parent[0] in by_name
        found[NEURITE[kind], place] += 1
    return found


def _neurites_in_report(line: str) -> Counter:
    """'axon 1 at soma(0.5); basal 2: 1 at soma[0](0.5), 1 at soma[1](0.5)' -> Counter."""
    found = Counter()
    text = line.removeprefix("neurites: ")
    if text == "none":
        return found
    for part in text.split("; "):
        kind, rest = part.split(" ", 1)
        if re.fullmatch(r"\d+: .*", rest):
            rest = rest.split(": ", 1)[1]
        for item in rest.split(", "):
            count, place = item.split(" ", 1)
            found[kind, place] += int(count)
    return found


def _true_parent(section, sections) -> list | None:
    """trueparentseg from the topology: a section on its parent's 0 end hangs, electrically,
    where its parent hangs."""
    by_name = {s.name: s for s in sections}
    while section.parent is not None:
        if section.parent_x > 0:
            return [section.parent, section.parent_x]
        section = by_name[section.parent]
    return None


def assert_report_matches_neuron(path, expect: Expect | None = None):
    """Every section, the report's lines and (if ``expect``) its neurites line and warnings."""
    built = build_in_neuron(path)
    topo = import3d_topology(path)
    report = topology_report(path)
    mine = {s.name: s for s in topo.sections}
    assert sorted(mine) == sorted(s["name"] for s in built), path
    for s in built:
        section = mine[s["name"]]
        assert [section.parent, section.parent_x] == (s["parent"] or [None, None]), s
        assert _true_parent(section, topo.sections) == s["true"], s
        assert section.logical == s["logical"], s
        if section.n3d is not None:  # None: a soma from a contour
            assert (section.n3d, section.length_um) == (  # NEURON keeps 3-D points as float32
                s["n3d"], pytest.approx(s["L"], rel=1e-6, abs=2e-4)), s
    # the report's lines, against NEURON's counts
    counts = Counter(_kind(s["name"]) for s in built)
    soma, neurites, sections, lengths, *warnings = report
    n_soma = counts["soma"]
    assert re.search(fr": {n_soma} soma sections?(, |$)", soma), soma
    assert _neurites_in_report(neurites) == _neurites_in_neuron(built), (neurites, built)
    per_type = ", ".join(f"{kind} {counts[kind]}" for kind in ("soma", "axon", "dend", "apic")
                         if counts[kind])
    assert sections.startswith(f"sections: {len(built)} ({per_type}); "), sections
    for kind, value in re.findall(r"(\w+) ([0-9.]+)", lengths.removeprefix("length (um): ")):
        total = sum(s["L"] for s in built if _kind(s["name"]) == kind)
        assert float(value) == pytest.approx(total, abs=0.051), (kind, lengths)
    assert all(line.startswith("warning: ") for line in warnings), report
    if expect is not None:
        assert n_soma == expect.somas
        assert neurites == f"neurites: {expect.neurites}", neurites
        assert len(warnings) == len(expect.warnings), warnings
        for line, text in zip(warnings, expect.warnings):
            assert text in line, (line, text)
    return report


@pytest.mark.neuron
@needs_neuron
@pytest.mark.parametrize("name", sorted(CASES))
def test_synthetic_file_report_is_what_neuron_builds(name):
    path = TOPOLOGY / name
    assert [i for i in check_morphology(path) if i.severity == "error"] == []
    assert_report_matches_neuron(path, CASES[name])


@pytest.mark.neuron
@needs_neuron
def test_split_three_point_soma_in_neuron():
    # what the warning says: two 6-um soma sections from the centre, soma[1] on soma[0](0); the
    # neurites on the centre sit on soma[0](0), electrically the root node (no trueparentseg)
    built = {s["name"]: s for s in build_in_neuron(TOPOLOGY / "three_point_end_dendrite.swc")}
    assert [built["soma[0]"]["L"], built["soma[1]"]["L"]] == [6.0, 6.0]
    assert built["soma[1]"]["parent"] == ["soma[0]", 0.0]
    for name in ("axon[0]", "dend[0]", "dend[1]"):
        assert (built[name]["parent"], built[name]["true"]) == (["soma[0]", 0.0], None)
    assert built["apic[0]"]["parent"] == built["apic[0]"]["true"] == ["soma[1]", 1.0]


@pytest.mark.neuron
@needs_neuron
def test_contour_stack_is_one_point_per_contour():
    # what the report says of a stack's soma ("a 3-D point per contour")
    built = build_in_neuron(TOPOLOGY / "contour_stack.asc")
    assert [s["n3d"] for s in built if s["name"] == "soma[0]"] == [3]


def test_every_synthetic_file_has_a_case():
    assert sorted(p.name for p in TOPOLOGY.iterdir()) == sorted(CASES)


@pytest.mark.neuron
@needs_neuron
def test_example_cell_report():
    assert assert_report_matches_neuron(EXAMPLE_SWC) == [
        "soma: NeuroMorpho's three-point soma (centre, +-10 um along y), read as a sphere: "
        "1 soma section, a cylinder along x with L = diam = 20 um",
        "neurites: axon 1 at soma(0.5); basal 5 at soma(0.5); apical 1 at soma(0.5)",
        "sections: 38 (soma 1, axon 1, dend 21, apic 15); 242 points in the file",
        "length (um): soma 20.0, axon 400.0, dend 1895.0, apic 1960.0",
    ]


@pytest.mark.neuron
@needs_neuron
def test_bluepyopt_simplecell_report():
    path = bluepyopt_file("ephys", "examples", "simplecell", "simple.swc")
    assert assert_report_matches_neuron(path) == [
        "soma: a chain of 3 points: 1 soma section, a cylinder along it, L = 10 um",
        "neurites: none",
        "sections: 1 (soma 1); 3 points in the file",
        "length (um): soma 10.0",
    ]


@pytest.mark.neuron
@needs_neuron
def test_bluepyopt_l5pc_report():
    path = bluepyopt_file("tests", "test_ephys", "testdata", "acc", "l5pc", "C060114A7.asc")
    assert_report_matches_neuron(path, Expect(
        1, "axon 1 at soma(0.5); basal 10 at soma(0.5); apical 1 at soma(0.5)", []))


@pytest.mark.neuron
@needs_neuron
def test_real_shared_files_report_what_neuron_builds(shared_data):
    failures = {}
    for relative, expect in sorted(REAL_FILES.items()):
        try:
            assert_report_matches_neuron(shared_data / relative, expect)
        except AssertionError as exc:
            failures[relative] = str(exc)
    assert not failures, "\n".join(f"{name}: {text}" for name, text in failures.items())


# ------------------------------------------------------------------ seeded random SWC trees


def random_swc(seed: int) -> str:
    """A random cell with one of the soma conventions and neurites on random soma points, with
    branches on any point (first points of neurites included), single-point and duplicate-point
    branches, multifurcations and type changes: the cases Import3d's rules tell apart."""
    rng = random.Random(seed)
    rows = []  # id, type, x, y, z, r, parent

    def add(kind, xyz, r, parent):
        rows.append((len(rows) + 1, kind, *(round(c, 2) for c in xyz), r, parent))
        return len(rows)

    r = rng.choice([4.0, 5.0, 6.0])
    soma = rng.choice(["point", "three", "three_unequal", "chain", "branched"])
    somas = [add(1, (0, 0, 0), r, -1)]
    if soma.startswith("three"):
        end_r = r if soma == "three" else r - 0.5
        somas += [add(1, (0, -r, 0), end_r, 1), add(1, (0, r, 0), end_r, 1)]
    elif soma == "chain":
        for k in range(rng.randint(1, 6)):
            somas.append(add(1, (0, 2.0 * (k + 1), 0), r, somas[-1]))
    elif soma == "branched":
        somas += [add(1, (0, -3, 0), r, 1), add(1, (0, 3, 0), r, 1), add(1, (0, 6, 0), r, 3)]
    tips = []
    for _ in range(rng.randint(1, 5)):
        parent = rng.choice(somas) if rng.random() < 0.7 or soma == "point" else somas[0]
        kind = rng.choice([2, 3, 3, 4])
        x, y = rng.uniform(-1, 1), rng.uniform(-1, 1)
        point = rows[parent - 1][2:5]
        for k in range(rng.choice([1, 2, 3, 5])):
            point = (point[0] + 10 * x, point[1] + 10 * y, point[2] + rng.uniform(-2, 2))
            parent = add(kind, point, 1.0, parent)
            tips.append(parent)
    for _ in range(rng.randint(0, 6)):  # branches on any neurite point, listed later
        parent = rng.choice(tips)
        kind = rows[parent - 1][1] if rng.random() < 0.8 else rng.choice([2, 3, 4])
        point = rows[parent - 1][2:5]
        if rng.random() < 0.15:  # a duplicate point: a zero-length branch
            add(kind, point, 0.5, parent)
            continue
        for k in range(rng.choice([1, 1, 2, 4])):
            point = (point[0] + rng.uniform(-8, 8), point[1] + rng.uniform(-8, 8), point[2])
            parent = add(kind, point, 0.5, parent)
            tips.append(parent)
    return "".join(" ".join(str(v) for v in row) + "\n" for row in rows)


@pytest.mark.neuron
@needs_neuron
@pytest.mark.parametrize("seed", range(40))
def test_random_swc_report_is_what_neuron_builds(tmp_path, seed):
    path = tmp_path / f"random_{seed}.swc"
    path.write_text(random_swc(seed))
    assert [i for i in check_morphology(path) if i.severity == "error"] == []
    assert_report_matches_neuron(path)


# ------------------------------------------------------------------ without NEURON


def test_refused_file_is_not_reported():
    # type 10 is refused by the checker (NEURON would crash), so it gets no report
    with pytest.raises(MorphologyError, match="type code 10"):
        topology_report(REPO / "tests" / "data" / "morphologies" / "type10.swc")


def test_report_does_not_import_neuron():
    code = ("import sys; from cellsweep.cells.morphology_check import topology_report; "
            f"topology_report({str(TOPOLOGY / 'contour_soma.asc')!r}); "
            f"topology_report({str(EXAMPLE_SWC)!r}); print('neuron' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=120)
    assert result.stdout.strip() == "False", result.stderr


def test_report_lines_have_their_prefixes():
    prefixes = ("soma: ", "neurites: ", "sections: ", "length (um): ")
    for path in sorted(TOPOLOGY.iterdir()):
        lines = topology_report(path)
        assert [line.split(": ")[0] + ": " for line in lines[:4]] == list(prefixes), lines
        assert all(line.startswith("warning: ") for line in lines[4:]), lines
        assert all("\n" not in line and line == line.strip() for line in lines), lines
