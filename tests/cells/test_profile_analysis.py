"""The profile measures on synthetic traces whose answers are known in closed form."""

import dataclasses
import math

import numpy as np
import pytest
from scipy.linalg import expm
from scipy.optimize import brentq, minimize_scalar
from scipy.signal import lfilter, ss2tf

from cellsweep.cells import profile_analysis as pa

DELAY, DUR, AMP, R, TAU, V_REST = 100.0, 400.0, -0.1, 150.0, 20.0, -70.0


def step_response(deflection, dt=0.025, t_end=600.0):
    """A trace at V_REST that follows V_REST + deflection(t - DELAY) from the step's onset."""
    t = np.arange(0.0, t_end, dt)
    x = np.clip(t - DELAY, 0.0, None)
    return t, np.where(t < DELAY, V_REST, V_REST + deflection(x))


def charging(x):
    return AMP * R * (1 - np.exp(-x / TAU))


def same(a, b):
    """Bit-for-bit equality of results (dataclasses, tuples, arrays, floats with NaN)."""
    if dataclasses.is_dataclass(a):
        return all(same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.tobytes() == b.tobytes()


# --- passive ----------------------------------------------------------------------------------

def test_exact_exponential_gives_rest_resistance_tau_and_capacitance():
    t, v = step_response(charging)
    p = pa.passive(t, v, delay_ms=DELAY, duration_ms=DUR, amp_nA=AMP)
    assert p.v_rest == pytest.approx(V_REST, rel=1e-6)
    assert p.input_resistance == pytest.approx(R, rel=1e-6)
    assert p.tau.tau_ms == pytest.approx(TAU, rel=1e-6)
    assert p.tau_exp2.tau_ms == pytest.approx(TAU, rel=1e-6)   # the empty component is ignored
    assert p.capacitance == pytest.approx(1e3 * TAU / R, rel=1e-6)  # pF
    assert p.tau.params == pytest.approx((V_REST + AMP * R, V_REST, TAU), rel=1e-6)
    assert p.tau.r_squared > 1 - 1e-9 and p.tau.rmse_mV < 1e-6
    assert p.sag == pytest.approx(0.0, abs=1e-6) and p.sag_ratio == pytest.approx(0, abs=1e-6)
    assert p.windows == {"baseline": (90.0, 100.0), "steady": (460.0, 500.0),
                         "fit": (100.0, 500.0), "fit_exp2": (100.0, 500.0)}
    assert p.tau.t_ms[0] == DELAY and p.tau.v_fit.shape == p.tau.t_ms.shape


def test_sag_is_measured_and_exp2_recovers_both_time_constants():
    a, b, tau_m, tau_h = -20.0, 5.0, 15.0, 50.0
    t, v = step_response(lambda x: a * (1 - np.exp(-x / tau_m)) + b * (1 - np.exp(-x / tau_h)),
                         dt=0.05, t_end=1200.0)
    p = pa.passive(t, v, delay_ms=DELAY, duration_ms=1000.0, amp_nA=AMP)
    x_peak = math.log(-a * tau_h / (b * tau_m)) / (1 / tau_m - 1 / tau_h)
    v_peak = V_REST + a * (1 - math.exp(-x_peak / tau_m)) + b * (1 - math.exp(-x_peak / tau_h))
    v_steady = V_REST + a + b
    assert p.v_peak == pytest.approx(v_peak, abs=1e-4)
    assert p.v_steady == pytest.approx(v_steady, abs=1e-6)
    assert p.sag == pytest.approx(v_steady - v_peak, abs=1e-4) and p.sag > 0
    assert p.sag_ratio == pytest.approx((v_steady - v_peak) / (V_REST - v_peak), abs=1e-4)
    # exp2 reports the slower time constant, here the sag's (as bmtool does)
    assert p.tau_exp2.tau_ms == pytest.approx(tau_h, rel=1e-6)
    a0, a_fast, tau_fast, a_slow, tau_slow = p.tau_exp2.params
    assert (a0, a_fast, tau_fast, a_slow, tau_slow) == pytest.approx(
        (v_steady, -a, tau_m, -b, tau_h), rel=1e-6)
    # the single exponential stops at the peak: the charging phase only
    assert p.windows["fit"][1] == pytest.approx(DELAY + x_peak, abs=0.05)
    assert 10 < p.tau.tau_ms < tau_m and p.tau.r_squared < p.tau_exp2.r_squared


def test_noisy_response_is_fitted_with_r_squared_below_one():
    t, v = step_response(charging)
    v = v + np.random.default_rng(7).normal(0.0, 0.3, v.size)
    p = pa.passive(t, v, delay_ms=DELAY, duration_ms=DUR, amp_nA=AMP, fit_end_ms=300.0)
    assert p.input_resistance == pytest.approx(R, rel=0.01)
    assert p.tau.tau_ms == pytest.approx(TAU, rel=0.03)
    assert 0.9 < p.tau.r_squared < 1 and 0.9 < p.tau_exp2.r_squared < 1
    assert p.tau.rmse_mV == pytest.approx(0.3, rel=0.05)
    assert p.windows["fit"] == (DELAY, 300.0) and p.tau.t_ms[-1] <= 300.0


def test_depolarising_step_and_passive_determinism():
    t, v = step_response(lambda x: 0.2 * R * (1 - np.exp(-x / TAU)))
    v = v + np.random.default_rng(3).normal(0.0, 0.1, v.size)
    first = pa.passive(t, v, delay_ms=DELAY, duration_ms=DUR, amp_nA=0.2)
    assert first.input_resistance == pytest.approx(R, rel=0.01) and first.sag >= 0
    assert same(first, pa.passive(t, v, delay_ms=DELAY, duration_ms=DUR, amp_nA=0.2))


def test_flat_or_broken_responses_give_nan_not_errors():
    t, v = step_response(lambda x: 0 * x)
    flat = pa.passive(t, v, delay_ms=DELAY, duration_ms=DUR, amp_nA=AMP)
    assert flat.input_resistance == 0 and flat.sag == 0
    assert math.isnan(flat.sag_ratio) and math.isnan(flat.capacitance)
    assert math.isnan(flat.tau.tau_ms) and math.isnan(flat.tau_exp2.r_squared)
    assert flat.tau.t_ms.size == 0 and len(flat.tau_exp2.params) == 5
    v = v.copy()
    v[5000] = np.nan                                    # a failed simulation's trace
    broken = pa.passive(t, v, delay_ms=DELAY, duration_ms=DUR, amp_nA=AMP)
    assert all(math.isnan(x) for x in (broken.v_peak, broken.sag, broken.tau.tau_ms,
                                       broken.tau_exp2.tau_ms, broken.capacitance))


@pytest.mark.parametrize("kwargs, message", [
    ({"amp_nA": 0.0}, "amp_nA must not be 0"),
    ({"delay_ms": 0.0}, "no baseline"),
    ({"duration_ms": 700.0}, "outside the trace"),
    ({"baseline_ms": 200.0}, "outside the trace"),
    ({"steady_ms": 500.0}, "steady_ms"),
    ({"fit_end_ms": 50.0}, "fit_end_ms"),
    ({"duration_ms": float("nan")}, "duration_ms"),
])
def test_passive_refuses_wrong_calls(kwargs, message):
    t, v = step_response(charging)
    args = {"delay_ms": DELAY, "duration_ms": DUR, "amp_nA": AMP, **kwargs}
    with pytest.raises(ValueError, match=message):
        pa.passive(t, v, **args)


def test_mismatched_or_bad_time_arrays_are_refused():
    t, v = step_response(charging)
    with pytest.raises(ValueError, match="shape"):
        pa.passive(t, v[:-1], delay_ms=DELAY, duration_ms=DUR, amp_nA=AMP)
    with pytest.raises(ValueError, match="strictly increasing"):
        pa.spike_times(t[::-1], v)


# --- spikes -----------------------------------------------------------------------------------

def spike_train(onsets, dt=0.1, t_end=100.0):
    """Triangular spikes from -70 to +30 mV in 1 ms and back: crossings of -20 at onset + 0.5."""
    knots_t, knots_v = [0.0], [-70.0]
    for s in onsets:
        knots_t += [s, s + 1.0, s + 2.0]
        knots_v += [-70.0, 30.0, -70.0]
    t = np.arange(0.0, t_end, dt)
    return t, np.interp(t, knots_t + [t_end], knots_v + [-70.0])


def test_spike_times_are_interpolated_crossings_in_the_window():
    t, v = spike_train([10.0, 30.15, 50.4])
    assert pa.spike_times(t, v) == pytest.approx([10.5, 30.65, 50.9], abs=1e-9)
    assert pa.spike_times(t, v, start_ms=10.5, end_ms=50.9) == pytest.approx([10.5, 30.65])
    assert pa.spike_rate(t, v, threshold_mV=-20.0, start_ms=0.0, end_ms=100.0) == (3, 30.0)
    assert pa.spike_times(t, v, threshold_mV=40.0).size == 0
    flat = np.full(t.size, -70.0)
    assert pa.spike_rate(t, flat, threshold_mV=-20.0, start_ms=0.0, end_ms=50.0) == (0, 0.0)


def test_spike_windows_outside_the_trace_are_refused():
    t, v = spike_train([10.0])
    with pytest.raises(ValueError, match="outside the trace"):
        pa.spike_times(t, v, start_ms=-5.0)
    with pytest.raises(ValueError, match="outside the trace"):
        pa.spike_rate(t, v, threshold_mV=-20.0, start_ms=0.0, end_ms=200.0)
    with pytest.raises(ValueError, match="after start_ms"):
        pa.spike_rate(t, v, threshold_mV=-20.0, start_ms=50.0, end_ms=50.0)


def test_fi_slope_fits_the_firing_amplitudes_only():
    amps = np.array([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    rates = np.where(amps > 0.15, 50.0 * (amps - 0.1), 0.0)    # a class-II onset jump
    slope, intercept = pa.fi_slope(amps, rates)
    assert slope == pytest.approx(50.0, rel=1e-12) and intercept == pytest.approx(-5.0)
    assert all(math.isnan(x) for x in pa.fi_slope(amps, np.where(amps > 0.45, 10.0, 0.0)))
    assert all(math.isnan(x) for x in pa.fi_slope([0.2, 0.2], [5.0, 6.0]))
    assert all(math.isnan(x) for x in pa.fi_slope([0.1, 0.2, 0.3], [np.nan, 3.0, 0.0]))
    with pytest.raises(ValueError, match="same length"):
        pa.fi_slope([0.1, 0.2], [1.0])


# --- rheobase ----------------------------------------------------------------------------------

def run_search(search, threshold):
    asked = []
    while not search.done:
        a = search.next_amplitude()
        asked.append(a)
        search.tell(a, a >= threshold)
    return asked


@pytest.mark.parametrize("threshold", [0.0371, 0.25, 0.5, 0.9999, 1.0])
def test_rheobase_is_found_within_tolerance_and_the_bound(threshold):
    low, high, tol = 0.0, 1.0, 0.001
    search = pa.RheobaseSearch(low, high, tolerance_nA=tol)
    asked = run_search(search, threshold)
    assert search.status == "found"
    no, yes = search.bracket
    assert no < threshold <= yes and yes - no <= tol and search.rheobase_nA == yes
    assert search.simulations == len(asked) <= math.ceil(math.log2((high - low) / tol)) + 2
    assert not search.rheobase_nA - tol >= threshold      # one tolerance below does not fire
    assert run_search(pa.RheobaseSearch(low, high, tolerance_nA=tol), threshold) == asked


def test_rheobase_expands_upwards_until_it_fires():
    search = pa.RheobaseSearch(0.0, 0.1, tolerance_nA=0.001, max_nA=10.0)
    asked = run_search(search, 3.3)
    assert asked[:6] == pytest.approx([0.0, 0.1, 0.3, 0.7, 1.5, 3.1])
    assert search.status == "found" and search.bracket[0] < 3.3 <= search.rheobase_nA


def test_rheobase_reports_why_it_stopped():
    never = pa.RheobaseSearch(0.0, 1.0, max_nA=10.0)
    run_search(never, 20.0)
    assert never.status == "never fired up to 10 nA" and math.isnan(never.rheobase_nA)
    assert never.bracket[0] == 10.0
    lowest = pa.RheobaseSearch(0.2, 1.0)
    assert run_search(lowest, 0.1) == [0.2]
    assert lowest.status == "fires at the lowest amplitude" and lowest.rheobase_nA == 0.2
    budget = pa.RheobaseSearch(0.0, 1.0, tolerance_nA=1e-6, max_simulations=5)
    run_search(budget, 0.4)
    no, yes = budget.bracket
    assert budget.status == "budget exhausted" and budget.simulations == 5
    assert no < 0.4 <= yes == budget.rheobase_nA


def test_rheobase_refuses_wrong_use():
    with pytest.raises(ValueError, match="above low_nA"):
        pa.RheobaseSearch(1.0, 0.5)
    with pytest.raises(ValueError, match="expand"):
        pa.RheobaseSearch(0.0, 1.0, expand=1.0)
    search = pa.RheobaseSearch(0.0, 1.0)
    with pytest.raises(ValueError, match="was asked"):
        search.tell(0.5, False)
    search.tell(0.0, True)
    with pytest.raises(ValueError, match="search is over"):
        search.next_amplitude()


# --- impedance ----------------------------------------------------------------------------

CHIRP_DELAY, CHIRP_T, DT = 200.0, 15000.0, 0.1


def chirp(f0=0.5, f1=20.0, amp=0.01, tail=100.0):
    t = np.arange(0.0, CHIRP_DELAY + CHIRP_T + tail, DT)
    s = (t - CHIRP_DELAY) * 1e-3
    on = (t >= CHIRP_DELAY - 1e-9) & (t < CHIRP_DELAY + CHIRP_T - 1e-9)
    phase = 2 * np.pi * (f0 * s + (f1 - f0) * s ** 2 / (2 * CHIRP_T * 1e-3))
    return t, np.where(on, amp * np.sin(phase), 0.0)


def linear_response(a, b, i):
    """Exact response of dx/dt = A x + B i (ms), i held constant over each step; x[0] out."""
    n = a.shape[0]
    m = np.zeros((n + 1, n + 1))
    m[:n, :n], m[:n, n] = a * DT, b * DT
    e = expm(m)
    num, den = ss2tf(e[:n, :n], e[:n, n:], np.eye(n)[:1], np.zeros((1, 1)))
    return lfilter(num[0], den, i)           # y[k] = x(t_k): one step behind the input


def test_rc_impedance_matches_the_analytic_one():
    rm, c = 100.0, 0.1                       # MOhm, nF (100 pF): tau 10 ms
    t, i = chirp()
    v = -65.0 + linear_response(np.array([[-1 / (rm * c)]]), np.array([1 / c]), i)
    imp = pa.chirp_impedance(t, v, i, delay_ms=CHIRP_DELAY, duration_ms=CHIRP_T,
                             f_start_hz=0.5, f_end_hz=20.0)
    f = imp.freqs_hz
    z = 1 / (1 / rm + 2j * np.pi * f * c * 1e-3)
    band = (f >= 1) & (f <= 20)
    assert f[0] >= 0.5 and f[-1] <= 20 + 1e-9 and imp.f_lowest_hz == f[0]
    assert np.max(np.abs(imp.amplitude_MOhm[band] / np.abs(z[band]) - 1)) < 0.01
    assert np.max(np.abs(imp.phase_rad[band] - np.angle(z[band]))) < 0.02
    assert imp.resonance_hz == f[0] and imp.q == pytest.approx(1.0)   # no resonance
    level = imp.peak_MOhm / math.sqrt(2)
    cutoff = brentq(lambda x: abs(1 / (1 / rm + 2j * np.pi * x * c * 1e-3)) - level, 1, 20)
    assert imp.cutoff_3db_hz == pytest.approx(cutoff, abs=f[1] - f[0])
    short = pa.chirp_impedance(t, v, i, delay_ms=CHIRP_DELAY, duration_ms=CHIRP_T,
                               f_start_hz=0.5, f_end_hz=10.0)
    assert math.isnan(short.cutoff_3db_hz) and short.freqs_hz[-1] <= 10.0  # never falls enough
    again = pa.chirp_impedance(t, v, i, delay_ms=CHIRP_DELAY, duration_ms=CHIRP_T,
                               f_start_hz=0.5, f_end_hz=20.0)
    assert same(imp, again)


def test_resonant_membrane_peaks_at_its_analytic_frequency():
    c, g, g_w, tau_w = 0.1, 0.01, 0.02, 200.0     # nF, uS, uS, ms
    a = np.array([[-g / c, -g_w / c], [1 / tau_w, -1 / tau_w]])
    t, i = chirp(f0=0.5, f1=20.0)
    v = -70.0 + linear_response(a, np.array([1 / c, 0.0]), i)
    imp = pa.chirp_impedance(t, v, i, delay_ms=CHIRP_DELAY, duration_ms=CHIRP_T,
                             f_start_hz=0.5, f_end_hz=20.0)

    def z(f):
        w = 2e-3 * np.pi * f                                   # rad/ms
        return 1 / (g + 1j * w * c + g_w / (1 + 1j * w * tau_w))

    best = minimize_scalar(lambda f: -abs(z(f)), bounds=(0.5, 20), method="bounded",
                           options={"xatol": 1e-6})
    resolution = imp.freqs_hz[1] - imp.freqs_hz[0]
    assert imp.resonance_hz == pytest.approx(best.x, abs=resolution)
    assert imp.peak_MOhm == pytest.approx(abs(z(best.x)), rel=0.01)
    assert imp.q == pytest.approx(abs(z(best.x)) / abs(z(imp.f_lowest_hz)), rel=0.01)
    assert imp.q > 2
    cutoff = brentq(lambda f: abs(z(f)) - imp.peak_MOhm / math.sqrt(2), best.x, 20)
    assert imp.cutoff_3db_hz == pytest.approx(cutoff, abs=resolution)


def test_a_peak_beyond_the_band_is_no_resonance():
    """|Z| still rising at f_end (the resonance lies above the band): resonance and cut-off
    are NaN, not the band's edge; the same system analysed over a wider band resonates."""
    c, g, g_w, tau_w = 0.1, 0.01, 0.1, 20.0    # a fast inductive current: resonance 37 Hz
    a = np.array([[-g / c, -g_w / c], [1 / tau_w, -1 / tau_w]])
    t, i = chirp(f0=0.5, f1=60.0)
    v = -70.0 + linear_response(a, np.array([1 / c, 0.0]), i)
    narrow = pa.chirp_impedance(t, v, i, delay_ms=CHIRP_DELAY, duration_ms=CHIRP_T,
                                f_start_hz=0.5, f_end_hz=15.0)
    assert math.isnan(narrow.resonance_hz) and math.isnan(narrow.cutoff_3db_hz)
    assert narrow.peak_MOhm > 0 and narrow.q > 1
    wide = pa.chirp_impedance(t, v, i, delay_ms=CHIRP_DELAY, duration_ms=CHIRP_T,
                              f_start_hz=0.5, f_end_hz=60.0)
    assert wide.resonance_hz == pytest.approx(37.2, abs=1.0)


def test_impedance_on_a_fixed_grid():
    rm, c = 100.0, 0.1
    t, i = chirp()
    v = -65.0 + linear_response(np.array([[-1 / (rm * c)]]), np.array([1 / c]), i)
    imp = pa.chirp_impedance(t, v, i, delay_ms=CHIRP_DELAY, duration_ms=CHIRP_T,
                             f_start_hz=0.5, f_end_hz=20.0)
    amp, phase = pa.impedance_on_grid(imp, imp.freqs_hz[:5], smoothed=False)
    assert np.array_equal(amp, imp.amplitude_MOhm[:5])
    assert np.allclose(phase, imp.phase_rad[:5], atol=1e-12)
    smooth, _ = pa.impedance_on_grid(imp, imp.freqs_hz[:5])      # what the scalars see
    assert np.array_equal(smooth, imp.smoothed_MOhm[:5])
    grid = np.array([0.1, 1.0, 10.0, 25.0])
    amp, phase = pa.impedance_on_grid(imp, grid, smoothed=False)
    assert np.isnan(amp[[0, 3]]).all() and np.isnan(phase[[0, 3]]).all()
    assert amp[1] == pytest.approx(abs(1 / (1 / rm + 2j * np.pi * c * 1e-3)), rel=0.01)
    on_grid = pa.chirp_impedance(t, v, i, delay_ms=CHIRP_DELAY, duration_ms=CHIRP_T,
                                 f_start_hz=0.5, f_end_hz=20.0, grid_hz=grid)
    assert np.array_equal(on_grid.freqs_hz, grid) and np.array_equal(on_grid.amplitude_MOhm,
                                                                     amp, equal_nan=True)
    assert on_grid.resonance_hz == imp.resonance_hz


def test_impedance_without_current_is_nan_and_bad_calls_raise():
    t, i = chirp(tail=0.0)
    v = np.full(t.size, -65.0)
    imp = pa.chirp_impedance(t, v, np.zeros(t.size), delay_ms=CHIRP_DELAY, duration_ms=CHIRP_T,
                             f_start_hz=0.5, f_end_hz=20.0)
    assert all(math.isnan(x) for x in (imp.resonance_hz, imp.peak_MOhm, imp.q,
                                       imp.cutoff_3db_hz))
    args = {"delay_ms": CHIRP_DELAY, "duration_ms": CHIRP_T, "f_start_hz": 0.5,
            "f_end_hz": 20.0}
    uneven = t.copy()
    uneven[10] += 0.05
    with pytest.raises(ValueError, match="uniformly sampled"):
        pa.chirp_impedance(uneven, v, i, **args)
    with pytest.raises(ValueError, match="f_end_hz"):
        pa.chirp_impedance(t, v, i, **{**args, "f_end_hz": 0.2})
    with pytest.raises(ValueError, match="outside the trace"):
        pa.chirp_impedance(t, v, i, **{**args, "duration_ms": 2 * CHIRP_T})
    with pytest.raises(ValueError, match="outside the trace"):
        pa.chirp_impedance(t, v, i, **{**args, "tail_ms": 50.0})
    with pytest.raises(ValueError, match="shape"):
        pa.chirp_impedance(t, v, i[:-1], **args)


# --- bAP ----------------------------------------------------------------------------------

def bap_traces(distances, offset=3.0):
    """Soma spike peaking at 20 ms; at d um: 100 exp(-d/500) mV, 2 us/um later, on a
    depolarisation of ``offset`` mV that the stimulus causes from 15 ms."""
    t = np.arange(0.0, 60.0, 0.01)
    soma = -70.0 + 100.0 * np.exp(-((t - 20.0) / 0.5) ** 2)
    locs = [-70.0 + offset * (t >= 15.0)
            + 100.0 * math.exp(-d / 500) * np.exp(-((t - 20.0 - 0.002 * d) / 0.5) ** 2)
            for d in distances]
    return t, soma, locs


def test_bap_amplitude_and_delay_along_the_dendrite():
    distances = [0.0, 100.0, 200.0, 400.0]
    t, soma, locs = bap_traces(distances)
    b = pa.bap(t, soma, locs, distances, start_ms=10.0, end_ms=50.0)
    expected = 100.0 * np.exp(-np.array(distances) / 500)
    assert np.array_equal(b.distances_um, distances)
    assert b.amplitude_mV == pytest.approx(expected + 3.0, abs=1e-3)   # from the baseline
    assert b.delay_ms == pytest.approx(0.002 * np.array(distances), abs=0.011)
    onset = pa.bap(t, soma, locs, distances, start_ms=10.0, end_ms=50.0, reference="onset")
    assert np.all(onset.amplitude_mV < b.amplitude_mV - 3.0 + 1e-9)
    assert same(b, pa.bap(t, soma, locs, distances, start_ms=10.0, end_ms=50.0))


def test_bap_without_a_soma_spike_is_nan():
    t, soma, locs = bap_traces([0.0, 300.0])
    quiet = np.full(t.size, -70.0)
    b = pa.bap(t, quiet, locs, [0.0, 300.0], start_ms=10.0, end_ms=50.0)
    assert np.isnan(b.amplitude_mV).all() and np.isnan(b.delay_ms).all()
    late = pa.bap(t, soma, locs, [0.0, 300.0], start_ms=25.0, end_ms=50.0)
    assert np.isnan(late.amplitude_mV).all()


def test_bap_refuses_wrong_calls():
    t, soma, locs = bap_traces([0.0, 300.0])
    with pytest.raises(ValueError, match="recordings"):
        pa.bap(t, soma, locs, [0.0], start_ms=10.0, end_ms=50.0)
    with pytest.raises(ValueError, match="shape"):
        pa.bap(t, soma, [locs[0], locs[1][:-1]], [0.0, 300.0], start_ms=10.0, end_ms=50.0)
    with pytest.raises(ValueError, match="reference"):
        pa.bap(t, soma, locs, [0.0, 300.0], start_ms=10.0, end_ms=50.0, reference="peak")
    with pytest.raises(ValueError, match="outside the trace"):
        pa.bap(t, soma, locs, [0.0, 300.0], start_ms=10.0, end_ms=80.0)
