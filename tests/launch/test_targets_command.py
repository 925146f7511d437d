"""``cellsweep targets``: every kind of bad recording is one line naming the file, exit 2, and
nothing written; on the shared SSCx recordings it writes a targets file (and BluePyOpt's JSON)
that ``cellsweep validate`` accepts in a config with the bundled example cell."""

import os

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from cellsweep.launch.cli import main
from tests.recordings_helpers import FAMILY_CONFIG, family, sweep, write_csv

SSCX = "traces/sscx_C060109A1-SR-C1"


def cellsweep(*args, cwd):
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    finally:
        os.chdir(old)


def csv_with(path, **change):
    """A one-sweep CSV (time, V, I) with some columns replaced."""
    t, v, i = sweep(0.3, 5)
    columns = {"time_ms": t, "V": v, "I": i}
    columns.update(change)
    return write_csv(path, columns)


PLAIN = "recordings: {voltage_column: V, current_column: I}\n"


def _bad_cases(folder):
    """name -> (files, small config text, what the one line says)."""
    t, v, i = sweep(0.3, 5)
    nan_v = v.copy()
    nan_v[100] = np.nan
    (folder / "header_only.csv").write_text("time_ms,V,I\n")
    (folder / "words.csv").write_text("time_ms,V,I\n0,-70,0\n0.1,abc,0\n0.2,-70,0\n")
    family(folder / "family.csv")
    return {
        "missing column": (csv_with(folder / "a.csv"), "recordings: {voltage_column: Vm}",
                           "recordings.voltage_column: unknown column 'Vm'; the columns are "
                           "time_ms, V, I"),
        "unknown column number": (csv_with(folder / "b.csv"), "recordings: {current_column: 7}",
                                  "recordings.current_column: no column 7; the file has 3"),
        "time not increasing": (csv_with(folder / "c.csv", time_ms=np.r_[t[:50], t[49:-1]]),
                                PLAIN, "time does not increase"),
        "uneven sampling": (csv_with(folder / "d.csv", time_ms=t ** 1.01), PLAIN,
                            "time steps vary"),
        "NaN": (csv_with(folder / "e.csv", V=nan_v), PLAIN,
                "voltage has 1 NaN or infinite value(s), the first at sample 101"),
        "not a number": (folder / "words.csv", PLAIN, "column 'V', sample 2: 'abc' is not a number"),
        "empty sweep": (folder / "header_only.csv", PLAIN, "empty sweep: a header and no samples"),
        "sampling rate": (csv_with(folder / "f.csv"), "recordings: {voltage_column: V, "
                          "current_column: I, time_column: 0, sampling_rate_hz: 20000}",
                          "recordings.sampling_rate_hz 20000 Hz (an interval of 0.05 ms) does "
                          "not match the time column (an interval of 0.1 ms, 10000 Hz)"),
        "no current": (csv_with(folder / "g.csv"), "recordings: {voltage_column: V}",
                       "no current recorded and no stimulus description"),
        "missing file": (folder / "nothere.csv", PLAIN, "file not found"),
        "no rheobase": (csv_with(folder / "h.csv", V=np.full_like(v, -70.0)), PLAIN,
                        "amplitudes cannot be grouped relative to the rheobase: no sweep has a "
                        "spike"),
        "two targets": (folder / "family.csv", FAMILY_CONFIG + "grouping: {by: absolute, "
                        "amplitudes: [0.15, 0.25], tolerance: 0.1}",
                        "amplitude 0.2 nA is within 0.1 of targets 0.15, 0.25; amplitudes "
                        "cannot be grouped"),
        "no sweep for a target": (folder / "family.csv", FAMILY_CONFIG + "grouping: "
                                  "{amplitudes: [100, 400]}",
                                  "grouping.amplitudes: no sweep within 10 of 400 % of rheobase"),
        "unknown unit": (csv_with(folder / "i.csv"), "recordings: {voltage_column: V, "
                         "current_column: I, units: {current: nanoamps}}",
                         "recordings.units.current: unknown current unit 'nanoamps'; expected "
                         "one of nA, pA, A, uA, mA"),
    }


CASES = ["missing column", "unknown column number", "time not increasing", "uneven sampling",
         "NaN", "not a number", "empty sweep", "sampling rate", "no current", "missing file",
         "no rheobase", "two targets", "no sweep for a target", "unknown unit"]


