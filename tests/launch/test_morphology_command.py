"""``cellsweep morphology``: the table of a file and of a config's cell, --json with the same
findings, --plot written whole, exit 1 for a file ``run`` refuses (report printed), exit 2
with one line for what cannot be inspected."""

import json
import subprocess

from cellsweep.cells.morphology_check import file_points
from cellsweep.cells.morphology_inspect import inspect_morphology
from cellsweep.launch.morphology_command import plot_marks
from tests.browser import not_blank
from tests.conftest import REPO
from tests.helpers import cellsweep_command, env

EXAMPLE_CONFIG = REPO / "configs" / "example" / "example.yaml"
EXAMPLE_SWC = REPO / "configs" / "example" / "example_pyramid.swc"
STYLISED_CONFIG = REPO / "configs" / "tutorials" / "ball_and_stick.yaml"


def cellsweep(*args, cwd=None):
    return subprocess.run(cellsweep_command("morphology", *args), capture_output=True,
                          text=True, env=env(), timeout=120, cwd=cwd)


def test_a_config_prints_its_cells_table_and_writes_the_plot(tmp_path):
    out = tmp_path / "plots" / "cell.png"     # its folder is made
    proc = cellsweep(EXAMPLE_CONFIG, "--plot", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    lines = proc.stdout.splitlines()
    assert lines[0].endswith("example_pyramid.swc (SWC): 242 points; Import3d makes 38 "
                             "sections (soma 1, axon 1, dend 21, apic 15)")
    assert proc.stdout.strip().endswith(f"cellsweep run accepts this file\nplot written to {out}")
    assert inspect_morphology(EXAMPLE_SWC).table() in proc.stdout
    assert not_blank(out.read_bytes())
    assert sorted(p.name for p in out.parent.iterdir()) == ["cell.png"]   # no temporary left


def test_json_has_the_same_findings_and_a_refused_file_exits_1(tmp_path):
    rows = ["1 1 0 0 0 5 -1"] + [f"{k} 10 0 {5 * k} 0 0.5 {k - 1}" for k in range(2, 8)] + [
        "8 3 6 0 0 1.0 1", "9 3 11 0 0 0.8 8", "10 3 16 0 0 0.6 9",
        "11 3 300 300 0 0.5 -1", "12 3 305 300 0 0.5 11"]
    path = tmp_path / "bad.swc"
    path.write_text("\n".join(rows) + "\n")
    proc = cellsweep(path, "--json")
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    report = inspect_morphology(path)
    assert [(f["level"], f["code"], tuple(f["points"]), f["message"]) for f in data["findings"]] \
        == [(f.level, f.code, f.points, f.message) for f in report.findings]
    assert data["refused"] is True
    assert {"nonstandard-type", "disconnected", "check-type", "check-roots",
            "z-flat"} <= {f["code"] for f in data["findings"]}
    # a config whose cell run refuses: its morphology is inspected all the same
    config = tmp_path / "model.yaml"
    config.write_text("cell:\n  name: bad_cell\n  morphology: bad.swc\n")
    table = cellsweep(config)
    assert table.returncode == 1, table.stderr
    assert "cellsweep run refuses this file (errors above)" in table.stdout
    assert table.stdout.startswith(f"{path} (SWC): 12 points; Import3d's sections not computed")
    assert table.stdout == report.table() + "\n"


def test_what_cannot_be_inspected_is_one_line_and_exit_2(tmp_path):
    missing = cellsweep(tmp_path / "absent.swc")
    assert missing.returncode == 2 and missing.stdout == ""
    assert missing.stderr.splitlines() == [
        f"error: {tmp_path / 'absent.swc'}: cannot read the file; No such file or directory"]
    stylised = cellsweep(STYLISED_CONFIG)
    assert stylised.returncode == 2 and stylised.stdout == ""
    [line] = stylised.stderr.splitlines()
    assert line.startswith("error: ") and line.endswith(
        "cell: a stylised cell (2 sections in cell.sections) has no morphology file to inspect")
    bad_plot = cellsweep(EXAMPLE_SWC, "--plot", tmp_path / "cell.svg")
    assert bad_plot.returncode == 2 and bad_plot.stdout == ""
    assert bad_plot.stderr.splitlines() == [
        f"error: --plot {tmp_path / 'cell.svg'}: expected a .png file name"]


def test_the_plot_marks_the_points_of_the_findings(shared_data):
    path = shared_data / "morphologies" / "C031097B-I4.CNG.swc"
    report = inspect_morphology(path)
    points = file_points(path)
    marks = plot_marks(report, points)
    by_code = {code: [f for f in report.findings if f.code == code] for code in marks}
    # a bottleneck: its thin point only; a z backlash: both ends; a jump: every point of it
    assert [p.id for p in marks["bottleneck"]] == [f.points[-1] for f in by_code["bottleneck"]
                                                   if f.points]
    assert [p.id for p in marks["z-backlash"]] == [i for f in by_code["z-backlash"]
                                                   for i in f.points]
    assert len(marks["z-backlash"]) == 2 * len(by_code["z-backlash"]) > 0
    assert len(marks["bottleneck"]) == len(by_code["bottleneck"]) > 0
    assert {p.id for p in marks["jump"]} == {i for f in by_code["jump"] for i in f.points}


def test_validate_names_what_the_inspection_flags(tmp_path):
    """``validate`` accepts a file with a bottleneck (a warning) and says so in one line that
    points to ``cellsweep morphology``; the clean example has no such line."""
    from tests.cells.test_morphology_inspect import clean_cell, ids_of, write_swc

    rows = clean_cell()
    rows[ids_of(rows, 4)[8] - 1][5] = 0.2
    write_swc(tmp_path / "thin.swc", rows)
    config = tmp_path / "thin.yaml"
    config.write_text("cell: {name: thin, morphology: thin.swc, insert: {all: [pas]}}\n"
                      "protocols:\n  p: {tstop_ms: 10, stimuli: {s: {kind: step, amp_nA: 0.1,"
                      " delay_ms: 1, duration_ms: 5}}}\n")
    proc = subprocess.run(cellsweep_command("validate", config), capture_output=True,
                          text=True, env=env(), timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "  morphology findings: bottleneck (cellsweep morphology thin.swc)" in proc.stdout
    example = subprocess.run(cellsweep_command("validate", EXAMPLE_CONFIG), capture_output=True,
                             text=True, env=env(), timeout=120)
    assert example.returncode == 0 and "morphology findings" not in example.stdout
