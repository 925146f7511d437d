"""Profile plots drawn from real files: a profile of the tiny ball-and-stick cell (every
experiment kind, short protocols) and a small sweep with profile features. The PNGs exist and
are not blank, and the lines drawn hold the file's numbers."""

import os
import subprocess

import numpy as np
import pytest

from cellsweep.launch import plots
from cellsweep.sweep.store import ResultsFile
from tests.helpers import cellsweep_command, copy_tiny, env, run_cellsweep

pytestmark = pytest.mark.neuron

PROFILE = """
profile:
  passive: {delay_ms: 20, duration_ms: 100, after_ms: 20, baseline_ms: 10, steady_ms: 20}
  fi: {amplitudes_nA: [0.0, 0.1, 0.3, 0.6], delay_ms: 20, duration_ms: 100, after_ms: 10}
  rheobase: {delay_ms: 20, duration_ms: 100, after_ms: 10, tolerance_nA: 0.005}
  zap: {f_start_hz: 1, f_end_hz: 20, duration_ms: 1000, delay_ms: 50, grid_step_hz: 1}
  dendrite: {region: basal, step_um: 50, max_um: 150, amp_nA: 2.0, delay_ms: 10, after_ms: 20}
"""

SWEEP_FEATURES = """
features:
  - {profile: fi_curve, mean: [0, 50, 90, 110], std: 5}
  - {profile: resonance_frequency, mean: 10, std: 2}
  - {profile: bap_amplitude, distance_um: 100, mean: 80, std: 10}
sweep:
  design: grid
  parameters:
    gkbar_hh.somatic: {linspace: [0.02, 0.05, 3]}
"""


def tiny_with(folder, text: str):
    """The tiny config with its features and sweep replaced by ``text``."""
    config = copy_tiny(folder)
    head, _, rest = config.read_text().partition("features:")
    run = rest[rest.index("run:"):]
    config.write_text(head + text + run)
    return config


@pytest.fixture(scope="module")
def profile_file(tmp_path_factory):
    """``cellsweep profile`` as a user runs it, plots on: (results file, its plot folder)."""
    folder = tmp_path_factory.mktemp("profile")
    config = tiny_with(folder, PROFILE)
    out = folder / "tiny_profile.h5"
    proc = subprocess.run(cellsweep_command("profile", config, "-o", out, "--backend", "serial"),
                          capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in env().items() if k != "CELLSWEEP_NO_PLOTS"})
    assert proc.returncode == 0, proc.stderr
    assert "plot written to" in proc.stdout
    return out, folder / "tiny_profile_plots"


@pytest.fixture(scope="module")
def sweep_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    config = tiny_with(folder, PROFILE + SWEEP_FEATURES)
    run_cellsweep("run", config, "--backend", "serial")
    return folder / "tiny.h5"


def assert_png(path):
    import matplotlib.image

    assert path.is_file(), path
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].var() > 1e-3, f"{path} looks blank"


def lines_by_gid(fig) -> dict:
    return {line.get_gid(): line for ax in fig.axes for line in ax.get_lines() if line.get_gid()}


def row_of(curve) -> np.ndarray:
    """The one row of a profile file that holds this curve (its experiment's)."""
    (row,) = np.flatnonzero(np.isfinite(curve["values"]).any(axis=1))
    return curve["values"][row]


def test_profile_command_writes_every_panel(profile_file, tmp_path):
    out, written = profile_file
    names = {"profile_passive.png", "profile_fi.png", "profile_impedance.png",
             "profile_dendrite.png"}
    assert {p.name for p in written.iterdir()} == names
    for name in names:
        assert_png(written / name)
    again = plots.plot_campaign(out, tmp_path)           # what ``cellsweep plot FILE`` does
    assert {p.name for p in again} == names


