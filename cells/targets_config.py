"""The small config of ``cellsweep targets``: how to read a lab's recordings and what to extract.

It is read like every other config (``cells.schema``: every problem with its key path, unknown
keys with a "did you mean"), into frozen options that ``cells.recordings`` (reading) and
``cells.targets`` (grouping and extraction) use. No key is required: without a config, text
files are read as a time column and a voltage column in ms and mV, and the step of each sweep is
found in its current trace by BluePyEfe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cellsweep.cells.schema import Problems, Section, check_number, quote, type_name

FORMATS = ("auto", "text", "igor", "nwb", "abf")
# unit spellings -> factor to ms, mV, nA (files write "volts", "amperes", "seconds" too)
TIME_UNITS = {"ms": 1.0, "s": 1e3, "sec": 1e3, "seconds": 1e3, "us": 1e-3}
VOLTAGE_UNITS = {"mV": 1.0, "V": 1e3, "volts": 1e3, "uV": 1e-3}
CURRENT_UNITS = {"nA": 1.0, "pA": 1e-3, "A": 1e9, "amperes": 1e9, "amps": 1e9, "uA": 1e3,
                 "mA": 1e6}
UNITS = {"time": TIME_UNITS, "voltage": VOLTAGE_UNITS, "current": CURRENT_UNITS}
SWEEP = "{sweep}"                    # the placeholder of a column pattern
GROUPINGS = ("relative", "absolute")
# BluePyEfe's DEFAULT_EFEL_SETTINGS (bluepyefe.tools), and its default_std_value
DEFAULT_THRESHOLD_MV = -20.0
DEFAULT_INTERP_STEP_MS = 0.025
DEFAULT_SINGLE_SWEEP_STD = 1e-3
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def unit_factor(kind: str, unit) -> float | None:
    """The factor from ``unit`` to ms / mV / nA, or None for a unit we do not know. Word
    spellings ("Volts") match in any case, symbols exactly (mA is not MA)."""
    table = UNITS[kind]
    if not isinstance(unit, str):
        return None
    unit = unit.strip()
    if unit in table:
        return table[unit]
    return next((f for name, f in table.items() if len(name) > 2 and name == unit.lower()), None)


def unit_choices(kind: str) -> str:
    return ", ".join(name for name in UNITS[kind] if len(name) <= 2 or name == "seconds")


@dataclass(frozen=True)
class RecordingOptions:
    """How to read the files (``recordings:``)."""

    format: str = "auto"
    time_column: str | int | None = 0          # None: from sampling_rate_hz
    voltage_column: str | int | None = None    # None: the column after time (or the only one)
    current_column: str | int | None = None
    sampling_rate_hz: float | None = None
    delimiter: str | None = None               # None: comma, tab or whitespace, as found
    units: tuple = (("time", "ms"), ("voltage", "mV"), ("current", "nA"))
    igor_channels: tuple = ("ch1", "ch0")      # (voltage, current) in the file names
    nwb_protocols: tuple = ()                  # () = every protocol in the file

    def unit(self, kind: str) -> str:
        return dict(self.units)[kind]


@dataclass(frozen=True)
class StimulusOptions:
    """The step protocol as the lab describes it (``stimulus:``); None: found in the current."""

    delay_ms: float | None = None
    duration_ms: float | None = None
    amp_nA: tuple | None = None          # one value for every sweep, or one per sweep
    holding_nA: tuple | None = None


@dataclass(frozen=True)
class TargetOptions:
    """Grouping and extraction (``grouping:``, ``features:`` and the settings)."""

    protocol: str = "Step"
    grouping: str = "relative"
    amplitudes: tuple = ()               # () = groups found from the amplitudes
    tolerance: float = 10.0              # % of rheobase, or nA
    rheobase_nA: float | None = None
    features: tuple = ("Spikecount", "mean_frequency", "time_to_first_spike", "AP_amplitude",
                       "AP_width", "AHP_depth_abs", "voltage_base", "steady_state_voltage")
    threshold_mV: float = DEFAULT_THRESHOLD_MV
    interp_step_ms: float = DEFAULT_INTERP_STEP_MS
    efel_settings: tuple = (("strict_stiminterval", True),)
    ljp_mV: float = 0.0
    single_sweep_std: float = DEFAULT_SINGLE_SWEEP_STD


@dataclass(frozen=True)
class TargetsConfig:
    recordings: RecordingOptions = field(default_factory=RecordingOptions)
    stimulus: StimulusOptions = field(default_factory=StimulusOptions)
    targets: TargetOptions = field(default_factory=TargetOptions)


def read_targets_config(data: dict, source: str) -> TargetsConfig:
    """Validate the small config's mapping; raises ``ConfigError`` with every problem."""
    problems = Problems(source)
    top = Section(data, "", problems)
    recordings = _read_recordings(top.section("recordings"))
    stimulus = _read_stimulus(top.section("stimulus"))
    targets = _read_targets(top, problems)
    top.finish()
    problems.raise_if_any()
    return TargetsConfig(recordings=recordings, stimulus=stimulus, targets=targets)


