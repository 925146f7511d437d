"""Single-cell profile measures from recorded traces: passive, spikes, rheobase, impedance, bAP.

Pure functions of numpy arrays (times ms, voltages mV, currents nA, resistances MOhm, frequencies
Hz, capacitance pF), so the NEURON side, recordings read from a lab and the tests all go
through the same code. Every function is deterministic (same input, bit-identical output: fixed
starting points, fixed iteration limits, no randomness). A response that lacks what is measured
(no spike, a flat trace, a fit that does not converge, NaNs in the trace) gives NaN; ValueError
is kept for wrong calls (mismatched lengths, windows outside the trace, impossible settings).

Methods
-------
**V rest** is the mean of v over the ``baseline_ms`` before the step, by default the last 10 % of
the time before it (eFEL's ``voltage_base`` window, [0.9 delay, delay)). **V steady** is the mean
over the last ``steady_ms`` of the step, by default its last 10 % (eFEL's
``steady_state_voltage_stimend``). **R in** = (V steady - V rest) / amp, so it equals eFEL's
``ohmic_input_resistance_vb_ssse`` with the default windows. bmtool's ``Passive`` instead reads
one sample at the step's onset and one at its end; a mean over a window is less sensitive to
noise and to the sample NEURON records at the very instant of the step.

**V peak** is the extreme of v in the step's direction over [onset, end of step];
**sag** = sign(amp) (V peak - V steady), positive when the response sags back;
**sag ratio** = sag / |V peak - V rest|. For a hyperpolarising step these are eFEL's
``sag_amplitude`` (``steady_state_voltage_stimend - minimum_voltage``) and ``sag_ratio1``
(``sag_amplitude / (voltage_base - minimum_voltage)``), and bmtool's ``sag_norm``
((V peak - V final) / (V peak - V rest)); eFEL refuses depolarising steps, we keep the sign rule.

**tau (single exponential)**: v(t) = V_inf + (V0 - V_inf) exp(-(t - onset) / tau), all three
free, least squares over [onset, time of V peak] (or [onset, ``fit_end_ms``]). Without sag V peak
is at the end of the step; with sag the peak ends the charging phase, after which Ih pulls v back
and a single exponential would be biased. bmtool's ``exp`` method fits the whole step with
f(0) pinned to the onset sample; we free V0 so that a fast electrotonic or series-resistance
component at the onset does not drag the dominant time constant. ``params`` = (V_inf, V0, tau).

**tau (two exponentials)**, bmtool's ``exp2``: f(t) = a0 + a1 exp(-t/tau1) + a2 exp(-t/tau2),
t from the onset, constrained by f(0) = a0 + a1 + a2 = V rest, fitted over the whole step
[onset, end of step] (or [onset, ``fit_end_ms``]), as bmtool does. Like bmtool we report the
slower time constant, with one difference: a component carrying less than 1 % of the largest
deflection is ignored (a pure single exponential leaves the second component with no amplitude
and an arbitrary tau, which bmtool would report). ``params`` = (a0, a_fast, tau_fast, a_slow,
tau_slow). For a sag cell the slower component is usually the sag's relaxation, not the
membrane's charging: use the single-exponential tau there. V rest in the constraint is our
baseline mean (bmtool: the onset sample). Both fits report R squared and the RMSE (mV) over
their window; ``capacitance`` = tau (single) / R in (ms / MOhm = nF, times 1000 for pF), NaN
unless R in > 0. Fits use scipy's ``curve_fit`` (trust-region reflective, bounds tau in
[1e-3 ms, 1000 x the window], at most 2000 evaluations) from a few fixed starting points (the
time to 63 % of the deflection, and for exp2 a sag-like and two charging-like guesses); the
lowest residual wins, and a failure or a flat window gives a NaN ``Fit``.

**Spikes**: upward crossings of ``threshold_mV`` (v[k-1] < threshold <= v[k]), each time
linearly interpolated between the two samples, kept when in [start, end). That is NEURON's
``NetCon`` threshold and bmtool's count; eFEL's ``peak_time``/``Spikecount`` find peaks above its
threshold instead, which gives the same count for clean spikes. **Rate** = count / window (Hz).
**FI slope**: ordinary least squares of rate against amplitude over the amplitudes that fire
(rate > 0). The last zero below them is left out on purpose: class-II cells start firing at a
non-zero rate, and that jump is not gain. NaN with fewer than two firing amplitudes.

**Rheobase** (``RheobaseSearch``): test ``low`` (must not fire), then ``high`` (must fire; if
not, the bracket's width grows by ``expand`` each time, up to ``max_nA``), then bisect until the
bracket (highest amplitude that did not fire, lowest that fired) is at most ``tolerance_nA``.
The rheobase is the lowest amplitude seen to fire; it assumes firing is monotone in amplitude.

**Impedance** from a chirp: Z(f) = FFT(v - V base) / FFT(i) over the chirp's samples
[delay, delay + duration) and a tail after it (``tail_ms``: by default whatever the trace has, up
to 10 % of the chirp's duration), kept on [max(f_start, 1/duration), f_end]; amplitude |Z| in
MOhm, phase angle(Z) in rad (negative: v lags i). The tail is what makes the ratio exact for a
linear membrane: the DFT treats the window as periodic, so only when v has relaxed by the
window's end does the circular convolution equal the real one. Cut at the chirp's end (bmtool's
window) an RC cell with tau = 10 ms is 1.2 % off at 20 Hz; with a 50 ms tail, 1e-4. t must be
uniformly sampled (the caller resamples a variable-step run). V base is the mean over
``baseline_ms`` before the chirp (default 10 % of the delay; 0 uses the onset sample, as bmtool
does); it only moves the 0 Hz bin.

The scalars come from |Z| smoothed by a centred moving average over ``smooth_bins`` bins
(default 5, shrinking symmetrically at the band's edges so the lowest bin keeps its own value):
the chirp's spectrum ripples (Fresnel ripples near the band's edges, leakage from the finite
window), and a raw argmax picks a ripple. **Resonance** = the frequency of the smoothed maximum,
refined by a least-squares parabola through the smoothed |Z| over +-max(2, ``smooth_bins``)
bins around it: a broad peak is flat to within the ripple over several bins, so the argmax alone
wanders by more than a bin (with the parabola a 6 Hz resonance is found within 0.005 Hz on a
0.066 Hz grid). **Peak** = the smoothed maximum. **3-dB cut-off** = the lowest frequency above
the resonance where the smoothed |Z| falls below peak/sqrt(2), interpolated linearly between
bins (NaN if it never does in the band). **Q** = peak / |Z(f_lowest)|, f_lowest the band's lowest
bin; a cell without resonance gets resonance = f_lowest and Q = 1. bmtool's ``ZAP`` (its
``singlecell.py``) takes the same FFT ratio over the chirp alone with the onset sample as V base,
an optional moving average (``np.convolve`` mode "same"; 9 bins in its profiler) and the argmax
over the open band (f_start, f_end); it reports neither phase, cut-off nor Q, so Q follows the
issue's definition (peak / Z at the lowest frequency, the usual one in electrophysiology).

**bAP** (``bap``): the soma's first spike in [start, end) (upward crossing of the threshold) sets
a window from that crossing to 10 ms after it (``window_ms``), cut at the soma's next crossing.
At each location the amplitude is the peak of v in that window minus the pre-stimulus baseline
(mean over the ``baseline_ms`` before ``start_ms``, default 10 % of it): eFEL's
``maximum_voltage_from_voltagebase``, which the SSCx ``cADpyr_L5TPC`` bAP targets use on the
dendritic recordings, so our values compare with them. eFEL takes the maximum over the whole
stimulus; ours is the peak caused by the first spike, the same for those one-spike protocols.
``reference="onset"`` instead subtracts v at that location at the soma crossing time, which
leaves out the depolarisation the stimulus caused before the spike. The delay is the time of
the location's peak minus the time of the soma's peak (sample times). NaN everywhere without a
soma spike.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = ["Fit", "Passive", "passive", "spike_times", "spike_rate", "fi_slope", "RheobaseSearch",
           "Impedance", "chirp_impedance", "impedance_on_grid", "Bap", "bap"]

_MAX_NFEV = 2000
_TAU_MIN_MS = 1e-3
_HUGE = 1e300         # stands for an infinite bound when nudging a start inside the bounds
_NEGLIGIBLE = 0.01     # exp2: a component below 1 % of the deflection does not count


# --- traces and windows ---------------------------------------------------------------------

def _trace(t, **signals):
    """t as a strictly increasing float array, and each signal as a float array of its length."""
    t = np.asarray(t, dtype=float)
    if t.ndim != 1 or t.size < 2:
        raise ValueError(f"t must be a 1-D array of at least 2 samples, got shape {t.shape}")
    if not np.all(np.isfinite(t)) or np.any(np.diff(t) <= 0):
        raise ValueError("t must be finite and strictly increasing")
    out = [t]
    for name, x in signals.items():
        x = np.asarray(x, dtype=float)
        if x.shape != t.shape:
            raise ValueError(f"{name} has shape {x.shape}, t has {t.shape}")
        out.append(x)
    return out


def _number(name, x, *, positive=False, allow_zero=True):
    """A finite float, or ValueError naming the argument."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {x!r}") from None
    if not math.isfinite(x) or (positive and (x < 0 or (x == 0 and not allow_zero))):
        raise ValueError(f"{name} must be a finite{' positive' if positive else ''} number, "
                         f"got {x!r}")
    return x


