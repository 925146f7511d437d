"""``cells.morphology_inspect``: every problem written into a synthetic file is reported with its
finding code and where it is; a clean file reports none; lengths, areas, the soma's area and
the section counts equal what NEURON builds (one subprocess); the shared NeuroMorpho cell
c91662 in its original and standardised versions; an ASC file."""

import json
import math
import os
import random
import subprocess
import sys
import textwrap

import pytest

from cellsweep.cells.morphology_inspect import inspect_morphology, unreadable
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(120)   # a hang (a loop in a broken tree) fails at once

EXAMPLE_SWC = REPO / "configs" / "example" / "example_pyramid.swc"
PYRAMID_ASC = REPO / "tests" / "data" / "morphologies" / "pyramid.asc"
TREE_CODES = {"constant-diameter", "implausible-diameter", "jump", "z-backlash", "bottleneck",
              "multifurcation", "disconnected", "nonstandard-type", "z-flat", "z-stretched"}


# ---------------------------------------------------------------- a clean cell, then its faults


def clean_cell(trunk: int = 10) -> list[list]:
    """Rows [id, type, x, y, z, radius, parent] of a small cell with nothing wrong: a
    NeuroMorpho three-point soma (r 5), a tapering axon, a basal and an apical dendrite that
    fork once (the basal after ``trunk`` points); steps of 5 um, diameters tapering, z varying
    gently."""
    rows = [[1, 1, 0.0, 0.0, 0.0, 5.0, -1], [2, 1, 0.0, -5.0, 0.0, 5.0, 1],
            [3, 1, 0.0, 5.0, 0.0, 5.0, 1]]

    def chain(kind, parent, start, step, n, r0, r1):
        ids = []
        for k in range(n):
            x, y = start[0] + step[0] * k, start[1] + step[1] * k
            z = 6 * math.sin((len(rows) + k) / 4)
            rows.append([len(rows) + 1, kind, x, y, z, r0 + (r1 - r0) * k / max(n - 1, 1),
                         parent])
            parent = rows[-1][0]
            ids.append(parent)
        return ids

    chain(2, 1, (0, -6), (0, -5), 14, 0.6, 0.35)                       # axon
    trunk = chain(3, 1, (6, 0), (5, 0), trunk, 1.0, 0.6)               # basal
    end = rows[trunk[-1] - 1]
    chain(3, trunk[-1], (end[2] + 4, end[3] + 3), (4, 3), 8, 0.5, 0.3)
    chain(3, trunk[-1], (end[2] + 4, end[3] - 3), (4, -3), 8, 0.5, 0.3)
    apical = chain(4, 1, (0, 6), (0, 5), 16, 1.5, 0.8)                 # apical
    top = rows[apical[-1] - 1]
    chain(4, apical[-1], (top[2] + 3, top[3] + 4), (3, 4), 10, 0.7, 0.4)
    chain(4, apical[-1], (top[2] - 3, top[3] + 4), (-3, 4), 10, 0.7, 0.4)
    return rows


def ids_of(rows, kind) -> list[int]:
    return [r[0] for r in rows if r[1] == kind]


def write_swc(path, rows, header="a synthetic cell"):
    text = f"# {header}\n" + "".join(
        f"{r[0]} {r[1]} {r[2]:.4f} {r[3]:.4f} {r[4]:.4f} {r[5]:.4f} {r[6]}\n" for r in rows)
    path.write_text(text)
    return path


def subtree_length(rows, top) -> float:
    """Path length of everything below point ``top``, from the rows as written."""
    xyz = {r[0]: tuple(float(f"{v:.4f}") for v in r[2:5]) for r in rows}
    below, total = {top}, 0.0
    for r in rows:                        # parents come before their children
        if r[6] in below:
            below.add(r[0])
            total += math.dist(xyz[r[0]], xyz[r[6]])
    return total


def findings(report, code):
    return [f for f in report.findings if f.code == code]


