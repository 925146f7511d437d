"""Synthetic current-clamp sweeps for the recordings and targets tests: a step current and a
voltage trace with square-topped spikes, written as CSV the way a lab exports them."""

from __future__ import annotations

from pathlib import Path

import numpy as np

DELAY_MS, DURATION_MS, TSTOP_MS, DT_MS = 100.0, 400.0, 600.0, 0.1


def sweep(amp_nA: float, spikes: int, holding_nA: float = 0.0, rest_mV: float = -70.0):
    """``(t_ms, v_mV, i_nA)``: a step of ``amp_nA`` on ``holding_nA``; ``spikes`` 1-ms spikes
    to +30 mV spread over the step, the voltage 5 mV above rest during the step."""
    t = np.arange(0.0, TSTOP_MS, DT_MS)
    on = (t >= DELAY_MS) & (t < DELAY_MS + DURATION_MS)
    i = np.where(on, holding_nA + amp_nA, holding_nA)
    v = np.where(on, rest_mV + 5.0, rest_mV)
    for k in range(spikes):
        start = DELAY_MS + (k + 0.5) * DURATION_MS / max(spikes, 1)
        peak = (t >= start) & (t < start + 1.0)
        v = np.where(peak, 30.0 - 60.0 * np.abs(t - start - 0.5), v)
    return t, v, i


def write_csv(path: Path, columns: dict, header: bool = True, delimiter: str = ",") -> Path:
    """Columns (name -> values) as a CSV file; without ``header`` only the numbers."""
    names = list(columns)
    rows = np.column_stack([np.asarray(columns[n], dtype=float) for n in names])
    lines = [delimiter.join(names)] if header else []
    lines += [delimiter.join(f"{x:.6g}" for x in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def family(path: Path, amps=(0.1, 0.2, 0.3, 0.4), spikes=(0, 4, 8, 12)) -> Path:
    """One CSV with a time column and a voltage and current column per sweep (``V_mV_<k>``,
    ``I_nA_<k>``)."""
    columns = {}
    for k, (amp, n) in enumerate(zip(amps, spikes), start=1):
        t, v, i = sweep(amp, n)
        columns["time_ms"] = t
        columns[f"I_nA_{k}"] = i
        columns[f"V_mV_{k}"] = v
    return write_csv(path, columns)


FAMILY_CONFIG = """
recordings: {voltage_column: "V_mV_{sweep}", current_column: "I_nA_{sweep}"}
protocol: Step
features: [Spikecount, mean_frequency, voltage_base]
"""