def _within(t, start, end, what, half_open=False):
    """ValueError unless [start, end] (or [start, end)) lies in the trace (half a sample of
    slack; a half-open window may end one sample after the last)."""
    slack = 0.5 * float(np.min(np.diff(t)))
    last = t[-1] + (t[-1] - t[-2] if half_open else 0.0)
    if end < start or start < t[0] - slack or end > last + slack:
        raise ValueError(f"{what} window [{start:g}, {end:g}] ms lies outside the trace "
                         f"[{t[0]:g}, {t[-1]:g}] ms")


def _mean(t, v, start, end):
    """Mean of v over [start, end) (NaN if no sample falls in it)."""
    sel = v[(t >= start) & (t < end)]
    return float(np.mean(sel)) if sel.size else math.nan


# --- passive ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fit:
    """One exponential fit of a charging curve; every field NaN (arrays empty) when it failed.

    ``tau_ms`` is the fitted time constant (for exp2 the slower significant one, see the module
    docstring); ``params`` is (V_inf, V0, tau) for the single exponential and
    (a0, a_fast, tau_fast, a_slow, tau_slow) for exp2.
    """

    tau_ms: float
    params: tuple
    r_squared: float
    rmse_mV: float
    t_ms: np.ndarray
    v_fit: np.ndarray