def test_the_clean_cell_has_no_findings_and_its_numbers(tmp_path):
    rows = clean_cell()
    report = inspect_morphology(write_swc(tmp_path / "clean.swc", rows))
    assert report.codes() == {"soma-convention"}, report.table()
    assert not report.refused
    assert report.import3d_sections == {"soma": 1, "axon": 1, "dend": 3, "apic": 3}
    soma, axon, basal, apical = report.types
    assert (soma.points, axon.points, basal.points, apical.points) == (3, 14, 26, 36)
    # the three-point soma is a sphere of diameter 10: area pi d^2, drawn as L = diam = 10
    assert soma.area_um2 == pytest.approx(math.pi * 10 ** 2, rel=1e-12)
    assert report.soma.area_um2 == pytest.approx(math.pi * 100, rel=1e-12)
    assert (axon.diam_min, axon.diam_max) == (pytest.approx(0.7), pytest.approx(1.2))
    assert axon.diam_median == pytest.approx(statistics_median([2 * r[5] for r in rows
                                                                 if r[1] == 2]))
    assert "cellsweep run accepts this file" in report.table()


def statistics_median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def test_constant_diameter(tmp_path):
    rows = clean_cell()
    for r in rows:
        if r[1] == 2:
            r[5] = 0.25
    report = inspect_morphology(write_swc(tmp_path / "constant.swc", rows))
    [found] = findings(report, "constant-diameter")
    assert found.level == "warning" and found.section == "axon"
    assert "all 14 axon points have diameter 0.5 um" in found.message
    assert report.codes() == {"soma-convention", "constant-diameter"}


def test_implausible_diameters(tmp_path):
    rows = clean_cell()
    basal, axon = ids_of(rows, 3), ids_of(rows, 2)
    rows[basal[3] - 1][5] = 12.5          # a 25 um dendrite
    rows[axon[-1] - 1][5] = 6.0           # a 12 um axon tip
    report = inspect_morphology(write_swc(tmp_path / "thick.swc", rows))
    by_section = {f.section: f for f in findings(report, "implausible-diameter")}
    assert set(by_section) == {"axon", "basal"}
    assert by_section["basal"].points == (basal[3],)
    assert by_section["axon"].points == (axon[-1],)
    assert "outside 0.1 to 20 um (point %d: 25 um)" % basal[3] in by_section["basal"].message
    assert "outside 0.1 to 10 um" in by_section["axon"].message


def test_z_backlash(tmp_path):
    rows = clean_cell()
    apical = ids_of(rows, 4)
    up = apical[5]
    for point in (up, up + 1):            # z up 15 um for two points, then back down
        rows[point - 1][4] += 15
    report = inspect_morphology(write_swc(tmp_path / "backlash.swc", rows))
    [found] = findings(report, "z-backlash")
    assert found.points == (up, up + 2) and found.section == "apic[0]"
    z = {r[0]: float(f"{r[4]:.4f}") for r in rows}
    rise, fall = z[up] - z[up - 1], z[up + 2] - z[up + 1]
    assert found.message.startswith(f"z jumps {rise:+.3g} um at point {up} (from point "
                                    f"{up - 1}) and {fall:+.3g} um at point {up + 2}, 2 point(s) "
                                    f"later")
    assert report.codes() == {"soma-convention", "z-backlash"}


def test_jump_and_its_direction(tmp_path):
    rows = clean_cell()
    tip = ids_of(rows, 2)[-1]
    x, y, z = rows[tip - 1][2:5]
    rows.append([len(rows) + 1, 2, x + 200.0, y, z, 0.3, tip])
    report = inspect_morphology(write_swc(tmp_path / "jump.swc", rows))
    [found] = findings(report, "jump")
    # a child that does not follow its parent in the file starts a section (Import3d's rule)
    assert found.points == (tip, len(rows)) and found.section == "axon[1]"
    assert report.import3d_sections["axon"] == 2
    assert found.message.startswith(f"200 um from point {tip} to point {len(rows)}")
    assert found.message.endswith("along +x")


