"""Running profile experiments on a built cell: generated protocols in, measures and curves out.

Each experiment kind turns its settings into ordinary ``Protocol``s (a step, a chirp, a brief
pulse; current injected at ``location``, the soma centre by default, on top of ``holding_nA``,
and v recorded there) and runs them with
``cells.protocols.run_protocol``, exactly as a user's own protocol runs; ``cells.profile_analysis``
does the arithmetic. One FI amplitude is one function (``fi_point``), so that an FI curve
inside one evaluation and a profile run's row per amplitude are the same computation, bit for
bit. Traces are resampled onto a uniform grid (``sample_dt_ms``) before means, fits and FFTs:
CVode's samples cluster where the voltage changes, which would bias a mean over samples.
"""

from __future__ import annotations

import math

import numpy as np

from cellsweep.cells import profile_analysis as PA
from cellsweep.cells import spec as S
from cellsweep.cells.errors import SimulationError, TraceNotFinite
from cellsweep.cells.profile_config import dendrite_distances
from cellsweep.cells.protocols import run_protocol, zap_waveform

SMALL_CURVE = 2000      # sweeps store curves up to this length per row (a profile run: all)
SOMA = S.Location("soma")


# -- what is stored ---------------------------------------------------------------------------
def curve_layout(exp: S.Experiment) -> list[tuple]:
    """(name, x label, x values, x units, units) of each curve an experiment gives per row."""
    g = exp.get
    if exp.kind == "passive":
        t = _grid(g("delay_ms") + g("duration_ms") + g("after_ms"), g("sample_dt_ms"))
        return [(f"{exp.name}.{c}", "time", t, "ms", "mV") for c in ("v", "fit", "fit_exp2")]
    if exp.kind == "fi":
        amps = tuple(g("amplitudes_nA"))
        return [(f"{exp.name}.rate", "amplitude", amps, "nA", "Hz")]
    if exp.kind == "zap":
        grid = zap_grid(exp)
        return [(f"{exp.name}.impedance", "frequency", grid, "Hz", "MOhm"),
                (f"{exp.name}.phase", "frequency", grid, "Hz", "rad")]
    if exp.kind == "dendrite":
        d = tuple(dendrite_distances(exp))
        return [(f"{exp.name}.{c}", "distance", d, "um", u) for c, u in
                (("bap_amplitude", "mV"), ("bap_delay", "ms"), ("local_input_resistance", "MOhm"))]
    return []


def _grid(tstop: float, dt: float) -> tuple:
    return tuple(np.arange(int(math.floor(tstop / dt + 1e-9)) + 1) * dt)


def zap_grid(exp: S.Experiment) -> tuple:
    """The stored impedance curve's frequencies: multiples of ``grid_step_hz`` from one FFT
    bin above the band's lowest frequency (the band's edge itself has no bin below it to
    interpolate from) to ``f_end_hz``."""
    step = exp.get("grid_step_hz")
    lowest = max(exp.get("f_start_hz"), 1000.0 / exp.get("duration_ms")) \
        + 1000.0 / exp.get("duration_ms")
    low = step * math.ceil(lowest / step - 1e-9)
    n = int(math.floor((exp.get("f_end_hz") - low) / step + 1e-9)) + 1
    return tuple(np.round(low + step * np.arange(max(n, 0)), 9).tolist())


# -- protocols --------------------------------------------------------------------------------
def _protocol(name: str, exp: S.Experiment, stim_kind: str, nums: dict, tstop: float,
              recordings=None) -> S.Protocol:
    where = exp.get("location", SOMA)
    stimuli = [S.Stimulus(name="stim", kind=stim_kind, location=where,
                          values=tuple(sorted(nums.items())))]
    holding = exp.get("holding_nA", 0.0)
    if holding:
        stimuli.insert(0, S.Stimulus(name="holding", kind="step", location=where,
                                     values=(("amp_nA", holding), ("delay_ms", 0.0),
                                             ("duration_ms", tstop))))
    recs = recordings or (S.Recording("soma", where),)
    delay = nums.get("delay_ms", 0.0)
    return S.Protocol(name=f"profile.{name}", tstop_ms=tstop, stimuli=tuple(stimuli),
                      recordings=tuple(recs),
                      window_ms=(delay, delay + nums.get("duration_ms", 0.0)))


def step_protocol(exp: S.Experiment, amp_nA: float) -> S.Protocol:
    g = exp.get
    tstop = g("delay_ms") + g("duration_ms") + g("after_ms")
    return _protocol(exp.name, exp, "step", {"amp_nA": float(amp_nA), "delay_ms": g("delay_ms"),
                                             "duration_ms": g("duration_ms")}, tstop)


def _run(cell, protocol: S.Protocol, values: dict, sim: S.Simulation, stop_at_spike=None):
    traces = run_protocol(cell, protocol, values, sim, stop_at_spike)
    for name, (t, v) in traces.items():
        bad = ~np.isfinite(v)
        if bad.any():
            raise TraceNotFinite(f"{protocol.name}.{name}: {int(bad.sum())} of {v.size} "
                                   f"samples are not finite (first at "
                                   f"t={float(t[np.argmax(bad)]):g} ms)")
    return traces


