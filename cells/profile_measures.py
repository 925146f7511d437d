"""The catalogue of profile measures: each measure's experiment kind, units and method.

A profile measure is a cell-level number an electrophysiologist would report (input
resistance, rheobase, resonance frequency, ...). It is computed from an ``Experiment`` whose
protocols cellsweep generates (``cells.profile_run``) and analysed by ``cells.profile_analysis``.
This module is plain data: the config reader checks names and units against it, the CLI prints
its methods, and ``docs/PROFILES.md`` documents the same text.

Measures with an argument (``at``) are curves sampled at a point: ``fi_curve`` at an amplitude,
``impedance`` at a frequency, the dendritic measures at a path distance.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("passive", "spiking", "fi", "rheobase", "zap", "dendrite")


@dataclass(frozen=True)
class Measure:
    name: str
    kind: str          # the experiment kind it reads
    units: str
    method: str        # one line, printed beside the value
    argument: str = ""  # "" | "amplitude" (nA) | "frequency" (Hz) | "distance" (µm)


def _m(name, kind, units, method, argument=""):
    return Measure(name, kind, units, method, argument)


MEASURES = {m.name: m for m in (
    _m("v_rest", "passive", "mV", "mean V over the baseline window before the step"),
    _m("input_resistance", "passive", "MOhm",
       "(V steady - V rest) / I step; V steady: mean over the last steady_ms of the step"),
    _m("tau_m", "passive", "ms",
       "single exponential fit of the charging curve, step onset to the response's peak"),
    _m("tau_m_r_squared", "passive", "1", "R^2 of the single exponential fit"),
    _m("tau_m_exp2", "passive", "ms",
       "slower constant of a two-exponential fit constrained at f(0) = V rest (bmtool exp2)"),
    _m("tau_m_exp2_r_squared", "passive", "1", "R^2 of the two-exponential fit"),
    _m("sag", "passive", "mV", "sign(I)·(V peak - V steady) during the step"),
    _m("sag_ratio", "passive", "1", "sag / |V peak - V rest| (eFEL sag_ratio1)"),
    _m("capacitance", "passive", "pF", "tau_m / input_resistance"),
    _m("spike_count", "spiking", "1", "upward threshold crossings during the step"),
    _m("spike_rate", "spiking", "Hz", "spike_count / step duration"),
    _m("fi_curve", "fi", "Hz", "spike rate during a step of the given amplitude", "amplitude"),
    _m("fi_slope", "fi", "Hz/nA",
       "least-squares slope of rate vs amplitude over the firing amplitudes"),
    _m("rheobase", "rheobase", "nA",
       "lowest amplitude that fired, bracketing then bisection to tolerance_nA"),
    _m("rheobase_bracket_low", "rheobase", "nA", "highest amplitude that did not fire"),
    _m("rheobase_simulations", "rheobase", "1", "simulations the search used"),
    _m("resonance_frequency", "zap", "Hz", "frequency of the peak of |Z| under a ZAP chirp"),
    _m("peak_impedance", "zap", "MOhm", "|Z| at the resonance frequency"),
    _m("cutoff_frequency", "zap", "Hz",
       "lowest frequency above resonance where |Z| < peak / sqrt(2)"),
    _m("q_factor", "zap", "1", "peak |Z| / |Z| at the lowest analysed frequency"),
    _m("impedance", "zap", "MOhm", "|Z| of the chirp response at the given frequency",
       "frequency"),
    _m("bap_amplitude", "dendrite", "mV",
       "peak V after the soma's first spike - pre-stimulus baseline, at a path distance",
       "distance"),
    _m("bap_delay", "dendrite", "ms",
       "time of the dendritic peak - time of the soma's peak, at a path distance", "distance"),
    _m("local_input_resistance", "dendrite", "MOhm",
       "NEURON Impedance at 0 Hz at rest (input resistance of the segment)", "distance"),
)}

# what a profile run reports when the config does not say (dendrite/spiking need their section)
DEFAULT_KINDS = ("passive", "fi", "rheobase", "zap")


def measures_of(kind: str) -> list[Measure]:
    return [m for m in MEASURES.values() if m.kind == kind]


def label(name: str, at: float | None, argument: str) -> str:
    """The feature name of a measure at an argument: ``fi_curve@0.2nA``, ``bap_delay@300um``."""
    if at is None:
        return name
    unit = {"amplitude": "nA", "frequency": "Hz", "distance": "um"}[argument]
    return f"{name}@{at:g}{unit}"