def test_bottleneck(tmp_path):
    rows = clean_cell()
    apical = ids_of(rows, 4)
    thin = apical[8]
    rows[thin - 1][5] = 0.2               # 0.4 um between points of about 2.3 um
    report = inspect_morphology(write_swc(tmp_path / "bottleneck.swc", rows))
    [found] = findings(report, "bottleneck")
    assert found.points == (thin - 1, thin) and found.section == "apic[0]"
    assert found.message.startswith(f"point {thin} has diameter 0.4 um between its parent "
                                    f"(point {thin - 1}, ")
    # what lies beyond: the rest of the trunk and both branches
    beyond = subtree_length(rows, thin)
    assert 130 < beyond < 160
    assert f"of {beyond:.4g} um of neurite" in found.message


def test_multifurcation(tmp_path):
    rows = clean_cell()
    fork = ids_of(rows, 3)[9]             # the basal trunk's end: two children already
    x, y, z = rows[fork - 1][2:5]
    parent = fork
    for k in range(4):
        rows.append([len(rows) + 1, 3, x + 5 * (k + 1), y, z, 0.4 - 0.02 * k, parent])
        parent = len(rows)
    report = inspect_morphology(write_swc(tmp_path / "trifurcation.swc", rows))
    [found] = findings(report, "multifurcation")
    assert found.points == (fork,) and found.section == "dend[0]"
    assert found.message.startswith(f"point {fork} (type 3) has 3 children (points {fork + 1}, ")
    assert report.import3d_sections["dend"] == 4


def test_second_root_is_a_disconnected_piece(tmp_path):
    rows = clean_cell()
    first = len(rows) + 1
    for k in range(5):
        rows.append([first + k, 3, 300.0 + 5 * k, 300.0, 0.0, 0.5, -1 if k == 0 else first + k - 1])
    report = inspect_morphology(write_swc(tmp_path / "two_roots.swc", rows))
    [found] = findings(report, "disconnected")
    assert found.level == "error" and found.points == (first,)
    assert found.message.startswith(f"a piece of 5 points (20 um, type 3) starting at point {first}")
    assert "second root" in found.message
    assert "check-roots" in report.codes() and report.refused
    assert report.import3d_sections is None and report.geometry_from == "file"
    soma, axon = report.types[:2]
    assert soma.area_um2 is None and soma.length_um is None   # Import3d's convention: unknown
    # the axon's steps, its first from the soma's centre included
    xyz = {r[0]: tuple(float(f"{v:.4f}") for v in r[2:5]) for r in rows}
    steps = [math.dist(xyz[r[0]], xyz[r[6]]) for r in rows if r[1] == 2]
    assert axon.length_um == pytest.approx(sum(steps), rel=1e-12)


def test_orphan_is_a_disconnected_piece(tmp_path):
    rows = clean_cell()
    first = len(rows) + 2                 # its parent, len(rows) + 1, is missing
    for k in range(3):
        rows.append([first + k, 4, -100.0 - 5 * k, 50.0, 0.0, 0.5, first + k - 1])
    report = inspect_morphology(write_swc(tmp_path / "orphan.swc", rows))
    [found] = findings(report, "disconnected")
    assert found.points == (first,)
    assert f"its parent id {first - 1} is no point of the file" in found.message
    assert "check-parent" in report.codes() and report.refused


def test_points_whose_parents_loop_are_a_disconnected_piece(tmp_path):
    rows = clean_cell()
    n = len(rows)
    rows += [[n + 1, 3, 50, 50, 0, 1.0, n + 3], [n + 2, 3, 55, 50, 0, 0.1, n + 1],
             [n + 3, 3, 60, 50, 0, 1.0, n + 2], [n + 4, 3, 65, 50, 0, 1.0, n + 4]]
    report = inspect_morphology(write_swc(tmp_path / "loop.swc", rows))
    own, loop = findings(report, "disconnected")
    assert own.points == (n + 4,) and own.message.endswith("it is its own parent")
    assert loop.points == (n + 1, n + 2, n + 3)
    assert loop.message.startswith("3 points reach no root: their parents form a loop")
    assert "bottleneck" not in report.codes() and report.refused


