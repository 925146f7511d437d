"""Profile measures on real NEURON against what they must equal: the analytic single
compartment (R in = 1/(g·area), τ = cm/g, |Z| of an RC circuit), NEURON's own ``Impedance``
class, and spike counts of plain single evaluations."""

import math

import numpy as np
import pytest

from cellsweep.cells import profile_analysis as PA
from cellsweep.cells.evaluate import current_cell, evaluate
from cellsweep.cells.loader import load_model
from cellsweep.cells.profile_run import zap_grid

pytestmark = pytest.mark.neuron

G, CM = 1.0e-4, 1.0          # S/cm², µF/cm²: τ = cm/g = 10 ms

SOMA_SWC = """# a cylinder soma (3-point), radius 10 um
1 1 0 0 0 10 -1
2 1 0 -10 0 10 1
3 1 0 10 0 10 1
"""
DEND_SWC = SOMA_SWC + """4 3 0 10 0 1 1
5 3 0 210 0 1 4
"""


def passive_config(tmp_path, swc: str, extra: str = "", features: str = "",
                   discretisation: str = "{rule: none}") -> object:
    (tmp_path / "cell.swc").write_text(swc)
    path = tmp_path / "passive.yaml"
    path.write_text(f"""
cell:
  name: rc
  morphology: cell.swc
  discretisation: {discretisation}
  insert: {{all: [pas]}}
  fixed: {{g_pas.all: {G}, e_pas.all: -70, cm.all: {CM}, Ra.all: 100, v_init: -70}}
simulation: {{cvode: true, atol: 1.0e-6}}
protocols:
  rest: {{tstop_ms: 10}}
{extra}
features:
{features or '''  - {profile: input_resistance, mean: 100, std: 10}
  - {profile: tau_m, mean: 10, std: 1}
  - {profile: capacitance, mean: 100, std: 10}'''}
""")
    return load_model(path)[0]


def soma_area_cm2(cell) -> float:
    return sum(seg.area() for sec in cell.base["somatic"] for seg in sec) * 1e-8


def test_single_compartment_input_resistance_and_tau(tmp_path):
    model = passive_config(tmp_path, SOMA_SWC)
    result = evaluate(model, {}, fresh=True)
    assert result.status == "ok", result.message
    area = soma_area_cm2(current_cell())
    r_in = 1.0 / (G * area) / 1e6                    # MΩ
    tau = CM / G * 1e-3                              # ms
    assert result.features["input_resistance"] == pytest.approx(r_in, rel=5e-3)
    assert result.features["tau_m"] == pytest.approx(tau, rel=5e-3)
    assert result.features["capacitance"] == pytest.approx(CM * area * 1e6, rel=1e-2)   # pF


def test_two_compartment_input_resistance_equals_neuron_impedance(tmp_path):
    model = passive_config(tmp_path, DEND_SWC)
    result = evaluate(model, {}, fresh=True)
    assert result.status == "ok", result.message
    cell = current_cell()
    h = cell.h
    assert len(list(h.allsec())) == 2
    h.finitialize(-70)
    imp = h.Impedance()
    imp.loc(cell.soma(0.5))
    imp.compute(0, 1)
    expected = imp.input(0.5, sec=cell.soma)
    assert result.features["input_resistance"] == pytest.approx(expected, rel=5e-3)


def test_zap_on_an_rc_compartment_gives_the_analytic_impedance(tmp_path):
    extra = ("profile:\n  zap: {amp_nA: 0.01, f_start_hz: 0.5, f_end_hz: 25, duration_ms: 10000, "
             "delay_ms: 200, after_ms: 500, grid_step_hz: 0.5, sample_dt_ms: 0.25}")
    model = passive_config(tmp_path, SOMA_SWC, extra,
                           "  - {profile: resonance_frequency, mean: 1, std: 1}")
    result = evaluate(model, {}, fresh=True)
    assert result.status == "ok", result.message
    area = soma_area_cm2(current_cell())
    grid = np.asarray(zap_grid(model.experiment("zap")))
    measured = np.asarray(result.curves["zap.impedance"])
    keep = (grid >= 1) & (grid <= 20)
    r_ohm, c_farad = 1.0 / (G * area), CM * 1e-6 * area
    analytic = 1.0 / np.abs(1.0 / r_ohm + 1j * 2 * np.pi * grid[keep] * c_farad) / 1e6
    assert np.max(np.abs(measured[keep] / analytic - 1)) < 0.01
    # an RC circuit does not resonate: the peak is at the lowest analysed frequency
    assert result.features["resonance_frequency"] <= 1.0


def test_rheobase_lies_in_its_bracket_and_one_tolerance_below_does_not_fire(tiny_model):
    model = tiny_model("""
  - {profile: rheobase, mean: 0.1, std: 0.05}
  - {profile: rheobase_bracket_low, mean: 0.1, std: 0.05}
  - {profile: rheobase_simulations, mean: 10, std: 5}""")
    result = evaluate(model, {}, fresh=True)
    assert result.status == "ok", result.message
    r, low = result.features["rheobase"], result.features["rheobase_bracket_low"]
    tol = model.experiment("rheobase").get("tolerance_nA")
    assert low < r <= low + tol + 1e-12
    sims = result.features["rheobase_simulations"]
    assert sims <= math.ceil(math.log2(0.5 / tol)) + 2
    counts = [_spike_count(tiny_model, a) for a in (r - tol, r)]
    assert counts[0] == 0 and counts[1] >= 1


