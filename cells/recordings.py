"""Current-clamp sweeps from a lab's files, checked, in ms / mV / nA.

Formats and who reads them:

- Igor ``.ibw``, NWB icephys and Axon ``.abf``: BluePyEfe's readers (``bluepyefe.igorpy`` for
  Igor waves, ``bluepyefe.reader.nwb_reader`` with its choice of NWB layout, and
  ``bluepyefe.reader.axon_reader`` through neo).
- Plain text / CSV: our own reader. BluePyEfe's only text reader (``csv_lccr_reader``) reads
  one lab's tab-separated layout (voltage columns, no time, amplitudes given apart); we need
  time and voltage columns by header name or number, one column plus a sampling rate, current
  columns, multi-sweep files (``V_mV_{sweep}``) and a message per bad value.

BluePyEfe assumes every sweep is sampled at one constant interval and raises bare exceptions
(or warns and goes on) on bad input; this module checks what it would trip over first and
reports one problem per file and fault (a missing column, time not increasing, NaNs, an unknown
unit, an empty sweep, a sampling rate that contradicts the time column), so nothing is
extracted from a bad file. Unit conversion is ours for the same reason (every spelling checked
against a list we can print).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellsweep.cells.config import display_path
from cellsweep.cells.errors import ConfigError, Problem
from cellsweep.cells.schema import quote
from cellsweep.cells.targets_config import (SWEEP, RecordingOptions, StimulusOptions, unit_choices,
                                            unit_factor)

SUFFIXES = {".ibw": "igor", ".bwav": "igor", ".nwb": "nwb", ".abf": "abf"}
RATE_TOLERANCE = 0.01           # relative: a stated sampling rate against the time column
STEP_TOLERANCE = 0.01           # relative spread of the time steps still called constant


@dataclass(frozen=True, eq=False)
class Sweep:
    """One sweep: sampled every ``dt_ms`` from t = 0; ``current_nA`` as recorded or as the
    protocol description gives it; ``amp_nA``/``holding_nA``/``delay_ms``/``duration_ms``
    when the description states them (otherwise BluePyEfe finds the step in the current)."""

    source: str                  # the file, as the user reads its name
    name: str                    # the sweep in the file
    dt_ms: float
    voltage_mV: np.ndarray
    current_nA: np.ndarray
    amp_nA: float | None = None
    holding_nA: float | None = None
    delay_ms: float | None = None
    duration_ms: float | None = None

    @property
    def label(self) -> str:
        return f"{self.source} sweep {self.name}" if self.name else self.source


class _Bad(Exception):
    """One problem of one file (or sweep): becomes a ``Problem`` naming it."""


def read_sweeps(paths, options: RecordingOptions, stimulus: StimulusOptions) -> list[Sweep]:
    """Every sweep of every file, in the order given; ``ConfigError`` listing each bad file or
    sweep (one line each) when any is bad."""
    problems: list[Problem] = []
    raw = []                     # (source, name, dt_ms, v_mV, i_nA or None)
    consumed = _igor_partners(paths, options)
    for path in map(Path, paths):
        if path in consumed:
            continue
        where = display_path(path)
        try:
            if not path.is_file():
                raise _Bad("file not found" if not path.exists() else "is not a file")
            for name, dt_ms, v, i, problem in _read(path, options):
                if problem:
                    problems.append(Problem(where, f"sweep {name}" if name else "", problem))
                else:
                    raw.append((where, name, dt_ms, v, i))
        except _Bad as exc:
            problems.append(Problem(where, "", str(exc)))
    if not problems and not raw:
        problems.append(Problem("", "", "no recordings given"))
    sweeps = _describe(raw, stimulus, problems)
    if problems:
        raise ConfigError(problems)
    return sweeps


def file_format(path: Path, options: RecordingOptions) -> str:
    if options.format != "auto":
        return options.format
    return SUFFIXES.get(path.suffix.lower(), "text")


def _read(path: Path, options: RecordingOptions):
    """Yield ``(sweep name, dt_ms, voltage_mV, current_nA or None, problem text or "")``."""
    fmt = file_format(path, options)
    reader = {"text": _read_text, "igor": _read_igor, "nwb": _read_nwb, "abf": _read_abf}[fmt]
    for name, dt_ms, v, i in reader(path, options):
        problem = _series_problem(v, "voltage") or (_series_problem(i, "current")
                                                    if i is not None else "")
        if not problem and i is not None and len(i) != len(v):
            problem = f"{len(v)} voltage samples but {len(i)} current samples"
        if not problem and not (math.isfinite(dt_ms) and dt_ms > 0):
            problem = f"sampling interval {dt_ms!r} ms; expected a positive number"
        yield name, dt_ms, v, i, problem


def _series_problem(values: np.ndarray, what: str) -> str:
    if values.size == 0:
        return f"empty sweep: no {what} samples"
    if values.size < 3:
        return f"empty sweep: {values.size} {what} sample(s); expected a whole sweep"
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        return (f"{what} has {bad.size} NaN or infinite value(s), the first at sample "
                f"{bad[0] + 1}; expected finite numbers (cut the sweep or fill the gap)")
    return ""


# -- text ----------------------------------------------------------------------------------
def _read_text(path: Path, options: RecordingOptions):
    header, rows = _text_table(path, options)
    names = header or [str(k) for k in range(len(rows[0]))]
    time_col = _find(options.time_column, header, len(names), "time_column")
    volt = options.voltage_column
    if volt is None:
        volt = 0 if time_col is None else (1 if time_col == 0 else 0)
    sweeps = _sweep_columns(volt, options.current_column, header, len(names))
    table = _numbers(rows, names, path)
    dt_ms = _interval(table, time_col, names, options)
    for name, v_col, i_col in sweeps:
        v = table[:, v_col] * unit_factor("voltage", options.unit("voltage"))
        i = None if i_col is None else table[:, i_col] * unit_factor("current",
                                                                     options.unit("current"))
        yield name, dt_ms, v, i


def _text_table(path: Path, options: RecordingOptions):
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            lines = [line for line in fh if line.strip() and not line.lstrip().startswith("#")]
    except UnicodeDecodeError:
        raise _Bad("is not a text file (not UTF-8); expected CSV or columns of numbers, or name "
                   "the format with recordings.format") from None
    except OSError as exc:
        raise _Bad(f"cannot read the file ({exc.strerror or exc})") from None
    if not lines:
        raise _Bad("empty sweep: the file has no rows")
    delimiter = options.delimiter or _guess_delimiter(lines[0])
    if delimiter == "whitespace":
        rows = [line.split() for line in lines]
    else:
        rows = [[cell.strip() for cell in r] for r in csv.reader(lines, delimiter=delimiter)]
    header = None
    if not all(_is_number(cell) for cell in rows[0]):
        header, rows = rows[0], rows[1:]
    if not rows:
        raise _Bad("empty sweep: a header and no samples")
    width = len(header) if header else len(rows[0])
    uneven = next((k for k, r in enumerate(rows) if len(r) != width), None)
    if uneven is not None:
        row = uneven + (2 if header else 1)
        raise _Bad(f"row {row} has {len(rows[uneven])} columns, the {'header' if header else 'first row'} "
                   f"{width}; expected the same number in every row")
    return header, rows


def _guess_delimiter(line: str) -> str:
    for delimiter in (",", "\t", ";"):
        if delimiter in line:
            return delimiter
    return "whitespace"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _find(column, header, width: int, key: str) -> int | None:
    if column is None:
        return None
    if isinstance(column, int):
        if column >= width:
            raise _Bad(f"recordings.{key}: no column {column}; the file has {width} "
                       f"(numbered from 0)")
        return column
    if header is None:
        raise _Bad(f"recordings.{key}: no column named {quote(column)}: the file has no header "
                   "row; give the column's number (0 for the first)")
    if column not in header:
        raise _Bad(f"recordings.{key}: unknown column {quote(column)}; the columns are "
                   f"{', '.join(header)}")
    return header.index(column)


def _sweep_columns(volt, current, header, width: int):
    """``(sweep name, voltage column, current column or None)`` of each sweep of the file."""
    if not (isinstance(volt, str) and SWEEP in volt):
        return [("", _find(volt, header, width, "voltage_column"),
                 _find(current, header, width, "current_column"))]
    if header is None:
        raise _Bad(f"recordings.voltage_column: {quote(volt)} needs a header row to match")
    before, after = volt.split(SWEEP)
    pattern = re.compile(re.escape(before) + "(.+)" + re.escape(after) + "$")
    out = []
    for k, name in enumerate(header):
        m = pattern.match(name)
        if not m:
            continue
        sweep = m.group(1)
        i_col = None
        if current is not None:
            wanted = current.replace(SWEEP, sweep) if isinstance(current, str) else current
            if isinstance(wanted, str) and wanted not in header:
                raise _Bad(f"recordings.current_column: no column {quote(wanted)} for the voltage "
                           f"column {quote(name)}; the columns are {', '.join(header)}")
            i_col = _find(wanted, header, width, "current_column")
        out.append((sweep, k, i_col))
    if not out:
        raise _Bad(f"recordings.voltage_column: no column matches {quote(volt)}; the columns are "
                   f"{', '.join(header)}")
    return out


def _numbers(rows, names, path) -> np.ndarray:
    try:
        return np.array(rows, dtype=float)
    except ValueError:
        pass
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if not _is_number(cell):
                raise _Bad(f"column {quote(names[c])}, sample {r + 1}: {quote(cell)} is not a "
                           "number")
    raise _Bad("cannot read the numbers")


def _interval(table: np.ndarray, time_col, names, options: RecordingOptions) -> float:
    """The sampling interval in ms, from the time column (checked: increasing, constant, and
    agreeing with ``sampling_rate_hz`` when both are given) or from the sampling rate."""
    rate = options.sampling_rate_hz
    if time_col is None:
        if rate is None:
            raise _Bad("no time column and no recordings.sampling_rate_hz; give one of them")
        return 1000.0 / rate
    t = table[:, time_col] * unit_factor("time", options.unit("time"))
    if t.size < 2:
        raise _Bad("empty sweep: fewer than 2 samples")
    if not np.all(np.isfinite(t)):
        first = int(np.flatnonzero(~np.isfinite(t))[0])
        raise _Bad(f"time column {quote(names[time_col])} has NaN or infinite values, the first "
                   f"at sample {first + 1}")
    steps = np.diff(t)
    back = np.flatnonzero(steps <= 0)
    if back.size:
        k = int(back[0])
        raise _Bad(f"time does not increase: column {quote(names[time_col])} goes from {t[k]:g} "
                   f"to {t[k + 1]:g} ms at sample {k + 2}; expected strictly increasing times")
    dt = float(np.median(steps))
    if steps.max() - steps.min() > STEP_TOLERANCE * dt:
        raise _Bad(f"time steps vary from {steps.min():g} to {steps.max():g} ms; expected one "
                   "sampling interval (resample the sweep first)")
    if rate is not None and abs(1000.0 / rate - dt) > RATE_TOLERANCE * dt:
        raise _Bad(f"recordings.sampling_rate_hz {rate:g} Hz (an interval of {1000.0 / rate:g} "
                   f"ms) does not match the time column (an interval of {dt:g} ms, "
                   f"{1000.0 / dt:g} Hz); correct one or leave out sampling_rate_hz")
    if abs(t[0]) > dt * 0.5:
        raise _Bad(f"time starts at {t[0]:g} ms; expected the sweep to start at 0 ms (BluePyEfe "
                   "and the stimulus timing count from the first sample)")
    return dt


# -- Igor, NWB, abf: BluePyEfe's readers ------------------------------------------------------
def _igor_partners(paths, options: RecordingOptions) -> set:
    """Current files named on the command line beside their voltage file: read with it."""
    v_token, i_token = options.igor_channels
    given = {Path(p) for p in paths}
    out = set()
    for path in given:
        if file_format(path, options) == "igor" and v_token and v_token in path.name:
            partner = _swap(path, v_token, i_token)
            if partner in given:
                out.add(partner)
    return out


def _swap(path: Path, old: str, new: str) -> Path:
    head, sep, tail = path.name.rpartition(old)
    return path.with_name(head + new + tail)


def _read_igor(path: Path, options: RecordingOptions):
    from bluepyefe import igorpy

    v_token, i_token = options.igor_channels
    current_file = None
    if v_token and v_token in path.name:
        current_file = _swap(path, v_token, i_token)
        if not current_file.is_file():
            current_file = None
    elif i_token and i_token in path.name and _swap(path, i_token, v_token).is_file():
        raise _Bad(f"is a current file ({i_token!r} in its name); give its voltage file "
                   f"{_swap(path, i_token, v_token).name} (the current is read with it)")
    notes_v, v = _igor_wave(igorpy, path)
    v_factor = _igor_unit(notes_v, "voltage", path)
    dt = _igor_dt(notes_v)
    i = None
    if current_file is not None:
        notes_i, i = _igor_wave(igorpy, current_file)
        i = np.asarray(i, dtype=float) * _igor_unit(notes_i, "current", current_file)
    yield path.stem, dt, np.asarray(v, dtype=float) * v_factor, i


def _igor_wave(igorpy, path: Path):
    try:
        return igorpy.read(str(path))
    except Exception as exc:      # noqa: BLE001 - igor2 raises whatever its parser meets
        raise _Bad(f"cannot read {path.name} as an Igor binary wave ({_reason(exc)})") from None


def _igor_unit(notes, kind: str, path: Path) -> float:
    unit = str(getattr(notes, "dUnits", "")).replace(" ", "")
    factor = unit_factor(kind, unit)
    if factor is None:
        raise _Bad(f"{path.name}: unknown {kind} unit {quote(unit)} in the wave; expected one "
                   f"of {unit_choices(kind)}")
    return factor


def _igor_dt(notes) -> float:
    unit = str(getattr(notes, "xUnits", "") or "s").replace(" ", "")
    factor = unit_factor("time", unit)
    if factor is None:
        raise _Bad(f"unknown time unit {quote(unit)} in the wave; expected one of "
                   f"{unit_choices('time')}")
    return float(notes.dx) * factor


def _read_nwb(path: Path, options: RecordingOptions):
    from bluepyefe.reader import inspect_nwb, nwb_reader

    try:
        if options.nwb_protocols:
            traces = nwb_reader({"filepath": str(path),
                                 "protocol_name": list(options.nwb_protocols)})
        else:
            traces = inspect_nwb(str(path))["traces"]
    except Exception as exc:      # noqa: BLE001 - h5py and BluePyEfe raise many kinds
        raise _Bad(f"cannot read as NWB icephys ({_reason(exc)})") from None
    if not traces:
        wanted = ", ".join(options.nwb_protocols) or "any protocol"
        raise _Bad(f"no sweeps of {wanted} in the file")
    for k, trace in enumerate(traces):
        yield (str(trace.get("id") or k + 1), *_converted(trace, path))


def _read_abf(path: Path, options: RecordingOptions):
    from bluepyefe.reader import axon_reader

    try:
        traces = axon_reader({"filepath": str(path)})
    except Exception as exc:      # noqa: BLE001 - neo and BluePyEfe raise bare exceptions
        raise _Bad(f"cannot read as an Axon .abf file ({_reason(exc)})") from None
    for k, trace in enumerate(traces):
        trace = {"v_unit": options.unit("voltage"), "i_unit": options.unit("current"),
                 "t_unit": "s", **trace}     # BluePyEfe's abf reader gives dt in s, no units
        yield (str(k + 1), *_converted(trace, path))


def _converted(trace: dict, path: Path):
    """A BluePyEfe reader's trace dict -> ``(dt_ms, voltage_mV, current_nA)``."""
    factors = {}
    for kind, key in (("time", "t_unit"), ("voltage", "v_unit"), ("current", "i_unit")):
        unit = trace.get(key)
        factors[kind] = unit_factor(kind, unit)
        if factors[kind] is None:
            raise _Bad(f"unknown {kind} unit {quote(unit)} in the file; expected one of "
                       f"{unit_choices(kind)}")
    return (float(trace["dt"]) * factors["time"],
            np.asarray(trace["voltage"], dtype=float) * factors["voltage"],
            np.asarray(trace["current"], dtype=float) * factors["current"])


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"


