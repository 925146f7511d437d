"""DendroTweaks' distribution functions (``dendrotweaks.biophys.distributions`` 0.5.2), as
cellsweep distribution kinds ``dendrotweaks.<function>``.

Each kind has DendroTweaks' parameter names and defaults, and its formula written with the
same numpy operations in the same order, so that a value along the cell equals the one
DendroTweaks computes for the same path distance ``d`` (µm):

- ``constant``, ``uniform``: ``value``
- ``linear``: ``slope*d + intercept``
- ``exponential``: ``vertical_shift + scale_factor*exp(growth_rate*(d - horizontal_shift))``
- ``sigmoid``: ``vertical_shift + scale_factor/(1 + exp(-growth_rate*(d - horizontal_shift)))``
- ``sinusoidal``: ``amplitude*sin(frequency*d + phase)``
- ``gaussian``: ``amplitude*exp(-((d - mean)**2)/(2*std**2))``
- ``step``: ``max_value`` where ``start < d < end`` (both excluded), else ``min_value``
- ``polynomial``: ``numpy.polyval(coeffs, d)`` (highest power first), coefficients named
  ``coeffs_0``, ``coeffs_1``, ... in the order written.

The parameter using such a distribution multiplies it by its value (1 by default, which
leaves every value exactly as DendroTweaks computes it).
"""

from __future__ import annotations

import numpy as np

PREFIX = "dendrotweaks."
# function -> {parameter: default}, as DendroTweaks' Distribution.FUNCTIONS
DEFAULTS = {
    "constant": {"value": 0.0},
    "uniform": {"value": 0.0},
    "linear": {"slope": 1.0, "intercept": 0.0},
    "exponential": {"vertical_shift": 0.0, "scale_factor": 1.0, "growth_rate": 1.0,
                    "horizontal_shift": 0.0},
    "sigmoid": {"vertical_shift": 0.0, "scale_factor": 1.0, "growth_rate": 1.0,
                "horizontal_shift": 0.0},
    "sinusoidal": {"amplitude": 1.0, "frequency": 1.0, "phase": 0.0},
    "gaussian": {"amplitude": 1.0, "mean": 0.0, "std": 1.0},
    "step": {"max_value": 1.0, "min_value": 0.0, "start": 0.0, "end": 1.0},
    "polynomial": {},          # coeffs_0 ... coeffs_n
}
KINDS = tuple(PREFIX + name for name in DEFAULTS)
POLYNOMIAL_DEFAULT = (1.0, 0.0)


def is_dendrotweaks(kind: str) -> bool:
    return kind in KINDS


def polynomial_keys(count: int) -> list[str]:
    return [f"coeffs_{i}" for i in range(count)]


def formula(kind: str, c: dict):
    """f(distance array) of a ``dendrotweaks.<function>`` kind with coefficients ``c``."""
    name = kind[len(PREFIX):]
    if name in ("constant", "uniform"):
        value = c["value"]
        return lambda d: np.full_like(d, value, dtype=float)
    if name == "linear":
        return lambda d: c["slope"] * d + c["intercept"]
    if name == "exponential":
        return lambda d: c["vertical_shift"] + c["scale_factor"] * np.exp(
            c["growth_rate"] * (d - c["horizontal_shift"]))
    if name == "sigmoid":
        return lambda d: c["vertical_shift"] + c["scale_factor"] / (
            1 + np.exp(-c["growth_rate"] * (d - c["horizontal_shift"])))
    if name == "sinusoidal":
        return lambda d: c["amplitude"] * np.sin(c["frequency"] * d + c["phase"])
    if name == "gaussian":
        return lambda d: c["amplitude"] * np.exp(-((d - c["mean"]) ** 2) / (2 * c["std"] ** 2))
    if name == "step":
        return lambda d: np.where((c["start"] < d) & (d < c["end"]), c["max_value"],
                                  c["min_value"]).astype(float)
    if name == "polynomial":
        coeffs = [c[k] for k in polynomial_keys(len(c))]
        return lambda d: np.polyval(coeffs, d)
    raise ValueError(f"unknown distribution kind {kind!r}")