def _column(sec: Section, key: str, default):
    value = sec.raw(key, default)
    if value is None or isinstance(value, str) or (isinstance(value, int)
                                                   and not isinstance(value, bool) and value >= 0):
        return value
    sec.error(key, f"expected a column name or a column number (0 for the first), found "
                   f"{type_name(value)} {quote(value)}")
    return default


def _read_recordings(sec: Section) -> RecordingOptions:
    d = RecordingOptions()
    fmt = sec.string("format", d.format, choices=FORMATS)
    rate = sec.number("sampling_rate_hz", None, gt=0)
    time_column = _column(sec, "time_column", None if rate is not None else 0)
    voltage = _column(sec, "voltage_column", None)
    current = _column(sec, "current_column", None)
    for key, value in (("voltage_column", voltage), ("current_column", current)):
        if isinstance(value, str) and value.count(SWEEP) > 1:
            sec.error(key, f"{quote(value)} has {SWEEP} more than once; expected at most once")
    if isinstance(current, str) and SWEEP in current and not (isinstance(voltage, str)
                                                              and SWEEP in voltage):
        sec.error("current_column", f"uses {SWEEP} but voltage_column does not; the sweeps are "
                                    "the voltage columns that match voltage_column")
    delimiter = sec.string("delimiter", None)
    if delimiter is not None and len(delimiter) != 1 and delimiter != "whitespace":
        sec.error("delimiter", f"expected one character or 'whitespace', found {quote(delimiter)}")
    units_sec = sec.section("units")
    units = []
    for kind, default in d.units:
        unit = units_sec.string(kind, default)
        if unit is not None and unit_factor(kind, unit) is None:
            units_sec.error(kind, f"unknown {kind} unit {quote(unit)}; expected one of "
                                  f"{unit_choices(kind)}")
            unit = default
        units.append((kind, unit or default))
    units_sec.finish()
    igor = sec.section("igor_channels")
    channels = (igor.string("voltage", d.igor_channels[0]), igor.string("current",
                                                                        d.igor_channels[1]))
    if channels[0] and channels[0] == channels[1]:
        igor.error("current", "expected a name part different from the voltage one")
    igor.finish()
    nwb = sec.sequence("nwb_protocols", [])
    if not all(isinstance(p, str) for p in nwb):
        sec.error("nwb_protocols", "expected a list of protocol names")
        nwb = []
    sec.finish()
    return RecordingOptions(format=fmt or "auto", time_column=time_column, voltage_column=voltage,
                            current_column=current, sampling_rate_hz=rate, delimiter=delimiter,
                            units=tuple(units), igor_channels=tuple(c or "" for c in channels),
                            nwb_protocols=tuple(nwb))