def test_nonstandard_type(tmp_path):
    rows = clean_cell()
    for r in rows:
        if r[1] == 2:
            r[1] = 10
    report = inspect_morphology(write_swc(tmp_path / "type10.swc", rows))
    [found] = findings(report, "nonstandard-type")
    assert found.level == "error" and found.points == tuple(ids_of(rows, 10))
    assert "check-type" in report.codes() and report.refused
    # what Import3d would make of it: sections dend_10
    assert report.import3d_sections == {"soma": 1, "dend_10": 1, "dend": 3, "apic": 3}
    assert [t.code for t in report.types] == [1, 3, 4, 10]


def test_flat_and_stretched_z(tmp_path):
    rows = clean_cell()
    for r in rows:
        r[4] = 0.0
    flat = inspect_morphology(write_swc(tmp_path / "flat.swc", rows))
    assert flat.codes() == {"soma-convention", "z-flat"}
    for r in rows:
        r[4] = r[3] * 3                   # depth three times the height
    deep = inspect_morphology(write_swc(tmp_path / "deep.swc", rows))
    assert "z-stretched" in deep.codes() and "z-flat" not in deep.codes()


def test_one_point_soma_area(tmp_path):
    rows = clean_cell()
    rows = [rows[0]] + [[r[0] - 2, r[1], *r[2:6], r[6] - 2 if r[6] > 3 else 1]
                        for r in rows[3:]]
    report = inspect_morphology(write_swc(tmp_path / "one_point.swc", rows))
    assert report.soma.convention == "one point (a sphere)"
    assert report.soma.area_um2 == pytest.approx(4 * math.pi * 5.0 ** 2, rel=1e-12)
    assert report.codes() == {"soma-convention"}


def test_unreadable_and_structurally_broken_files(tmp_path):
    binary = tmp_path / "binary.swc"
    binary.write_bytes(b"1 1 0 0 0 5 -1\n\x00\x01")
    report = inspect_morphology(binary)
    assert unreadable(report) and report.refused and report.codes() == {"check-binary"}
    rows = clean_cell()
    rows[5][0] = rows[4][0]               # a duplicate id: no tree to follow
    broken = inspect_morphology(write_swc(tmp_path / "duplicate.swc", rows))
    assert not unreadable(broken) and broken.refused
    assert {"check-duplicate-id", "tree-skipped"} <= broken.codes()
    json.loads(broken.to_json())


def test_the_example_morphology_prints_its_table():
    report = inspect_morphology(EXAMPLE_SWC)
    table = report.table()
    assert table.splitlines()[0] == (f"{EXAMPLE_SWC} (SWC): 242 points; Import3d makes 38 "
                                     f"sections (soma 1, axon 1, dend 21, apic 15)")
    header = next(line for line in table.splitlines() if line.startswith("type "))
    assert header.split() == ["type", "points", "sections", "length", "um", "area", "um2",
                              "diam", "min", "median", "max", "distinct"]
    rows = [line for line in table.splitlines() if line[:2] in ("1 ", "2 ", "3 ", "4 ")]
    assert [line.split()[:3] for line in rows] == [["1", "soma", "3"], ["2", "axon", "22"],
                                                   ["3", "basal", "111"], ["4", "apical", "106"]]
    assert len({len(line) for line in rows + [header]}) == 1      # aligned columns
    assert not (report.codes() & TREE_CODES) and not report.refused


def test_json_has_the_findings_of_the_report(tmp_path):
    rows = clean_cell()
    rows[ids_of(rows, 4)[8] - 1][5] = 0.2
    report = inspect_morphology(write_swc(tmp_path / "b.swc", rows))
    data = json.loads(report.to_json())
    assert [(f["level"], f["code"], tuple(f["points"])) for f in data["findings"]] == [
        (f.level, f.code, f.points) for f in report.findings]
    assert data["refused"] is False and data["import3d_sections"] == report.import3d_sections


