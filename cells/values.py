"""One rule for every value a parameter can take, wherever the value comes from.

A fixed value or a bound in the config, a sweep axis, a design CSV, ``--set``, ``--params`` and
an optimiser's bounds all go through ``value_problem``, so the same number is refused the same
way everywhere and before any simulation: a negative time step would otherwise hang a
fixed-step run, a NaN would silently turn every evaluation into ``nan``.
"""

from __future__ import annotations

import math

from cellsweep.cells import spec as S
from cellsweep.cells.mechanisms import ION_VARIABLES

# (lower bound, inclusive?) and whole-number flag per kind of number
_SIM = {"dt_ms": (0.0, False), "atol": (0.0, False), "rtol": (0.0, True)}
_NSEG = {"d_lambda": (0.0, False), "frequency_hz": (0.0, False), "length_um": (0.0, False)}
_SECTION = {"Ra": (0.0, False), "cm": (0.0, True), "diam": (0.0, False)}
# numbers of stimuli, by name (cells.stimuli_config reads them with the same bounds)
STIMULUS_BOUNDS = {"delay_ms": (0.0, True), "start_ms": (0.0, True),
                   "netcon_delay_ms": (0.0, True), "noise": (0.0, True),
                   "f_start_hz": (0.0, True), "f_end_hz": (0.0, True),
                   "duration_ms": (0.0, False), "interval_ms": (0.0, False),
                   "number": (0.0, True)}
STIMULUS_UPPER = {"noise": 1.0}
WHOLE = {"number", "seed"}
MAX_NSEG = 32767                 # NEURON's limit for one section


def value_problem(param: S.Parameter, value) -> str:
    """What is wrong with ``value`` for ``param`` ("" if nothing): type, finiteness, range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, found {_short(value)}"
    value = float(value)
    if not math.isfinite(value):
        return f"expected a finite number, found {value!r}"
    kind, var = param.kind, param.variable
    if kind == "sim":
        if var == "cvode":
            return "" if value in (0.0, 1.0) else \
                f"expected 0 (fixed step) or 1 (CVode), found {value:g}"
        return _below(value, _SIM.get(var))
    if kind == "nseg":
        if param.region:
            if value != int(value) or not 1 <= value <= MAX_NSEG:
                return f"expected a whole number of segments from 1 to {MAX_NSEG}, found {value:g}"
            return ""
        return _below(value, _NSEG.get(var))
    if kind == "geometry":
        return _below(value, (0.0, False))
    if kind in ("section", "range") and var in _SECTION:
        return _below(value, _SECTION[var])
    if kind in ("range", "global") and _is_concentration(var):
        return _below(value, (0.0, True), "a concentration")
    if kind == "global" and var == "celsius" and value <= -273.15:
        return f"expected a temperature above absolute zero (-273.15 degC), found {value:g}"
    if kind == "protocol":
        if var in WHOLE and value != int(value):
            return f"expected a whole number, found {value:g}"
        upper = STIMULUS_UPPER.get(var)
        if upper is not None and value > upper:
            return f"expected a value <= {upper:g}, found {value:g}"
        return _below(value, STIMULUS_BOUNDS.get(var))
    if kind == "rxd":
        return _rxd_problem(param, value)
    return ""


# rxd numbers (cells.rxd_config reads them with the same bounds); rate constants are free
_RXD = {"d": (0.0, True), "initial": (0.0, True), "kf": (0.0, True), "kb": (0.0, True),
        "volume_fraction": (0.0, False), "surface_fraction": (0.0, True),
        "tortuosity": (1.0, True)}
_RXD_UPPER = {"volume_fraction": 1.0, "surface_fraction": 1.0}


def _rxd_problem(param: S.Parameter, value: float) -> str:
    if param.region == "rates":
        return ""
    upper = _RXD_UPPER.get(param.variable)
    if upper is not None and value > upper:
        return f"expected a value <= {upper:g}, found {value:g}"
    return _below(value, _RXD.get(param.variable))


def _below(value: float, bound, what: str = "a value") -> str:
    if bound is None:
        return ""
    low, inclusive = bound
    if value > low or (inclusive and value == low):
        return ""
    return f"expected {what} {'>=' if inclusive else '>'} {low:g}, found {value:g}"


def _is_concentration(var: str) -> bool:
    """``cai``, ``nao``, ``ki`` ...: an ion's inside or outside concentration."""
    return len(var) >= 2 and var[-1] in "io" and var[:-1] in ION_VARIABLES


def _short(value, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def override_problems(model: S.ModelSpec, values: dict, where: str) -> list[tuple[str, str]]:
    """(key path, message) of every value of ``values`` ({name: value}) its parameter refuses;
    ``where`` names their origin (``--set``, ``--params FILE``, ...)."""
    out = []
    for name, value in values.items():
        param = model.parameter(name)
        if param is None:
            continue                     # unknown names are the loader's to report
        problem = value_problem(param, value)
        if problem:
            out.append((f"{where} {name}", problem))
    return out