def _failed_fit(n_params):
    return Fit(math.nan, (math.nan,) * n_params, math.nan, math.nan, np.empty(0), np.empty(0))


@dataclass(frozen=True)
class Passive:
    """The passive response to one current step (module docstring: methods and windows)."""

    v_rest: float
    v_steady: float
    v_peak: float
    input_resistance: float
    sag: float
    sag_ratio: float
    tau: Fit
    tau_exp2: Fit
    capacitance: float
    windows: dict


def _best_fit(model, x, y, starts, lower, upper):
    """The lowest-residual curve_fit over fixed starting points, or None."""
    from scipy.optimize import curve_fit   # 0.3 s to import: only profiles that fit pay it
    lower, upper = np.asarray(lower, float), np.asarray(upper, float)
    best = None
    for p0 in starts:
        p0 = np.asarray(p0, dtype=float)
        if not np.all(np.isfinite(p0)):
            continue
        lo = np.where(np.isfinite(lower), lower, -_HUGE)
        hi = np.where(np.isfinite(upper), upper, _HUGE)
        p0 = np.clip(p0, lo + 1e-12 * (np.abs(lo) + 1), hi - 1e-12 * (np.abs(hi) + 1))
        try:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore")
                p, _ = curve_fit(model, x, y, p0=p0, bounds=(lower, upper), method="trf",
                                 max_nfev=_MAX_NFEV, xtol=1e-12, ftol=1e-12, gtol=1e-12)
        except (RuntimeError, ValueError, np.linalg.LinAlgError):
            continue
        with np.errstate(all="ignore"):
            r = model(x, *p) - y
        sse = float(r @ r)
        if math.isfinite(sse) and np.all(np.isfinite(p)) and (best is None or sse < best[0]):
            best = (sse, p)
    return best


def _quality(y, y_fit):
    """(R squared, RMSE) of a fit."""
    r = y_fit - y
    sse = float(r @ r)
    d = y - np.mean(y)
    return 1.0 - sse / float(d @ d), math.sqrt(sse / y.size)


def _fit_window(t, v, start, end, n_params):
    """(t, v) of [start, end], or None if too short, flat or not finite."""
    sel = (t >= start) & (t <= end)
    tw, vw = t[sel], v[sel]
    if tw.size < n_params + 2 or not np.all(np.isfinite(vw)) or np.ptp(vw) == 0:
        return None
    return tw, vw


def _tau_guess(x, y):
    """Time for y to cover 63 % of its change over the window (a third of it if never)."""
    dy = y - y[0]
    target = (1 - math.exp(-1)) * (y[-1] - y[0])
    hit = np.flatnonzero(np.abs(dy) >= abs(target)) if target != 0 else np.empty(0, int)
    span = float(x[-1])
    return float(x[hit[0]]) if hit.size and x[hit[0]] > 0 else span / 3