def _spike_count(tiny_model, amp):
    model = tiny_model(f"""
  - {{profile: spike_count, experiment: {{amp_nA: {amp!r}}}, mean: 1, std: 1}}""",
                       spiking=True)
    result = evaluate(model, {})
    return next(v for k, v in result.features.items() if k.startswith("spike_count"))


def test_fi_curve_equals_a_loop_of_single_evaluations(tiny_model, tmp_path):
    """The FI curve inside one evaluation equals, bit for bit, single evaluations of a plain
    step protocol at each amplitude counted with the same spike rule."""
    model = tiny_model("  - {profile: fi_curve, mean: [0, 10, 20, 30], std: 5}")
    result = evaluate(model, {}, fresh=True)
    assert result.status == "ok", result.message
    exp = model.experiment("fi")
    rates = []
    for amp in exp.get("amplitudes_nA"):
        plain = tiny_model("  - {protocol: step, efel: Spikecount, mean: 1, std: 1}",
                           step_amp=amp)
        traces = evaluate(plain, {}, traces=True).traces["step"]["soma"]
        rates.append(PA.spike_rate(*traces, threshold_mV=exp.get("threshold_mV"),
                                   start_ms=exp.get("delay_ms"),
                                   end_ms=exp.get("delay_ms") + exp.get("duration_ms"))[1])
    curve = [result.features[f"fi_curve@{a:g}nA"] for a in exp.get("amplitudes_nA")]
    assert curve == rates
    assert rates[0] == 0 and rates[-1] > rates[1] > 0


@pytest.fixture
def tiny_model(tmp_path):
    """The tiny ball-and-stick (HH soma) with a profile section and the features given."""
    import shutil

    from tests.helpers import DATA

    shutil.copy(DATA / "tiny" / "ball_stick.swc", tmp_path / "ball_stick.swc")

    def make(features: str, step_amp: float = 0.3, spiking: bool = False):
        path = tmp_path / f"tiny_{abs(hash((features, step_amp)))}.yaml"
        path.write_text(f"""
cell:
  name: tiny_ball_stick
  morphology: ball_stick.swc
  insert: {{somatic: [hh], basal: [pas]}}
  fixed: {{celsius: 6.3, Ra.all: 100, cm.all: 1.0, g_pas.basal: 1.0e-4, e_pas.basal: -65}}
protocols:
  step:
    tstop_ms: 250
    stimuli:
      stim: {{kind: step, amp_nA: {step_amp!r}, delay_ms: 20, duration_ms: 200}}
profile:
  fi: {{amplitudes_nA: [0.0, 0.1, 0.2, 0.4], delay_ms: 20, duration_ms: 200, after_ms: 30}}
  rheobase: {{low_nA: 0.0, high_nA: 0.5, tolerance_nA: 0.001, delay_ms: 20, duration_ms: 200,
              after_ms: 30}}
  spiking: {{delay_ms: 20, duration_ms: 200, after_ms: 30}}
features:
{features}
""")
        return load_model(path)[0]

    return make


IH_SCRIPT = """
import json, sys
import numpy as np
from cellsweep.cells.evaluate import current_cell, evaluate
from cellsweep.cells.loader import load_model
model = load_model(sys.argv[1])[0]
result = evaluate(model, {})
cell = current_cell()
h = cell.h
h.finitialize(-70)
h.cvode_active(0)
h.dt = 0.025
while h.t < 1500:          # the resting state the chirp starts from (Ih activates slowly)
    h.fadvance()
seg = cell.soma(0.5)
imp = h.Impedance()
imp.loc(seg)
imp.compute(0.0, 1)
z_0 = imp.input(seg.x, sec=seg.sec)
# the channel linearised at rest with its own rates: Y = iwC + gL + gh + gx / (1 + iw tau)
v0 = seg.v
def rates(v):
    h.setdata_ih(seg)
    h.rates_ih(v)
    return seg.ih.m_inf, seg.ih.tau_m
m0, tau = rates(v0)
dm = (rates(v0 + 1e-4)[0] - rates(v0 - 1e-4)[0]) / 2e-4
area = seg.area() * 1e-8
gbar = seg.ih.gbar
freqs = np.asarray(model.experiment("zap").get("grid_step_hz") * np.arange(1, 200))
y = (1j * 2 * np.pi * freqs * seg.cm * 1e-6 * area + seg.pas.g * area + gbar * m0 * area
     + gbar * (v0 - seg.ih.ehcn) * dm * area / (1 + 2j * np.pi * freqs * tau * 1e-3))
from cellsweep.cells.profile_run import zap_grid
grid = np.asarray(zap_grid(model.experiment("zap")))
chirp = np.asarray(result.curves["zap.impedance"], dtype=float)
keep = (grid >= 1) & (grid <= 12)
linear = np.interp(grid[keep], freqs, np.abs(1 / y) / 1e6)
f = result.features["resonance_frequency"]
print(json.dumps({"status": result.status, "f": f, "peak": result.features["peak_impedance"],
                  "f_linear": float(freqs[np.argmax(np.abs(1 / y))]),
                  "peak_linear": float(np.max(np.abs(1 / y)) / 1e6),
                  "z_0": z_0, "z0_linear": float(1 / (seg.pas.g * area + gbar * m0 * area
                                                      + gbar * (v0 - seg.ih.ehcn) * dm * area)
                                                 / 1e6),
                  "worst": float(np.max(np.abs(chirp[keep] / linear - 1)))}))
"""