def _numbers(sec: Section, key: str):
    """A number, or a list of numbers (one per sweep, in the order sweeps are read)."""
    value = sec.raw(key, None)
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    out = [check_number(v, sec.key_path(key) if not isinstance(value, list)
                        else f"{sec.key_path(key)}[{i}]", sec.problems) for i, v in enumerate(items)]
    if not items:
        sec.error(key, "expected a number or a non-empty list of numbers")
    return None if None in out or not out else tuple(out)


def _read_stimulus(sec: Section) -> StimulusOptions:
    delay = sec.number("delay_ms", None, ge=0)
    duration = sec.number("duration_ms", None, gt=0)
    if (delay is None) != (duration is None) and not sec.problems.items:
        sec.error("duration_ms" if duration is None else "delay_ms",
                  "give both delay_ms and duration_ms (or neither: the step is then found in "
                  "each sweep's current)")
    out = StimulusOptions(delay_ms=delay, duration_ms=duration, amp_nA=_numbers(sec, "amp_nA"),
                          holding_nA=_numbers(sec, "holding_nA"))
    sec.finish()
    return out


def _read_targets(top: Section, problems: Problems) -> TargetOptions:
    d = TargetOptions()
    protocol = top.string("protocol", d.protocol)
    if protocol and not _NAME.match(protocol):
        top.error("protocol", f"invalid name {quote(protocol)}; expected a letter followed by "
                              "letters, digits or underscores (it prefixes protocol names)")
    g = top.section("grouping")
    by = g.string("by", d.grouping, choices=GROUPINGS)
    amplitudes = g.sequence("amplitudes", [])
    good = [check_number(a, f"{g.key_path('amplitudes')}[{i}]", problems)
            for i, a in enumerate(amplitudes)]
    tolerance = g.number("tolerance", d.tolerance if by != "absolute" else 0.01, gt=0)
    rheobase = g.number("rheobase_nA", None, gt=0)
    if rheobase is not None and by == "absolute":
        g.error("rheobase_nA", "is used only with by: relative")
    g.finish()
    features = top.sequence("features", list(d.features))
    if not features or not all(isinstance(f, str) for f in features):
        top.error("features", "expected a non-empty list of eFEL feature names")
        features = list(d.features)
    else:
        from cellsweep.cells.config import efel_feature_names

        known = set(efel_feature_names())
        for i, name in enumerate(features):
            if name not in known:
                problems.add(f"features[{i}]", f"unknown eFEL feature {quote(name)} (the full "
                                               "list: efel.get_feature_names())")
    settings = _read_efel_settings(top.section("efel_settings"))
    out = TargetOptions(
        protocol=protocol or d.protocol, grouping=by or d.grouping,
        amplitudes=tuple(a for a in good if a is not None),
        tolerance=tolerance if tolerance is not None else d.tolerance, rheobase_nA=rheobase,
        features=tuple(features),
        threshold_mV=top.number("threshold_mV", d.threshold_mV),
        interp_step_ms=top.number("interp_step_ms", d.interp_step_ms, gt=0),
        efel_settings=settings,
        ljp_mV=top.number("liquid_junction_potential_mV", 0.0),
        single_sweep_std=top.number("single_sweep_std", d.single_sweep_std, gt=0))
    return out


def _read_efel_settings(sec: Section) -> tuple:
    """Other eFEL settings, checked against ``efel.Settings`` as feature settings are; the
    stimulus window and threshold have their own keys."""
    from cellsweep.cells.config import _setting_problem, efel_setting_names

    types = efel_setting_names()
    out = dict(TargetOptions().efel_settings)
    own = {"Threshold": "threshold_mV", "interp_step": "interp_step_ms",
           "stim_start": "stimulus.delay_ms", "stim_end": "stimulus.duration_ms"}
    for key, value in sec.items():
        if key in own:
            sec.error(key, f"set by {own[key]} here; remove it")
        elif key not in types:
            sec.error(key, "unknown eFEL setting (a field of efel.Settings)")
        elif _setting_problem(value, types[key]):
            sec.error(key, _setting_problem(value, types[key]))
        else:
            out[key] = value
    return tuple(sorted(out.items()))