# ---------------------------------------------------------------- real files


def test_c91662_original_and_standardised(shared_data):
    folder = shared_data / "morphologies"
    original = inspect_morphology(folder / "c91662.swc")
    standard = inspect_morphology(folder / "c91662.CNG.swc")
    # independently: the type-10 points and the soma rows, read with plain string splitting
    rows = {name: [line.split() for line in (folder / name).read_text().splitlines()
                   if line.strip() and not line.startswith("#")]
            for name in ("c91662.swc", "c91662.CNG.swc")}
    type10 = [int(r[0]) for r in rows["c91662.swc"] if r[1] == "10"]
    assert len(type10) == 80
    [found] = findings(original, "nonstandard-type")
    assert found.points == tuple(type10[:20]) and "80 points" in found.message
    assert {t.code: t.points for t in original.types}[10] == 80
    assert original.import3d_sections["dend_10"] == 6 and original.refused
    assert 10 not in {t.code for t in standard.types} and not standard.refused
    # point 2 (type 10) is the parent of six branches
    [multi] = findings(original, "multifurcation")
    assert multi.points == (2,) and "6 children" in multi.message
    # the soma: one point of radius 4.465 (a sphere, 4 pi r^2) against NeuroMorpho's three
    # points of radius 8.868 (a sphere of that radius)
    r_original = float(rows["c91662.swc"][0][5])
    r_standard = float(rows["c91662.CNG.swc"][0][5])
    assert original.soma.area_um2 == pytest.approx(4 * math.pi * r_original ** 2, rel=1e-9)
    assert standard.soma.area_um2 == pytest.approx(4 * math.pi * r_standard ** 2, rel=1e-9)
    assert original.soma.area_um2 == pytest.approx(250.5, abs=0.1)
    assert standard.soma.area_um2 == pytest.approx(988.2, abs=0.1)
    # NEURON's totals (the shared data's README): 37.2 mm and 46,700 um2 against 15.3 mm
    # and 19,500 um2
    for report, length_mm, area in ((original, 37.2, 46700), (standard, 15.3, 19500)):
        assert sum(t.length_um for t in report.types) / 1000 == pytest.approx(length_mm, abs=0.05)
        assert sum(t.area_um2 for t in report.types) == pytest.approx(area, rel=0.005)


def test_an_asc_file(bluepyopt_l5pc_morphology):
    report = inspect_morphology(bluepyopt_l5pc_morphology)
    assert report.format == "ASC" and not report.refused
    assert report.import3d_sections == {"soma": 1, "axon": 128, "dend": 66, "apic": 130}
    assert report.soma.convention.startswith("a contour of")
    assert report.types[0].diam_min is None and report.types[0].length_um is None
    # the checked trifurcations of this reconstruction are listed with their points
    assert len(findings(report, "multifurcation")) == 7
    assert "disconnected" not in report.codes()   # an ASC file's trees are separate by design
    assert report.table().splitlines()[0].startswith(f"{bluepyopt_l5pc_morphology} (ASC)")


# ---------------------------------------------------------------- against NEURON


NEURON_SCRIPT = textwrap.dedent("""
    import json, sys
    from collections import defaultdict
    from neuron import h
    from cellsweep.cells.morphology import new_cell, instantiate_morphology
    h.load_file("import3d.hoc")
    out = {}
    for k, path in enumerate(sys.argv[1:]):
        if path.startswith("top:"):   # Import3d alone, at top level: sections dend_10 allowed
            path = path[4:]
            reader = h.Import3d_SWC_read()
            reader.quiet = 1
            reader.input(path)
            h.Import3d_GUI(reader, 0).instantiate(None)
            sections = [sec for sec in h.allsec() if "." not in sec.name()]
        else:                         # as cellsweep builds a cell
            cell = new_cell(h, f"InspectCell{k}")
            instantiate_morphology(h, path, cell)
            sections = list(cell.all)
        count, length, area = defaultdict(int), defaultdict(float), defaultdict(float)
        for sec in sections:
            kind = sec.name().rsplit(".", 1)[-1].split("[")[0]
            count[kind] += 1
            length[kind] += sec.L
            sec.nseg = 11
            area[kind] += sum(seg.area() for seg in sec)
        out[path] = {"count": count, "length": length, "area": area}
        for sec in sections:
            if "." not in sec.name():
                h.delete_section(sec=sec)
    print(json.dumps(out))
""")