def _uniform(t, v, tstop: float, dt: float):
    grid = np.asarray(_grid(tstop, dt))
    return grid, np.interp(grid, t, v)


# -- the experiments --------------------------------------------------------------------------
def fired(cell, exp, amp_nA, values, sim, first_only: bool = False) -> tuple[int, float]:
    """Spike count and rate of one step (``spiking``, ``fi`` and ``rheobase`` all use this);
    ``first_only``: the run ends at the first spike (count 0 or 1, the rate meaningless)."""
    delay, dur = exp.get("delay_ms"), exp.get("duration_ms")
    threshold = exp.get("threshold_mV")
    stop = (exp.get("location", SOMA), threshold, delay, delay + dur) if first_only else None
    protocol = step_protocol(exp, amp_nA)
    t, v = _run(cell, protocol, values, sim, stop)["soma"]
    if first_only and t[-1] < protocol.tstop_ms - 1e-9:
        return 1, math.nan                      # stopped at its first spike
    return PA.spike_rate(t, v, threshold_mV=threshold, start_ms=delay, end_ms=delay + dur)


def fi_point(cell, exp, amp_nA, values, sim) -> float:
    """The rate of one FI amplitude (one row of a profile run, one point of an FI curve)."""
    return float(fired(cell, exp, amp_nA, values, sim)[1])


def run_passive(cell, exp, values, sim):
    g = exp.get
    tstop = g("delay_ms") + g("duration_ms") + g("after_ms")
    protocol = _protocol(exp.name, exp, "step", {"amp_nA": g("amp_nA"), "delay_ms": g("delay_ms"),
                                                 "duration_ms": g("duration_ms")}, tstop)
    t, v = _run(cell, protocol, values, sim)["soma"]
    grid, vu = _uniform(t, v, tstop, g("sample_dt_ms"))
    fit_end = g("fit_end_ms")
    res = PA.passive(grid, vu, delay_ms=g("delay_ms"), duration_ms=g("duration_ms"),
                     amp_nA=g("amp_nA"), baseline_ms=g("baseline_ms"), steady_ms=g("steady_ms"),
                     fit_end_ms=None if fit_end != fit_end else g("delay_ms") + fit_end)
    measures = {"v_rest": res.v_rest, "input_resistance": res.input_resistance,
                "tau_m": res.tau.tau_ms, "tau_m_r_squared": res.tau.r_squared,
                "tau_m_exp2": res.tau_exp2.tau_ms,
                "tau_m_exp2_r_squared": res.tau_exp2.r_squared, "sag": res.sag,
                "sag_ratio": res.sag_ratio, "capacitance": res.capacitance}
    curves = {f"{exp.name}.v": vu, f"{exp.name}.fit": _on(grid, res.tau),
              f"{exp.name}.fit_exp2": _on(grid, res.tau_exp2)}
    return measures, curves, res


def _on(grid, fit) -> np.ndarray:
    out = np.full(grid.size, np.nan)
    if fit.t_ms is not None and len(fit.t_ms):
        idx = np.searchsorted(grid, np.asarray(fit.t_ms) - 1e-9)
        ok = idx < grid.size
        out[idx[ok]] = np.asarray(fit.v_fit)[ok]
    return out


def run_spiking(cell, exp, values, sim):
    count, rate = fired(cell, exp, exp.get("amp_nA"), values, sim)
    return {"spike_count": float(count), "spike_rate": float(rate)}, {}, None


def run_fi(cell, exp, values, sim, amplitudes=None):
    amps = list(exp.get("amplitudes_nA") if amplitudes is None else amplitudes)
    rates = [fi_point(cell, exp, a, values, sim) for a in amps]
    slope, _ = PA.fi_slope(np.asarray(amps), np.asarray(rates))
    measures = {("fi_curve", a): r for a, r in zip(amps, rates)}
    measures["fi_slope"] = slope
    return measures, {f"{exp.name}.rate": np.asarray(rates)}, (amps, rates)


def run_rheobase(cell, exp, values, sim):
    g = exp.get
    search = PA.RheobaseSearch(g("low_nA"), g("high_nA"), tolerance_nA=g("tolerance_nA"),
                               max_simulations=int(g("max_simulations")), max_nA=g("max_nA"))
    tried = []
    while not search.done:
        amp = search.next_amplitude()
        count = fired(cell, exp, amp, values, sim, first_only=True)[0]
        search.tell(amp, count > 0)
        tried.append((amp, count))
    low, _ = search.bracket
    return ({"rheobase": search.rheobase_nA, "rheobase_bracket_low": low,
             "rheobase_simulations": float(search.simulations)}, {},
            {"tried": tried, "status": search.status, "bracket": search.bracket})