def _single_exp(x, v_inf, v0, tau):
    return v_inf + (v0 - v_inf) * np.exp(-x / tau)


def _fit_single(t, v, onset, end):
    win = _fit_window(t, v, onset, end, 3)
    if win is None:
        return _failed_fit(3)
    tw, vw = win
    x = tw - onset
    span = float(x[-1])
    tau0 = _tau_guess(x, vw)
    starts = [(vw[-1], vw[0], tau0), (vw[-1], vw[0], span / 5)]
    best = _best_fit(_single_exp, x, vw, starts,
                     (-np.inf, -np.inf, _TAU_MIN_MS), (np.inf, np.inf, 1e3 * span))
    if best is None:
        return _failed_fit(3)
    p = best[1]
    v_fit = _single_exp(x, *p)
    r2, rmse = _quality(vw, v_fit)
    return Fit(float(p[2]), tuple(float(q) for q in p), r2, rmse, tw, v_fit)


def _fit_exp2(t, v, onset, end, v_rest, tau1):
    win = _fit_window(t, v, onset, end, 4)
    if win is None or not math.isfinite(v_rest):
        return _failed_fit(5)
    tw, vw = win
    x = tw - onset
    span = float(x[-1])

    def model(x, a1, t1, a2, t2):
        return v_rest + a1 * (np.exp(-x / t1) - 1) + a2 * (np.exp(-x / t2) - 1)

    dev = vw - v_rest
    k = int(np.argmax(np.abs(dev)))
    big, final = float(dev[k]), float(np.mean(dev[-max(1, dev.size // 10):]))
    tau1 = tau1 if math.isfinite(tau1) else _tau_guess(x, vw)
    t_peak = max(float(x[k]), tau1)
    starts = [(-big, tau1, big - final, max(3 * tau1, t_peak)),     # charging then sag
              (-0.9 * final, tau1, -0.1 * final, 5 * tau1),         # slow tail
              (-0.1 * final, tau1 / 10, -0.9 * final, tau1)]        # fast electrotonic part
    a_max = 100 * (float(np.max(np.abs(dev))) + 1e-9)
    best = _best_fit(model, x, vw, starts, (-a_max, _TAU_MIN_MS, -a_max, _TAU_MIN_MS),
                     (a_max, 1e3 * span, a_max, 1e3 * span))
    if best is None:
        return _failed_fit(5)
    a1, t1, a2, t2 = (float(q) for q in best[1])
    (a_f, t_f), (a_s, t_s) = sorted([(a1, t1), (a2, t2)], key=lambda c: (c[1], c[0]))
    significant = [c for c in ((a_f, t_f), (a_s, t_s))
                   if abs(c[0]) >= _NEGLIGIBLE * abs(big)]
    tau = max(c[1] for c in significant) if significant else math.nan
    v_fit = model(x, *best[1])
    r2, rmse = _quality(vw, v_fit)
    return Fit(tau, (v_rest - a1 - a2, a_f, t_f, a_s, t_s), r2, rmse, tw, v_fit)


def passive(t, v, *, delay_ms, duration_ms, amp_nA, baseline_ms=None, steady_ms=None,
            fit_end_ms=None) -> Passive:
    """Passive properties of the response to a current step (module docstring: methods).

    ``baseline_ms`` defaults to 10 % of ``delay_ms`` and ``steady_ms`` to 10 % of the step
    (eFEL's windows); ``fit_end_ms`` is an absolute time that ends both fits' windows.
    """
    t, v = _trace(t, v=v)
    delay = _number("delay_ms", delay_ms)
    duration = _number("duration_ms", duration_ms, positive=True, allow_zero=False)
    amp = _number("amp_nA", amp_nA)
    if amp == 0:
        raise ValueError("amp_nA must not be 0: a passive response needs a step")
    baseline = 0.1 * delay if baseline_ms is None else _number("baseline_ms", baseline_ms,
                                                               positive=True)
    steady = 0.1 * duration if steady_ms is None else _number("steady_ms", steady_ms,
                                                              positive=True)
    if baseline <= 0:
        raise ValueError("no baseline before the step: delay_ms and baseline_ms must be > 0")
    if steady <= 0 or steady > duration:
        raise ValueError(f"steady_ms must be in (0, duration_ms], got {steady:g}")
    end = delay + duration
    _within(t, delay - baseline, end, "step")
    windows = {"baseline": (delay - baseline, delay), "steady": (end - steady, end)}
    v_rest = _mean(t, v, *windows["baseline"])
    v_steady = _mean(t, v, *windows["steady"])
    sign = 1.0 if amp > 0 else -1.0

    step = np.flatnonzero((t >= delay) & (t <= end))
    seg = v[step]
    if seg.size and np.all(np.isfinite(seg)):
        k = int(np.argmax(sign * seg))
        v_peak, t_peak = float(seg[k]), float(t[step[k]])
    else:
        v_peak = t_peak = math.nan
    r_in = (v_steady - v_rest) / amp
    sag = sign * (v_peak - v_steady)
    reach = abs(v_peak - v_rest)
    sag_ratio = sag / reach if reach > 0 else math.nan

    if fit_end_ms is not None:
        fit_end = _number("fit_end_ms", fit_end_ms)
        if not delay < fit_end <= end:
            raise ValueError(f"fit_end_ms must be in ({delay:g}, {end:g}], got {fit_end:g}")
        single_end = exp2_end = fit_end
    else:
        single_end, exp2_end = t_peak, end
    windows["fit"] = (delay, single_end)
    windows["fit_exp2"] = (delay, exp2_end)
    if math.isfinite(single_end):
        tau = _fit_single(t, v, delay, single_end)
    else:
        tau = _failed_fit(3)
    tau2 = _fit_exp2(t, v, delay, exp2_end, v_rest, tau.tau_ms)
    capacitance = 1e3 * tau.tau_ms / r_in if r_in > 0 else math.nan
    return Passive(v_rest, v_steady, v_peak, r_in, sag, sag_ratio, tau, tau2, capacitance,
                   windows)


# --- spikes -----------------------------------------------------------------------------------

def spike_times(t, v, *, threshold_mV=-20.0, start_ms=None, end_ms=None) -> np.ndarray:
    """Times (ms) of upward threshold crossings, linearly interpolated, in [start, end)."""
    t, v = _trace(t, v=v)
    thr = _number("threshold_mV", threshold_mV)
    start = -math.inf if start_ms is None else _number("start_ms", start_ms)
    end = math.inf if end_ms is None else _number("end_ms", end_ms)
    if end <= start:
        raise ValueError(f"end_ms ({end:g}) must be after start_ms ({start:g})")
    if start_ms is not None or end_ms is not None:
        _within(t, t[0] if start_ms is None else start, t[-1] if end_ms is None else end,
                "spike", half_open=True)
    k = np.flatnonzero((v[:-1] < thr) & (v[1:] >= thr))
    tc = t[k] + (thr - v[k]) * (t[k + 1] - t[k]) / (v[k + 1] - v[k])
    return tc[(tc >= start) & (tc < end)]


def spike_rate(t, v, *, threshold_mV, start_ms, end_ms) -> tuple[int, float]:
    """(spike count, rate in Hz) over [start, end)."""
    start, end = _number("start_ms", start_ms), _number("end_ms", end_ms)
    if end <= start:
        raise ValueError(f"end_ms ({end:g}) must be after start_ms ({start:g})")
    t = np.asarray(t, dtype=float)
    if t.ndim == 1 and t.size >= 2:
        _within(t, start, end, "spike rate", half_open=True)
    n = int(spike_times(t, v, threshold_mV=threshold_mV, start_ms=start, end_ms=end).size)
    return n, n / ((end - start) * 1e-3)


def fi_slope(amplitudes_nA, rates_Hz) -> tuple[float, float]:
    """(slope Hz/nA, intercept Hz): least squares over the amplitudes that fire."""
    a = np.asarray(amplitudes_nA, dtype=float)
    r = np.asarray(rates_Hz, dtype=float)
    if a.ndim != 1 or a.shape != r.shape:
        raise ValueError(f"amplitudes_nA {a.shape} and rates_Hz {r.shape} must be 1-D and "
                         "of the same length")
    keep = np.isfinite(a) & np.isfinite(r) & (r > 0)
    a, r = a[keep], r[keep]
    if a.size < 2:
        return math.nan, math.nan
    da = a - np.mean(a)
    sxx = float(da @ da)
    if sxx == 0:
        return math.nan, math.nan
    slope = float(da @ (r - np.mean(r))) / sxx
    return slope, float(np.mean(r) - slope * np.mean(a))


class RheobaseSearch:
    """Bracketing then bisection for the smallest amplitude that fires.

    Ask ``next_amplitude()``, run it, ``tell(amplitude, fired)``, until ``done``. Then
    ``rheobase_nA`` is the lowest amplitude seen to fire (NaN if none), ``bracket`` = (highest
    that did not fire, lowest that fired), ``simulations`` the number run and ``status`` one of
    "found", "never fired up to <max_nA> nA", "fires at the lowest amplitude",
    "budget exhausted" ("searching" before). The amplitudes asked depend only on the answers.
    """

    def __init__(self, low_nA, high_nA, tolerance_nA=0.001, max_simulations=30, expand=2.0,
                 max_nA=10.0):
        self.low = _number("low_nA", low_nA)
        self.high = _number("high_nA", high_nA)
        self.tolerance = _number("tolerance_nA", tolerance_nA, positive=True, allow_zero=False)
        self.expand = _number("expand", expand)
        self.max_nA = _number("max_nA", max_nA)
        if self.high <= self.low:
            raise ValueError(f"high_nA ({self.high:g}) must be above low_nA ({self.low:g})")
        if self.expand <= 1:
            raise ValueError(f"expand must be > 1, got {self.expand:g}")
        if self.max_nA < self.high:
            raise ValueError(f"max_nA ({self.max_nA:g}) must be at least high_nA "
                             f"({self.high:g})")
        if isinstance(max_simulations, bool) or int(max_simulations) != max_simulations \
                or max_simulations < 2:
            raise ValueError(f"max_simulations must be a whole number >= 2, "
                             f"got {max_simulations!r}")
        self.max_simulations = int(max_simulations)
        self.simulations = 0
        self.status = "searching"
        self._no, self._yes = math.nan, math.nan      # highest silent, lowest firing
        self._width = self.high - self.low
        self._next = self.low

    @property
    def done(self) -> bool:
        return self.status != "searching"

    @property
    def bracket(self) -> tuple[float, float]:
        return (self._no, self._yes)

    @property
    def rheobase_nA(self) -> float:
        return self._yes

    def next_amplitude(self) -> float:
        """The amplitude to simulate next (the same until it is told)."""
        if self.done:
            raise ValueError(f"the search is over ({self.status})")
        return self._next

    def tell(self, amplitude, fired: bool) -> None:
        """Record whether ``amplitude`` (the one asked) fired, and choose the next one."""
        if self.done:
            raise ValueError(f"the search is over ({self.status})")
        if float(amplitude) != self._next:
            raise ValueError(f"told about {amplitude!r} nA, but {self._next!r} nA was asked")
        self.simulations += 1
        amp = self._next
        if fired:
            self._yes = amp if math.isnan(self._yes) else min(self._yes, amp)
        else:
            self._no = amp if math.isnan(self._no) else max(self._no, amp)
        if self.simulations == 1:                 # the low end
            if fired:
                self.status = "fires at the lowest amplitude"
                return
            self._next = self.high
        elif math.isnan(self._yes):               # still looking for a firing amplitude
            if amp >= self.max_nA:
                self.status = f"never fired up to {self.max_nA:g} nA"
                return
            self._width *= self.expand
            self._next = min(amp + self._width, self.max_nA)
        else:
            self._next = 0.5 * (self._no + self._yes)
        if not math.isnan(self._yes) and self._yes - self._no <= self.tolerance * (1 + 1e-9):
            self.status = "found"
        elif self.simulations >= self.max_simulations:
            self.status = "budget exhausted"


# --- impedance ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Impedance:
    """Impedance profile from a chirp (module docstring: methods); phase in rad."""

    freqs_hz: np.ndarray
    amplitude_MOhm: np.ndarray
    phase_rad: np.ndarray
    resonance_hz: float
    peak_MOhm: float
    cutoff_3db_hz: float
    q: float
    f_lowest_hz: float
    smoothed_MOhm: np.ndarray | None = None   # |Z| as the scalars see it (stored curves)


def _uniform_step(t):
    """The sampling interval of a uniformly sampled t, or ValueError."""
    d = np.diff(t)
    step = float(np.median(d))
    if np.max(np.abs(d - step)) > 1e-6 * step:
        raise ValueError("t must be uniformly sampled (resample the trace first)")
    return step


def _moving_average(x, bins):
    """Centred moving average over ``bins`` (odd) bins, shrinking symmetrically at the edges
    (an edge bin is its own value: a one-sided window would bias Q on a steep slope)."""
    if bins <= 1 or x.size == 0:
        return x.copy()
    c = np.concatenate(([0.0], np.cumsum(x)))
    k = np.arange(x.size)
    h = np.minimum(np.minimum(k, x.size - 1 - k), bins // 2)
    return (c[k + h + 1] - c[k - h]) / (2 * h + 1)


def _vertex(f, y, k, half):
    """Frequency of the maximum of a parabola fitted to y over k +- half bins (f[k] if flat)."""
    lo, hi = max(0, k - half), min(f.size, k + half + 1)
    if hi - lo < 3:
        return float(f[k])
    a, b, _ = np.polyfit(f[lo:hi] - f[k], y[lo:hi], 2)
    if not a < 0:
        return float(f[k])
    return float(np.clip(f[k] - b / (2 * a), f[lo], f[hi - 1]))


def chirp_impedance(t, v, i, *, delay_ms, duration_ms, f_start_hz, f_end_hz, grid_hz=None,
                    baseline_ms=None, tail_ms=None, smooth_bins=5) -> Impedance:
    """Impedance amplitude and phase from a chirp current and the voltage response.

    ``tail_ms`` of the trace after the chirp join the window (default: what the trace has, up
    to 10 % of the chirp; 0 for the chirp alone). With ``grid_hz`` the returned arrays are
    interpolated onto that grid (fixed length for storage); the scalars always come from the
    FFT bins.
    """
    t, v, i = _trace(t, v=v, i=i)
    dt = _uniform_step(t)
    delay = _number("delay_ms", delay_ms)
    duration = _number("duration_ms", duration_ms, positive=True, allow_zero=False)
    f0 = _number("f_start_hz", f_start_hz, positive=True)
    f1 = _number("f_end_hz", f_end_hz, positive=True)
    if f1 <= f0:
        raise ValueError(f"f_end_hz ({f1:g}) must be above f_start_hz ({f0:g})")
    if isinstance(smooth_bins, bool) or int(smooth_bins) != smooth_bins or smooth_bins < 1 \
            or smooth_bins % 2 == 0:
        raise ValueError(f"smooth_bins must be an odd whole number >= 1, got {smooth_bins!r}")
    baseline = 0.1 * delay if baseline_ms is None else _number("baseline_ms", baseline_ms,
                                                               positive=True)
    _within(t, delay - baseline, delay + duration, "chirp", half_open=True)
    k0 = int(round((delay - t[0]) / dt))
    n = int(round(duration / dt))
    if tail_ms is None:
        n = min(t.size - k0, int(round(1.1 * duration / dt)))
    else:
        tail = _number("tail_ms", tail_ms, positive=True)
        _within(t, delay, delay + duration + tail, "chirp and tail", half_open=True)
        n = int(round((duration + tail) / dt))
    if k0 + n > t.size:
        raise ValueError(f"chirp window [{delay:g}, {delay + duration:g}) ms lies outside the "
                         f"trace [{t[0]:g}, {t[-1]:g}] ms")
    v_base = _mean(t, v, delay - baseline, delay) if baseline > 0 else float(v[k0])
    freqs = np.fft.rfftfreq(n, d=dt * 1e-3)
    lowest = max(f0, 1e3 / duration)
    band = (freqs >= lowest * (1 - 1e-9)) & (freqs <= f1 * (1 + 1e-9))
    if not band.any():
        raise ValueError(f"no frequency bin in [{lowest:g}, {f1:g}] Hz: the chirp is too short")
    with np.errstate(all="ignore"):
        z = (np.fft.rfft(v[k0:k0 + n] - v_base) / np.fft.rfft(i[k0:k0 + n]))[band]
    freqs = freqs[band]
    amplitude, phase = np.abs(z), np.angle(z)
    smooth = _moving_average(amplitude, int(smooth_bins))
    if np.all(np.isfinite(smooth)):
        k = int(np.argmax(smooth))
        half = max(2, int(smooth_bins))
        resonance, peak = _vertex(freqs, smooth, k, half), float(smooth[k])
        if k >= smooth.size - 1 - half // 2 and smooth.size > 1:
            # |Z| still rising at the band's top: no resonance inside it (widen f_end_hz)
            resonance = math.nan
        q = peak / float(smooth[0]) if smooth[0] > 0 else math.nan
        cutoff = math.nan
        below = np.flatnonzero(smooth[k:] < peak / math.sqrt(2))
        if below.size and resonance == resonance:
            j = k + int(below[0])
            level = peak / math.sqrt(2)
            cutoff = float(freqs[j - 1] + (level - smooth[j - 1]) * (freqs[j] - freqs[j - 1])
                           / (smooth[j] - smooth[j - 1]))
    else:
        resonance = peak = q = cutoff = math.nan
    imp = Impedance(freqs, amplitude, phase, resonance, peak, cutoff, q, float(freqs[0]),
                    smooth)
    if grid_hz is None:
        return imp
    grid = np.asarray(grid_hz, dtype=float)
    amp_g, phase_g = impedance_on_grid(imp, grid, smoothed=False)
    smooth_g = impedance_on_grid(imp, grid)[0]
    return Impedance(grid, amp_g, phase_g, resonance, peak, cutoff, q, float(freqs[0]),
                     smooth_g)


def impedance_on_grid(imp: Impedance, grid_hz, smoothed: bool = True
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(amplitude, phase) linearly interpolated onto ``grid_hz``; NaN outside the band. The
    amplitude is the smoothed |Z| the scalars come from (so a stored curve's peak is the
    reported resonance and peak), or the raw FFT ratio with ``smoothed=False``.

    The phase is unwrapped before interpolating and wrapped back to (-pi, pi].
    """
    grid = np.asarray(grid_hz, dtype=float)
    if grid.ndim != 1 or not np.all(np.isfinite(grid)) or np.any(np.diff(grid) <= 0):
        raise ValueError("grid_hz must be a finite, strictly increasing 1-D array")
    f = np.asarray(imp.freqs_hz, dtype=float)
    if f.size == 0:
        return np.full(grid.shape, math.nan), np.full(grid.shape, math.nan)
    source = imp.smoothed_MOhm if smoothed and imp.smoothed_MOhm is not None \
        else imp.amplitude_MOhm
    amp = np.interp(grid, f, source, left=math.nan, right=math.nan)
    ph = np.interp(grid, f, np.unwrap(imp.phase_rad), left=math.nan, right=math.nan)
    with np.errstate(invalid="ignore"):
        ph = np.angle(np.exp(1j * ph))
    return amp, ph


# --- back-propagating AP --------------------------------------------------------------------

@dataclass(frozen=True)
class Bap:
    """bAP amplitude (mV) and delay (ms) at each recording distance (um); NaN without a spike."""

    distances_um: np.ndarray
    amplitude_mV: np.ndarray
    delay_ms: np.ndarray


def bap(t, v_soma, v_by_location: list, distances_um, *, threshold_mV=-20.0, start_ms,
        end_ms, window_ms=10.0, baseline_ms=None, reference="baseline") -> Bap:
    """Amplitude and delay of the soma's first spike at each location (module docstring).

    ``reference`` is "baseline" (eFEL's voltage base, default) or "onset" (v at the soma's
    threshold crossing); ``baseline_ms`` defaults to 10 % of ``start_ms``.
    """
    t, v_soma = _trace(t, v_soma=v_soma)
    distances = np.asarray(distances_um, dtype=float)
    if distances.ndim != 1 or distances.size != len(v_by_location):
        raise ValueError(f"{len(v_by_location)} recordings but distances_um has shape "
                         f"{distances.shape}")
    locs = [_trace(t, **{f"v_by_location[{k}]": x})[1] for k, x in enumerate(v_by_location)]
    if reference not in ("baseline", "onset"):
        raise ValueError(f"reference must be 'baseline' or 'onset', got {reference!r}")
    start, end = _number("start_ms", start_ms), _number("end_ms", end_ms)
    window = _number("window_ms", window_ms, positive=True, allow_zero=False)
    baseline = 0.1 * start if baseline_ms is None else _number("baseline_ms", baseline_ms,
                                                               positive=True)
    if reference == "baseline" and baseline <= 0:
        raise ValueError("no baseline before start_ms: start_ms and baseline_ms must be > 0")
    if reference == "baseline":
        _within(t, start - baseline, end, "bAP")
    spikes = spike_times(t, v_soma, threshold_mV=threshold_mV, start_ms=start, end_ms=end)
    amplitude = np.full(distances.size, math.nan)
    delay = np.full(distances.size, math.nan)
    if spikes.size == 0:
        return Bap(distances, amplitude, delay)
    t_spike = float(spikes[0])
    w_end = t_spike + window
    later = spike_times(t, v_soma, threshold_mV=threshold_mV)
    later = later[later > t_spike]
    if later.size:
        w_end = min(w_end, float(later[0]))
    sel = np.flatnonzero((t >= t_spike) & (t <= w_end))
    soma = v_soma[sel]
    if sel.size == 0 or not np.all(np.isfinite(soma)):
        return Bap(distances, amplitude, delay)
    t_soma_peak = float(t[sel[int(np.argmax(soma))]])
    for k, v in enumerate(locs):
        seg = v[sel]
        if not np.all(np.isfinite(seg)):
            continue
        if reference == "baseline":
            ref = _mean(t, v, start - baseline, start)
        else:
            ref = float(np.interp(t_spike, t, v))
        j = int(np.argmax(seg))
        amplitude[k] = float(seg[j]) - ref
        delay[k] = float(t[sel[j]]) - t_soma_peak
    return Bap(distances, amplitude, delay)