KIND_OF = {1: "soma", 2: "axon", 3: "dend", 4: "apic"}
# a one-point soma whose next point forks at once: that point alone is a section dend[0],
# drawn from the soma's centre (with its own diameter there, not the soma's)
FORK_AT_SOMA = [[1, 1, 0, 0, 0, 5, -1], [2, 3, 6, 0, 0, 1.0, 1], [3, 3, 11, 0, 1, 0.8, 2],
                [4, 3, 16, 0, 2, 0.7, 3], [5, 3, 21, 3, 2, 0.6, 4], [6, 3, 11, -4, 0, 0.8, 2],
                [7, 3, 16, -8, 1, 0.7, 6], [8, 4, 0, 6, 0, 1.5, 1], [9, 4, 0, 11, 1, 1.4, 8],
                [10, 4, 0, 16, 2, 1.3, 9]]


@pytest.mark.neuron
def test_sections_lengths_and_areas_are_what_neuron_builds(tmp_path, bluepyopt_l5pc_morphology):
    """Section counts, L and area() per type of the cell NEURON builds, for cells accepted by
    run and (Import3d alone) for type-10 ones it refuses; a neurite section of one point on the
    soma takes its own diameter at the soma's point (Import3d's mksection)."""
    rows = clean_cell()
    one_point = [rows[0]] + [[r[0] - 2, r[1], *r[2:6], r[6] - 2 if r[6] > 3 else 1]
                             for r in rows[3:]]
    type10 = [[*r[:1], 10 if r[1] == 2 else r[1], *r[2:]] for r in clean_cell(trunk=1)]
    files = [EXAMPLE_SWC, PYRAMID_ASC, bluepyopt_l5pc_morphology,
             write_swc(tmp_path / "clean.swc", rows),
             write_swc(tmp_path / "one_point.swc", one_point),
             write_swc(tmp_path / "fork_at_soma.swc", FORK_AT_SOMA)]
    refused = [write_swc(tmp_path / "type10.swc", type10)]
    shared = REPO.parent / "shared" / "data" / "morphologies" / "c91662.swc"
    if shared.is_file():
        refused.append(shared)      # point 2 (type 10): a one-point section on the soma
    args = [*map(str, files), *(f"top:{path}" for path in refused)]
    proc = subprocess.run([sys.executable, "-c", NEURON_SCRIPT, *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "NEURON_INIT_MPI": "0"})
    assert proc.returncode == 0, proc.stderr
    built = json.loads(proc.stdout.strip().splitlines()[-1])
    for path in files + refused:
        report = inspect_morphology(path)
        assert report.refused == (path in refused)
        neuron = built[str(path)]
        assert report.import3d_sections == neuron["count"], path
        for t in report.types:
            kind = KIND_OF.get(t.code, f"dend_{t.code}")
            if t.length_um is not None:     # NEURON keeps 3-D points as float32
                assert t.length_um == pytest.approx(neuron["length"][kind], rel=1e-5), (path, t)
            # a contour soma too: Import3d's contour2centroid re-done in numpy
            assert t.area_um2 == pytest.approx(neuron["area"][kind], rel=1e-5), (path, t)
        assert report.soma.area_um2 == pytest.approx(neuron["area"]["soma"], rel=1e-5)