@pytest.mark.parametrize("case", CASES)
def test_a_bad_recording_is_one_line_and_nothing_is_written(tmp_path, case):
    path, text, expected = _bad_cases(tmp_path)[case]
    small = tmp_path / "small.yaml"
    small.write_text(text)
    result = cellsweep("targets", path.name, "--config", "small.yaml", "-o", "out/t.yaml",
                       "--bluepyopt-json", "json", cwd=tmp_path)
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, lines
    names_config = ("unknown unit", "no sweep for a target", "no rheobase")
    named = "small.yaml" if case in names_config else path.name
    assert lines[0].startswith(f"error: {named}: ")
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "json").exists()


def test_an_existing_output_is_kept_on_bad_input(tmp_path):
    out = tmp_path / "t.yaml"
    out.write_text("old\n")
    csv_with(tmp_path / "a.csv")
    (tmp_path / "small.yaml").write_text(PLAIN)
    result = cellsweep("targets", "a.csv", "nothere.csv", "-c", "small.yaml", "-o", "t.yaml",
                       cwd=tmp_path)
    assert result.exit_code == 2
    assert result.stderr == "error: nothere.csv: file not found\n"
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "small.yaml", "t.yaml"]


SSCX_SMALL = """
recordings: {voltage_column: "V_mV_{sweep}", current_column: "I_nA_{sweep}"}
stimulus: {delay_ms: 700, duration_ms: 2000}
protocol: IDrest
liquid_junction_potential_mV: 14
threshold_mV: -30
features: [Spikecount, mean_frequency, time_to_first_spike, AP_amplitude, AHP_depth_abs,
           voltage_base, steady_state_voltage]
"""


def test_sscx_targets_are_accepted_by_validate(tmp_path, shared_data, repo):
    (tmp_path / "small.yaml").write_text(SSCX_SMALL)
    recording = shared_data / SSCX / "C060109A1-SR-C1_IDrest.csv"
    result = cellsweep("targets", recording, "--config", "small.yaml", "-o", "sscx.yaml",
                       "--bluepyopt-json", "json", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    # the rheobase by BluePyEfe's rule on these four sweeps: 329 (0.293 nA, 10 spikes)
    assert "rheobase 0.293437 nA (the lowest amplitude with a spike)" in result.output
    written = yaml.safe_load((tmp_path / "sscx.yaml").read_text())
    assert list(written["protocols"]) == ["IDrest_62", "IDrest_100", "IDrest_150", "IDrest_201"]
    assert sorted(p.name for p in (tmp_path / "json").iterdir()) == ["features.json",
                                                                     "protocols.json"]
    example = yaml.safe_load((repo / "configs/example/example.yaml").read_text())
    cell = example["cell"]
    cell["morphology"] = str(repo / "configs/example" / cell["morphology"])
    cell["mechanisms_dir"] = str(repo / "mechanisms/example")
    (tmp_path / "fit.yaml").write_text(yaml.safe_dump({"cell": cell, "targets": "sscx.yaml"}))
    result = cellsweep("validate", "fit.yaml", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "4 protocols: IDrest_62, IDrest_100, IDrest_150, IDrest_201" in result.output
    assert f"{len(written['features'])} features" in result.output


@pytest.mark.neuron
def test_a_results_file_holds_the_targets_files_it_was_run_with(tmp_path):
    """A campaign on a config with ``targets:`` keeps those files' text beside the config's,
    so the results file alone says what it was fitted to."""
    import json
    import shutil

    from cellsweep.sweep.store import ResultsFile
    from tests.helpers import DATA, run_cellsweep

    (tmp_path / "tiny").mkdir()
    shutil.copy(DATA / "tiny" / "ball_stick.swc", tmp_path / "tiny" / "ball_stick.swc")
    shutil.copytree(DATA / "recordings" / "targets", tmp_path / "recordings" / "targets")
    config = tmp_path / "recordings" / "sweep.yaml"
    config.write_text((DATA / "recordings" / "with_targets.yaml").read_text() + """
sweep:
  design: grid
  parameters: {gnabar_hh.somatic: {values: [0.1, 0.12]}}
run: {progress: none}
""")
    out = tmp_path / "sweep.h5"
    run_cellsweep("run", config, "-o", out, "--backend", "serial")
    included = json.loads(ResultsFile(out).metadata()["included_files"])
    text = (tmp_path / "recordings" / "targets" / "step_targets.yaml").read_text()
    assert included == {"targets/step_targets.yaml": text}