def run_zap(cell, exp, values, sim):
    g = exp.get
    tstop = g("delay_ms") + g("duration_ms") + g("after_ms")
    nums = {k: g(k) for k in ("amp_nA", "f_start_hz", "f_end_hz", "delay_ms", "duration_ms")}
    nums["waveform_dt_ms"] = min(g("sample_dt_ms"), 1000.0 / g("f_end_hz") / 100.0)
    t, v = _run(cell, _protocol(exp.name, exp, "zap", nums, tstop), values, sim)["soma"]
    grid, vu = _uniform(t, v, tstop, g("sample_dt_ms"))
    times, amps = zap_waveform(nums, tstop)
    current = np.interp(grid, times, amps)
    imp = PA.chirp_impedance(grid, vu, current, delay_ms=g("delay_ms"),
                             duration_ms=g("duration_ms"), f_start_hz=g("f_start_hz"),
                             f_end_hz=g("f_end_hz"))
    amplitude, phase = PA.impedance_on_grid(imp, np.asarray(zap_grid(exp)))
    measures = {"resonance_frequency": imp.resonance_hz, "peak_impedance": imp.peak_MOhm,
                "cutoff_frequency": imp.cutoff_3db_hz, "q_factor": imp.q}
    measures["impedance"] = lambda f: float(np.interp(f, imp.freqs_hz, imp.smoothed_MOhm,
                                                      left=np.nan, right=np.nan))
    return measures, {f"{exp.name}.impedance": amplitude, f"{exp.name}.phase": phase}, imp


def run_dendrite(cell, exp, values, sim):
    g = exp.get
    distances = dendrite_distances(exp)
    found = []                                  # (index, distance, segment) on this cell
    for i, d in enumerate(distances):
        loc = S.Location("distance", region=g("region"), distance_um=d)
        try:
            found.append((i, d, cell.segment(loc)))
        except SimulationError:
            pass                                # the cell does not reach that far: NaN
    recordings = [S.Recording("soma", SOMA)] + [
        S.Recording(f"d{i}", S.Location("distance", region=g("region"), distance_um=d))
        for i, d, _ in found]
    tstop = g("delay_ms") + g("duration_ms") + g("after_ms")
    nums = {"amp_nA": g("amp_nA"), "delay_ms": g("delay_ms"), "duration_ms": g("duration_ms")}
    traces = _run(cell, _protocol(exp.name, exp, "step", nums, tstop, recordings), values, sim)
    t, v_soma = traces["soma"]
    res = PA.bap(t, v_soma, [traces[f"d{i}"][1] for i, _, _ in found],
                 np.asarray([d for _, d, _ in found]), threshold_mV=g("threshold_mV"),
                 start_ms=g("delay_ms"), end_ms=tstop)
    n = len(distances)
    amp, delay, rin = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    index = [i for i, _, _ in found]
    amp[index], delay[index] = res.amplitude_mV, res.delay_ms
    rin[index] = local_input_resistance(cell, exp, [seg for _, _, seg in found], values, sim)
    measures = {}
    for i, d in enumerate(distances):
        measures[("bap_amplitude", d)] = amp[i]
        measures[("bap_delay", d)] = delay[i]
        measures[("local_input_resistance", d)] = rin[i]
    return measures, {f"{exp.name}.bap_amplitude": amp, f"{exp.name}.bap_delay": delay,
                      f"{exp.name}.local_input_resistance": rin}, res


def local_input_resistance(cell, exp, segments, values, sim) -> np.ndarray:
    """|Z| at 0 Hz of each segment (MΩ), NEURON's ``Impedance`` at the state reached after
    ``delay_ms`` at rest (holding current included), active conductances linearised."""
    h = cell.h
    rest = exp.get("delay_ms")
    _run(cell, _protocol(exp.name + ".rest", exp, "step",
                         {"amp_nA": 0.0, "delay_ms": 0.0, "duration_ms": rest}, rest), values, sim)
    imp = h.Impedance()
    imp.loc(cell.soma(0.5))
    imp.compute(0, 1)
    return np.asarray([imp.input(seg.x, sec=seg.sec) for seg in segments], dtype=float)


RUNNERS = {"passive": run_passive, "spiking": run_spiking, "fi": run_fi,
           "rheobase": run_rheobase, "zap": run_zap, "dendrite": run_dendrite}


def run_experiments(cell, model: S.ModelSpec, values: dict, features=None):
    """Every experiment the profile features need, once each -> ({feature: value}, curves)."""
    features = [f for f in (model.features if features is None else features) if f.profile]
    needed = dict.fromkeys(f.experiment for f in features)
    out, curves = {}, {}
    for name in needed:
        exp = model.experiment(name)
        measures, exp_curves, _ = RUNNERS[exp.kind](cell, exp, values, model.simulation)
        curves.update(exp_curves)
        for f in features:
            if f.experiment == name:
                out[f.name] = measure_value(measures, f)
    return out, curves


def measure_value(measures: dict, f: S.Feature) -> float:
    value = measures.get((f.profile, f.at)) if f.at is not None else measures.get(f.profile)
    if callable(measures.get(f.profile)):
        value = measures[f.profile](f.at)
    return math.nan if value is None else float(value)