@pytest.mark.slow
def test_a_cell_with_ih_resonates_where_neuron_impedance_says(tmp_path):
    """A compartment with Ih (the example's own channel) resonates above 1 Hz under the chirp,
    and the chirp's |Z| from 1 to 12 Hz, its resonance and peak equal the channel linearised at
    rest with its own rates (Y = iωC + g_L + g_h + g_x / (1 + iωτ)); at 0 Hz that
    linearisation equals NEURON's Impedance. NEURON 9's extended Impedance at f > 0 is not the
    reference: for this channel (and for hh) |Z| falls monotonically, as if the gates were
    instantaneous (docs/PROFILES.md). Run in its own process: it loads the example's
    mechanisms."""
    import json
    import subprocess
    import sys

    from tests.helpers import env

    repo = __import__("pathlib").Path(__file__).resolve().parents[2]
    (tmp_path / "cell.swc").write_text(SOMA_SWC.replace(" 10 ", " 30 ").replace("-10", "-30"))
    path = tmp_path / "ih.yaml"
    path.write_text(f"""
cell:
  name: ih_cell
  morphology: cell.swc
  mechanisms_dir: {repo / 'mechanisms' / 'example'}
  discretisation: {{rule: none}}
  insert: {{all: [pas, ih]}}
  fixed: {{g_pas.all: 3.0e-5, e_pas.all: -70, cm.all: 1.0, Ra.all: 100, v_init: -70,
          gbar_ih.all: 1.0e-3, celsius: 34}}
simulation: {{cvode: true, atol: 1.0e-6}}
protocols:
  rest: {{tstop_ms: 10}}
profile:
  zap: {{amp_nA: 0.002, f_start_hz: 0.2, f_end_hz: 15, duration_ms: 20000, delay_ms: 1500,
         after_ms: 500, grid_step_hz: 0.1, sample_dt_ms: 0.5}}
features:
  - {{profile: resonance_frequency, mean: 3, std: 1}}
  - {{profile: peak_impedance, mean: 100, std: 10}}
""")
    (tmp_path / "script.py").write_text(IH_SCRIPT)
    proc = subprocess.run([sys.executable, str(tmp_path / "script.py"), str(path)],
                          capture_output=True, text=True, env=env(), timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    print(out)
    assert out["status"] == "ok"
    assert out["f"] > 1.0
    assert out["worst"] < 0.01
    assert out["f"] == pytest.approx(out["f_linear"], abs=0.2)
    assert out["peak"] == pytest.approx(out["peak_linear"], rel=0.01)
    assert out["z_0"] == pytest.approx(out["z0_linear"], rel=1e-3)


def test_passive_at_a_dendritic_site_equals_the_local_input_resistance(tmp_path):
    """``profile.location`` moves the passive step onto the dendrite: its R in there equals
    NEURON's Impedance at 0 Hz at the same segment (the dendrite experiment's
    ``local_input_resistance``), on a passive cell."""
    extra = ("profile:\n  passive: {location: {region: basal, distance_um: 150}}\n"
             "  dendrite: {region: basal, step_um: 50, max_um: 200}")
    model = passive_config(tmp_path, DEND_SWC, extra, """\
  - {profile: input_resistance, mean: 100, std: 10}
  - {profile: local_input_resistance, distance_um: 150, mean: 100, std: 10}
  - {profile: input_resistance, experiment: {location: soma}, mean: 100, std: 10,
     name: soma_input_resistance}""", discretisation="{rule: length, length_um: 10}")
    result = evaluate(model, {}, fresh=True)
    assert result.status == "ok", result.message
    local = result.features["local_input_resistance@150um"]
    assert result.features["input_resistance"] == pytest.approx(local, rel=5e-3)
    assert result.features["input_resistance"] > result.features["soma_input_resistance"]


def test_a_profile_location_that_is_not_on_the_cell_is_refused(tmp_path):
    from cellsweep.cells.errors import ConfigError
    from cellsweep.launch.checks import check_before_run

    extra = "profile:\n  zap: {location: {region: apical, distance_um: 100}}"
    model = passive_config(tmp_path, SOMA_SWC, extra,
                           "  - {profile: resonance_frequency, mean: 1, std: 1}")
    with pytest.raises(ConfigError) as err:
        check_before_run(model, print_warnings=False)
    assert any("profile.zap.location" in p and "apical" in p for p in err.value.problems)
