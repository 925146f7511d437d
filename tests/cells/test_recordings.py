"""Reading current-clamp sweeps: text columns by name or number, one column and a sampling
rate, units, multi-sweep CSVs, the protocol description; the shared SSCx files (CSV and Igor
give the same sweeps) and the hippocampus NWB file (BluePyEfe's NWB reader)."""

import numpy as np
import pytest
import yaml

from cellsweep.cells.errors import ConfigError
from cellsweep.cells.recordings import read_sweeps
from cellsweep.cells.targets_config import TargetsConfig, read_targets_config
from tests.recordings_helpers import DT_MS, FAMILY_CONFIG, family, sweep, write_csv

SSCX = "traces/sscx_C060109A1-SR-C1"
SSCX_SWEEPS = ("326", "329", "333", "337")


def options(text: str = "") -> TargetsConfig:
    return read_targets_config(yaml.safe_load(text) or {}, "small.yaml")


def read(paths, text: str = ""):
    o = options(text)
    return read_sweeps([str(p) for p in paths], o.recordings, o.stimulus)


def test_time_and_voltage_columns_by_default(tmp_path):
    t, v, _ = sweep(0.2, 3)
    path = write_csv(tmp_path / "two.txt", {"t": t, "v": v}, header=False, delimiter=" ")
    [s] = read([path], "stimulus: {delay_ms: 100, duration_ms: 400, amp_nA: 0.2}")
    assert s.dt_ms == pytest.approx(DT_MS)
    assert np.array_equal(s.voltage_mV, np.round(v, 6))
    # the described step became the current
    assert s.current_nA[int(150 / DT_MS)] == pytest.approx(0.2)
    assert s.current_nA[0] == 0.0 and s.amp_nA == 0.2


def test_columns_by_name_with_units(tmp_path):
    t, v, i = sweep(0.2, 3)
    path = write_csv(tmp_path / "si.csv", {"I (pA)": i * 1e3, "Vm": v / 1e3, "time": t / 1e3})
    [s] = read([path], """
recordings:
  time_column: time
  voltage_column: Vm
  current_column: I (pA)
  units: {time: s, voltage: V, current: pA}
""")
    assert s.dt_ms == pytest.approx(DT_MS)
    assert np.allclose(s.voltage_mV, v, atol=1e-3)
    assert np.allclose(s.current_nA, i, atol=1e-6)


def test_one_column_and_a_sampling_rate(tmp_path):
    _, v, _ = sweep(0.2, 3)
    path = write_csv(tmp_path / "v.csv", {"V": v})
    [s] = read([path], """
recordings: {sampling_rate_hz: 10000}
stimulus: {delay_ms: 100, duration_ms: 400, amp_nA: 0.2, holding_nA: -0.01}
""")
    assert s.dt_ms == pytest.approx(0.1)
    assert s.current_nA[0] == pytest.approx(-0.01)


def test_sweeps_of_one_file_by_pattern(tmp_path):
    sweeps = read([family(tmp_path / "family.csv")], FAMILY_CONFIG)
    assert [s.name for s in sweeps] == ["1", "2", "3", "4"]
    assert [round(s.current_nA[int(300 / DT_MS)], 6) for s in sweeps] == [0.1, 0.2, 0.3, 0.4]


def test_amplitudes_per_sweep_must_match_the_sweep_count(tmp_path):
    _, v, _ = sweep(0.2, 3)
    paths = [write_csv(tmp_path / f"v{k}.csv", {"V": v}) for k in range(3)]
    with pytest.raises(ConfigError, match=r"stimulus.amp_nA: 2 values for 3 sweeps"):
        read(paths, "recordings: {sampling_rate_hz: 10000}\n"
                    "stimulus: {delay_ms: 100, duration_ms: 400, amp_nA: [0.1, 0.2]}")


def test_every_bad_file_is_reported_at_once(tmp_path):
    t, v, i = sweep(0.2, 3)
    good = write_csv(tmp_path / "good.csv", {"t": t, "v": v, "i": i})
    v_nan = v.copy()
    v_nan[10] = np.nan
    nan = write_csv(tmp_path / "nan.csv", {"t": t, "v": v_nan, "i": i})
    back = write_csv(tmp_path / "back.csv", {"t": t[::-1], "v": v, "i": i})
    with pytest.raises(ConfigError) as err:
        read([good, nan, back, tmp_path / "missing.csv"],
             "recordings: {current_column: 2}")
    lines = err.value.problems
    assert len(lines) == 3
    assert lines[0].startswith(f"{nan}: voltage has 1 NaN")
    assert lines[1].startswith(f"{back}: time does not increase")
    assert lines[2] == f"{tmp_path / 'missing.csv'}: file not found"


def test_config_problems_name_the_config():
    with pytest.raises(ConfigError) as err:
        options("recordings: {units: {voltage: mv2}, voltage_column: -1}\n"
                "grouping: {by: relatve}\nfeatures: [Spikecont]")
    assert err.value.problems == [
        "small.yaml: recordings.voltage_column: expected a column name or a column number (0 "
        "for the first), found a number -1",
        "small.yaml: recordings.units.voltage: unknown voltage unit 'mv2'; expected one of mV, "
        "V, uV",
        "small.yaml: grouping.by: unknown value 'relatve'; expected one of relative, absolute; "
        "did you mean 'relative'?",
        "small.yaml: features[0]: unknown eFEL feature 'Spikecont' (the full list: "
        "efel.get_feature_names())"]


def test_sscx_csv_and_igor_files_give_the_same_sweeps(shared_data):
    folder = shared_data / SSCX
    csv_sweeps = read([folder / "C060109A1-SR-C1_IDrest.csv"],
                      "recordings: {voltage_column: 'V_mV_{sweep}', current_column: "
                      "'I_nA_{sweep}'}")
    # voltage files only: each finds its current file (ch0 beside ch1); giving both is the same
    igor = read([folder / f"X_IDrest_ch1_{n}.ibw" for n in SSCX_SWEEPS])
    both = read(sorted(folder.glob("*.ibw")))
    assert [s.name for s in csv_sweeps] == list(SSCX_SWEEPS)
    assert [s.name for s in igor] == [s.name for s in both] == [f"X_IDrest_ch1_{n}"
                                                                for n in SSCX_SWEEPS]
    for c, g in zip(csv_sweeps, igor):
        assert c.dt_ms == g.dt_ms == 0.25
        # the CSV was written from these waves with 5 (mV) and 6 (nA) decimals
        assert np.max(np.abs(c.voltage_mV - g.voltage_mV)) < 1e-5
        assert np.max(np.abs(c.current_nA - g.current_nA)) < 1e-6


def test_hippocampus_nwb_file_is_read(shared_data):
    """16 sweeps of 716.8 ms at 10 kHz, steps of -2.0 + 0.2 (k - 1) nA. The baseline is about
    -15 mV instead of about -70 mV: an offset in the file (README: likely +55-60 mV), kept as
    it is (give it as a liquid junction potential to correct it)."""
    [path] = (shared_data / "traces/hippocampus_hub").glob("*.nwb")
    sweeps = read([path])
    assert [s.name for s in sweeps] == [f"ic__Step__{k}" for k in range(1, 17)]
    for k, s in enumerate(sweeps, start=1):
        assert s.dt_ms == pytest.approx(0.1) and s.voltage_mV.size == 7168
        step = np.median(s.current_nA[int(100 / 0.1):int(400 / 0.1)])
        assert step == pytest.approx(-2.0 + 0.2 * (k - 1), abs=1e-6)
    baseline = np.median([np.median(s.voltage_mV[:300]) for s in sweeps])
    assert -20 < baseline < -10