def test_profile_figures_draw_the_file(profile_file):
    out, _ = profile_file
    f = ResultsFile(out)
    group, curves = f.profile(), f.curves()
    measures = dict(zip([n.decode() if isinstance(n, bytes) else n
                         for n in group["measures"]["names"]], group["measures"]["values"]))
    figures = plots.draw_profile(out)
    try:
        fi = lines_by_gid(figures["fi"])
        np.testing.assert_array_equal(fi["fi"].get_xdata(), group["fi"]["amplitudes_nA"])
        np.testing.assert_array_equal(fi["fi"].get_ydata(), group["fi"]["rates_Hz"])
        assert fi["rheobase"].get_xdata()[0] == measures["rheobase"]
        bracket = fi["rheobase_bracket"].get_xdata()
        assert min(bracket) == measures["rheobase_bracket_low"]
        assert max(bracket) == measures["rheobase"]

        passive = lines_by_gid(figures["passive"])
        for name in ("passive.v", "passive.fit", "passive.fit_exp2"):
            np.testing.assert_array_equal(passive[name].get_ydata(), row_of(curves[name]))
        legend = [t.get_text() for t in figures["passive"].axes[1].get_legend().get_texts()]
        assert any(f"{measures['tau_m']:.3g} ms" in t for t in legend)
        assert any(f"{measures['tau_m_exp2']:.3g} ms" in t for t in legend)

        zap = lines_by_gid(figures["impedance"])
        np.testing.assert_array_equal(zap["zap.impedance"].get_xdata(),
                                      curves["zap.impedance"]["x"])
        np.testing.assert_array_equal(zap["zap.impedance"].get_ydata(),
                                      row_of(curves["zap.impedance"]))
        np.testing.assert_array_equal(zap["zap.phase"].get_ydata(), row_of(curves["zap.phase"]))
        if np.isfinite(measures["resonance_frequency"]):
            assert zap["resonance"].get_xdata()[0] == measures["resonance_frequency"]
        else:       # the tiny HH cell's |Z| still rises at f_end: no resonance in the band
            assert "resonance" not in zap
            texts = [t.get_text() for t in figures["impedance"].axes[0].texts]
            assert any("no resonance inside the band" in t for t in texts)
        assert figures["impedance"].axes[0].get_ylabel() == "|Z| (MOhm)"

        dendrite = lines_by_gid(figures["dendrite"])
        for name in ("bap_amplitude", "bap_delay", "local_input_resistance"):
            c = curves[f"dendrite.{name}"]
            np.testing.assert_array_equal(dendrite[f"dendrite.{name}"].get_ydata(), row_of(c))
            at = [m for m in measures if m.startswith(f"{name}@")]
            assert sorted(float(m.split("@")[1][:-2]) for m in at) == list(c["x"])
    finally:
        plots._pyplot().close("all")


def test_sweep_with_profile_features_plots_families(sweep_file, tmp_path):
    written = plots.plot_campaign(sweep_file, tmp_path)
    names = {p.name for p in written}
    assert {"response_curves.png", "family_fi.png", "family_zap.png",
            "family_dendrite.png"} <= names
    for path in written:
        assert_png(path)

    f = ResultsFile(sweep_file)
    frame = f.frame()
    data = plots.family_data(sweep_file)
    amps = [0.0, 0.1, 0.3, 0.6]
    np.testing.assert_array_equal(data["fi"]["x"], amps)
    np.testing.assert_array_equal(
        data["fi"]["rows"], frame[[f"fi_curve@{a:g}nA" for a in amps]].to_numpy())
    np.testing.assert_array_equal(data["fi"]["colour"], frame["gkbar_hh.somatic"].to_numpy())
    assert data["fi"]["colour_label"] == "gkbar_hh.somatic (S/cm2)"
    np.testing.assert_array_equal(data["zap.impedance"]["rows"],
                                  f.curves()["zap.impedance"]["values"])

    figures = plots.draw_families(sweep_file)
    try:
        ax = figures["family_fi"].axes[0]
        (lines,) = [c for c in ax.collections if c.get_gid() == "fi"]
        drawn = np.array([segment[:, 1] for segment in lines.get_segments()])
        np.testing.assert_array_equal(drawn, data["fi"]["rows"])
        np.testing.assert_array_equal(lines.get_array(), frame["gkbar_hh.somatic"].to_numpy())
        colourbar = figures["family_fi"].axes[-1]
        assert colourbar.get_ylabel() == "gkbar_hh.somatic (S/cm2)"
    finally:
        plots._pyplot().close("all")


def test_a_sweep_without_profile_features_has_no_families(tmp_path):
    config = copy_tiny(tmp_path)
    run_cellsweep("run", config, "--backend", "serial")
    assert plots.plot_families(tmp_path / "tiny.h5", tmp_path / "plots") == []
    assert not os.path.exists(tmp_path / "plots" / "family_fi.png")