ASC_CELL = """\
; a contour soma, a dendrite with a thin point (line 12) and an apical dendrite with a z
; backlash (lines 21 and 23)
("CellBody"
  (Closed)
  ( 6 0 0 0.1) ( 4 4 0 0.1) ( 0 6 0 0.1) ( -4 4 1 0.1) ( -6 0 1 0.1) ( -4 -4 1 0.1)
  ( 0 -6 0 0.1) ( 4 -4 0 0.1)
)
( (Dendrite)
  ( 6 0 0 2)
  ( 11 0 1 1.9)
  ( 16 0 2 1.8)
  ( 21 0 3 0.4)
  ( 26 0 4 1.7)
  ( 31 0 5 1.6)
  ( 36 0 6 1.5)
)
( (Apical)
  ( 0 6 0 3)
  ( 0 11 1 2.8)
  ( 0 16 2 2.6)
  ( 0 18 20 2.4)
  ( 0 20 21 2.2)
  ( 0 22 2 2.0)
  ( 0 27 3 1.8)
  ( 0 32 4 1.6)
)
"""


def test_asc_findings_carry_lines_and_sections(tmp_path):
    path = tmp_path / "faults.asc"
    path.write_text(ASC_CELL)
    report = inspect_morphology(path)
    assert report.format == "ASC" and not report.refused
    assert report.import3d_sections == {"soma": 1, "dend": 1, "apic": 1}
    [thin] = findings(report, "bottleneck")
    assert thin.lines == (11, 12) and thin.section == "dend[0]"
    assert "diameter 0.4 um between its parent" in thin.message
    [backlash] = findings(report, "z-backlash")
    assert backlash.lines == (21, 23) and backlash.section == "apic[0]"
    assert backlash.message.startswith("z jumps +18 um at line 21 (from line 20) and -19 um "
                                       "at line 23")
    assert report.codes() == {"soma-convention", "bottleneck", "z-backlash"}
    # ids: the 8 contour points first, then the trees in file order
    assert thin.points == (8 + 3, 8 + 4)


def test_random_damaged_files_never_break_the_inspection(tmp_path):
    """Seeded random trees with random damage (types, radii, parents, ids, jumps, garbage
    lines): the inspection always returns, its JSON parses, and it is refused exactly when the
    checker finds an error."""
    from cellsweep.cells.morphology_check import check_morphology

    rng = random.Random(14)
    seen = set()
    for n in range(150):
        rows = clean_cell(trunk=rng.randint(1, 12))
        for _ in range(rng.randint(0, 4)):
            r = rng.choice(rows[3:])
            damage = rng.randrange(7)
            if damage == 0:
                r[1] = rng.choice([0, 5, 7, 10, -2])
            elif damage == 1:
                r[5] = rng.choice([0.0, -0.5, 40.0, 0.01])
            elif damage == 2:
                r[6] = rng.choice([-1, r[0] + 1, r[0] - 1, 0, len(rows) + 5])
            elif damage == 3:
                r[0] = rng.choice([1, r[0] - 1, r[0] + 1000])
            elif damage == 4:
                r[2 + rng.randrange(3)] += rng.choice([-500.0, 25.0, 300.0])
            elif damage == 5:
                rows.remove(r)
            else:
                r[4] = r[4] * 100
        path = write_swc(tmp_path / f"random{n}.swc", rows)
        if rng.random() < 0.2:
            lines = path.read_text().splitlines()
            lines.insert(rng.randrange(len(lines)), rng.choice(["1 2 3", "x y z", "7 1 a b c d e"]))
            path.write_text("\n".join(lines) + "\n")
        report = inspect_morphology(path)
        errors = [i for i in check_morphology(path) if i.severity == "error"]
        assert report.refused == bool(errors), (path.read_text(), report.table())
        assert json.loads(report.to_json())["refused"] == report.refused
        assert all(f.level in ("error", "warning", "info") for f in report.findings)
        report.table()
        seen.add((report.refused, report.geometry_from))
    # accepted files, refused ones whose sections are still computed (type codes), and
    # refused ones measured from the file's points
    assert seen == {(False, "import3d"), (True, "import3d"), (True, "file")}