# -- the protocol description ------------------------------------------------------------------
def _describe(raw, stimulus: StimulusOptions, problems: list) -> list[Sweep]:
    """Sweeps with the stimulus description applied; a sweep without a current gets the
    current the description gives (BluePyEfe reads the step from a current trace)."""
    sweeps = []
    n = len(raw)
    amps = _per_sweep(stimulus.amp_nA, n, "stimulus.amp_nA", problems)
    holds = _per_sweep(stimulus.holding_nA, n, "stimulus.holding_nA", problems)
    for k, (source, name, dt, v, i) in enumerate(raw):
        amp, hold = amps[k], holds[k]
        if i is None:
            if amp is None or stimulus.delay_ms is None:
                label = f"sweep {name}" if name else ""
                problems.append(Problem(source, label, "no current recorded and no stimulus "
                                        "description; give a current column (or file), or "
                                        "stimulus.amp_nA with delay_ms and duration_ms"))
                continue
            i = np.full(v.shape, hold or 0.0)
            start = int(round(stimulus.delay_ms / dt))
            stop = int(round((stimulus.delay_ms + stimulus.duration_ms) / dt))
            i[start:stop] += amp
        if stimulus.delay_ms is not None and \
                stimulus.delay_ms + stimulus.duration_ms > dt * (len(v) - 1):
            problems.append(Problem(source, f"sweep {name}" if name else "",
                                    f"the stimulus ends at {stimulus.delay_ms + stimulus.duration_ms:g}"
                                    f" ms, after the sweep ({dt * (len(v) - 1):g} ms)"))
            continue
        sweeps.append(Sweep(source=source, name=name, dt_ms=dt, voltage_mV=v, current_nA=i,
                            amp_nA=amp, holding_nA=hold, delay_ms=stimulus.delay_ms,
                            duration_ms=stimulus.duration_ms))
    return sweeps


def _per_sweep(values, n: int, key: str, problems: list) -> list:
    if values is None:
        return [None] * n
    if len(values) == 1:
        return list(values) * n
    if len(values) != n:
        problems.append(Problem("", key, f"{len(values)} values for {n} sweeps; expected one "
                                         "value, or one per sweep in the order they are read"))
        return [None] * n
    return list(values)
