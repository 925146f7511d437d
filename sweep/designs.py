"""Sweep designs: the table of points of a parameter space, a pure function of the config.

Every process (and every resume) that reads the same ``sweep:`` section gets the same points in
the same order, so a point is identified by its integer id alone. Space-filling designs come
from ``scipy.stats.qmc`` (seeded, scrambled); grids are cartesian products with the last axis
varying fastest.

Config shape::

    sweep:
      design: grid            # grid | zip | csv | random | latin_hypercube | sobol
                              # | saltelli | morris (sensitivity designs, through SALib)
      parameters:             # axes; default for space-filling designs: the free parameters
        gbar_na_t.somatic: {linspace: [0.01, 0.2, 5]}      # or values: [...], logspace: [...]
        step_pos.step.amp_nA: {values: [0.1, 0.2, 0.4]}
        g_pas.all: {low: 1.0e-5, high: 1.0e-4, log: true}  # random / lhs / sobol
      n_samples: 256          # random / latin_hypercube / sobol
      seed: 1
      file: points.csv        # csv: one column per parameter, one row per point
      n: 256                  # saltelli: base sample size N (a power of two)
      second_order: false     # saltelli: also the points second-order indices need
      trajectories: 20        # morris: number of trajectories
      levels: 4               # morris: grid levels

The sensitivity designs (``saltelli``: SALib's Sobol'/Saltelli sampler, N·(D+2) points, or
N·(2D+2) with ``second_order``; ``morris``: SALib's Morris trajectories, trajectories·(D+1)
points) take their axes as the space-filling designs do (bounds, log scale) and keep SALib's
sample order as the point ids: ``sweep.sensitivity`` reads the estimators' blocks back by id.
SALib samples the unit cube; the axes' scaling (linear or log) maps it onto the bounds.
"""

from __future__ import annotations

import csv
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cellsweep.cells.schema import REQUIRED, Section, check_bounds, check_number, join_path
from cellsweep.cells.values import value_problem

DESIGNS = ("grid", "zip", "csv", "random", "latin_hypercube", "sobol", "saltelli", "morris")
SPACE_FILLING = ("random", "latin_hypercube", "sobol")
SENSITIVITY = ("saltelli", "morris")
BOUNDED = SPACE_FILLING + SENSITIVITY      # axes given by bounds, not by values


@dataclass(frozen=True)
class Axis:
    name: str
    values: tuple = ()          # explicit values (grid / zip)
    low: float | None = None    # bounds (space-filling designs)
    high: float | None = None
    log: bool = False


@dataclass(frozen=True)
class SweepSpec:
    design: str
    axes: tuple                 # (Axis, ...)
    n_samples: int = 0
    seed: int = 0
    table: tuple = ()           # csv design: rows of values
    file: str = ""              # csv design: the file they came from (for messages)
    base: int = 0               # saltelli: base sample size N
    second_order: bool = False  # saltelli: points for second-order indices too
    trajectories: int = 0       # morris
    levels: int = 4             # morris

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.axes]


def declared_axes(raw, base_dir: Path) -> dict:
    """{axis name: where it is written} of a raw ``sweep:`` mapping, before it is validated:
    the model is validated once with these names as its extra parameters. Anything malformed
    is left to ``read_sweep`` to report."""
    if not isinstance(raw, dict):
        return {}
    if raw.get("design") == "csv":
        name = raw.get("file")
        if not isinstance(name, str):
            return {}
        try:
            with open(Path(base_dir) / name, newline="", encoding="utf-8") as fh:
                header = next((r for r in csv.reader(fh)
                               if r and not r[0].lstrip().startswith("#")), [])
        except (OSError, UnicodeDecodeError):
            return {}
        return {h.strip(): f"sweep.file column {h.strip()!r}" for h in header if h.strip()}
    params = raw.get("parameters")
    if not isinstance(params, dict):
        return {}
    return {name: join_path("sweep.parameters", name) for name in params
            if isinstance(name, str)}


def read_sweep(sec: Section, base_dir: Path, free_parameters=()) -> SweepSpec | None:
    """Validate a ``sweep:`` section; ``free_parameters`` give default axes and bounds."""
    problems = sec.problems
    design = sec.string("design", choices=DESIGNS)
    seed = sec.number("seed", 0, integer=True, ge=0)
    n_samples = sec.number("n_samples", REQUIRED if design in SPACE_FILLING else None,
                           integer=True, ge=1)
    if design in ("grid", "zip", "csv") and n_samples is not None:
        sec.error("n_samples", f"n_samples applies to {', '.join(SPACE_FILLING)}; a {design} "
                               "design's size follows from its values")
    if design in SENSITIVITY and n_samples is not None:
        sec.error("n_samples", f"a {design} design's size follows from "
                  + ("n (the base sample size)" if design == "saltelli"
                     else "trajectories and levels") + "; expected no n_samples")
    sens = _read_sensitivity(sec, design)
    axes, table = [], ()
    if design == "csv":
        table, names = _read_csv(sec, base_dir)
        axes = [Axis(name=n) for n in names]
    else:
        params_sec = sec.section("parameters")
        items = params_sec.items()
        if not items and design in BOUNDED:
            items = [(p.name, {"low": p.low, "high": p.high, "log": p.log})
                     for p in free_parameters]
            if not items:
                sec.error("parameters", "no axes: list parameters here or declare free "
                                        "parameters under cell.free")
        for name, value in items:
            axis = _read_axis(name, value, params_sec.key_path(name), problems, design,
                              free_parameters)
            if axis is not None:
                axes.append(axis)
        if design == "zip" and axes:
            lengths = {len(a.values) for a in axes}
            if len(lengths) > 1:
                sec.error("parameters", "a zip design needs the same number of values on every "
                                        f"axis; found {sorted(lengths)}")
        if design in ("grid", "zip") and not axes and not problems.items:
            sec.error("parameters", f"a {design} design needs at least one axis")
    sec.finish()
    if design is None:
        return None
    name = sec.raw("file") if design == "csv" else None
    return SweepSpec(design=design, axes=tuple(axes), n_samples=int(n_samples or 0),
                     seed=int(seed or 0), table=table,
                     file=str(Path(base_dir) / name) if isinstance(name, str) else "", **sens)


def _read_sensitivity(sec: Section, design) -> dict:
    """The settings of a ``saltelli`` or ``morris`` design (nothing for the others: their
    keys are then unknown keys of the section)."""
    if design == "saltelli":
        n = sec.number("n", REQUIRED, integer=True, ge=2)
        second = sec.boolean("second_order", False)
        if n is not None and n & (n - 1):
            lower = 1 << (int(n).bit_length() - 1)
            sec.error("n", f"expected a power of two (the Sobol' sequence's balance properties "
                           f"need one), found {int(n)}; e.g. {lower} or {lower * 2}")
        return {"base": int(n or 0), "second_order": bool(second)}
    if design == "morris":
        trajectories = sec.number("trajectories", REQUIRED, integer=True, ge=2)
        levels = sec.number("levels", 4, integer=True, ge=2)
        if levels is not None and levels % 2:
            sec.error("levels", f"expected an even number of levels (Morris' step of "
                                f"levels/(2·(levels-1)) reaches every level only then), found "
                                f"{int(levels)}")
        return {"trajectories": int(trajectories or 0), "levels": int(levels or 4)}
    return {}


def grid_axis(name: str, value, path: str, problems) -> Axis | None:
    """One axis of explicit values (``values``, ``linspace`` or ``logspace``), as a grid's."""
    return _read_axis(name, value, path, problems, "grid", ())


def _read_axis(name, value, path, problems, design, free_parameters) -> Axis | None:
    a = Section(value, path, problems)
    free = next((p for p in free_parameters if p.name == name), None)
    if design in BOUNDED:
        low = a.number("low", free.low if free else None)
        high = a.number("high", free.high if free else None)
        log = a.boolean("log", free.log if free else False)
        a.finish()
        if low is None or high is None:
            if free is None:
                problems.add(path, "expected low and high (or declare it under cell.free)")
            return None
        if not check_bounds(low, high, log, path, problems):
            return None
        return Axis(name=name, low=low, high=high, log=log)
    ways = [k for k in ("values", "linspace", "logspace") if a.has(k)]
    if len(ways) != 1:
        a.error(None, "expected exactly one of values, linspace: [start, stop, n] or "
                      f"logspace: [start, stop, n]; found {', '.join(ways) or 'none'}")
        a.finish()
        return None
    way = ways[0]
    raw = a.sequence(way)
    a.finish()
    if way == "values":
        values = [check_number(v, f"{path}.values[{i}]", problems) for i, v in enumerate(raw)]
        if None in values or not values:
            if not values:
                problems.add(f"{path}.values", "expected at least one value")
            return None
        return Axis(name=name, values=tuple(values))
    if len(raw) != 3:
        problems.add(f"{path}.{way}", f"expected [start, stop, n], found {raw!r}")
        return None
    start = check_number(raw[0], f"{path}.{way}[0]", problems)
    stop = check_number(raw[1], f"{path}.{way}[1]", problems)
    n = check_number(raw[2], f"{path}.{way}[2]", problems, integer=True, ge=1)
    if None in (start, stop, n):
        return None
    if way == "logspace":
        if start <= 0 or stop <= 0:
            problems.add(f"{path}.logspace", "logspace takes the start and stop values "
                                             f"themselves, both positive; found {start:g}, {stop:g}")
            return None
        values = np.geomspace(start, stop, n)
    else:
        values = np.linspace(start, stop, n)
    return Axis(name=name, values=tuple(float(v) for v in values))


def _read_csv(sec: Section, base_dir: Path):
    name = sec.string("file")
    if not name:
        return (), []
    path = base_dir / name
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.reader(fh) if r and not r[0].lstrip().startswith("#")]
    except OSError as exc:
        sec.error("file", f"cannot read {path}: {exc.strerror or exc}")
        return (), []
    if len(rows) < 2:
        sec.error("file", f"{path}: expected a header row of parameter names and at least one "
                          "row of values")
        return (), []
    header = [h.strip() for h in rows[0]]
    twice = sorted({h for h in header if header.count(h) > 1})
    if twice:
        sec.error("file", f"{path}:1: column {twice[0]!r} appears twice in the header; expected "
                          "one column per parameter")
        return (), []
    table = []
    for i, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            sec.error("file", f"{path}:{i}: expected {len(header)} values, found {len(row)}")
            return (), []
        try:
            table.append(tuple(float(v) for v in row))
        except ValueError:
            sec.error("file", f"{path}:{i}: not a number in {row!r}")
            return (), []
    return tuple(table), header


MAX_POINTS = 20_000_000     # the table of points is held in memory: 8 bytes x axes per point


def value_problems(spec: SweepSpec, model) -> list[tuple[str, str]]:
    """(key path, message) of every axis value or bound its parameter refuses
    (``cells.values``: the rule ``--set``, bounds and fixed values follow too), and of a design
    too large to hold; call before ``points``."""
    out = []
    for j, axis in enumerate(spec.axes):
        param = model.parameter(axis.name)
        if param is None:
            continue
        where = join_path("sweep.parameters", axis.name)
        if spec.design == "csv":
            for row, values in enumerate(spec.table, start=2):
                problem = value_problem(param, values[j])
                if problem:
                    out.append(("sweep.file",
                                f"{spec.file}:{row}: column {axis.name!r}: {problem}"))
                    break
            continue
        candidates = [("low", axis.low), ("high", axis.high)] if spec.design in BOUNDED \
            else [(None, v) for v in axis.values]
        for key, value in candidates:
            problem = value_problem(param, value)
            if problem:
                out.append((f"{where}.{key}" if key else where, problem))
                break
    n = size(spec)
    if n > MAX_POINTS:
        out.append(("sweep", f"the design has {n:,} points; cellsweep holds a sweep's table of "
                             f"points in memory and takes at most {MAX_POINTS:,} (split the sweep "
                             "into several campaigns)"))
    return out


def size(spec: SweepSpec) -> int:
    if spec.design == "grid":
        return int(np.prod([len(a.values) for a in spec.axes])) if spec.axes else 0
    if spec.design == "zip":
        return len(spec.axes[0].values) if spec.axes else 0
    if spec.design == "csv":
        return len(spec.table)
    d = len(spec.axes)
    if spec.design == "saltelli":
        return spec.base * (2 * d + 2 if spec.second_order else d + 2) if d else 0
    if spec.design == "morris":
        return spec.trajectories * (d + 1) if d else 0
    return spec.n_samples


def points(spec: SweepSpec) -> np.ndarray:
    """The full table of points, shape (n_points, n_axes), in point-id order."""
    n, d = size(spec), len(spec.axes)
    if spec.design == "grid":
        grids = np.meshgrid(*[np.asarray(a.values) for a in spec.axes], indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=1) if grids else np.zeros((0, 0))
    if spec.design == "zip":
        return np.array([a.values for a in spec.axes], dtype=float).T
    if spec.design == "csv":
        return np.array(spec.table, dtype=float).reshape(n, d)
    unit = _unit_samples(spec, n, d)
    out = np.empty_like(unit)
    for j, a in enumerate(spec.axes):
        if a.log:
            out[:, j] = np.exp(np.log(a.low) + unit[:, j] * (np.log(a.high) - np.log(a.low)))
        else:
            out[:, j] = a.low + unit[:, j] * (a.high - a.low)
        if spec.design in SENSITIVITY:     # Morris' levels include both ends: exp(log(x))
            np.clip(out[:, j], a.low, a.high, out=out[:, j])   # may miss x by an ulp
    return out


def salib_problem(spec: SweepSpec) -> dict:
    """The SALib problem of a sensitivity design: names and bounds (``log``: which axes are
    sampled uniformly in log; SALib itself sees the unit cube)."""
    return {"num_vars": len(spec.axes), "names": spec.names,
            "bounds": [[a.low, a.high] for a in spec.axes], "log": [a.log for a in spec.axes]}


def file_attrs(spec: SweepSpec, free_parameters=()) -> dict:
    """What a results file keeps of its design beyond its name (``store`` writes them as root
    attributes): ``parameter_bounds`` (JSON {name: [low, high]}: an axis's bounds, else its
    free parameter's, else the range of its values: the prior bounds of an export), and for
    a sensitivity design ``sensitivity`` (JSON: the design, its settings and the SALib
    problem), what ``sweep.sensitivity`` needs."""
    free = {p.name: p for p in free_parameters}
    bounds = {}
    for j, a in enumerate(spec.axes):
        if a.low is not None:
            bounds[a.name] = [a.low, a.high]
        elif a.name in free:
            bounds[a.name] = [free[a.name].low, free[a.name].high]
        else:
            values = [row[j] for row in spec.table] if spec.design == "csv" else a.values
            if len(values):
                bounds[a.name] = [float(min(values)), float(max(values))]
    out = {"parameter_bounds": json.dumps(bounds)}
    if spec.design in SENSITIVITY:
        settings = {"design": spec.design, "seed": spec.seed, "problem": salib_problem(spec)}
        if spec.design == "saltelli":
            settings.update(n=spec.base, second_order=spec.second_order)
        else:
            settings.update(trajectories=spec.trajectories, levels=spec.levels)
        out["sensitivity"] = json.dumps(settings, sort_keys=True)
    return out


def _unit_samples(spec: SweepSpec, n: int, d: int) -> np.ndarray:
    from scipy.stats import qmc

    if spec.design in SENSITIVITY:
        return _salib_samples(spec)
    if spec.design == "random":
        return np.random.default_rng(spec.seed).random((n, d))
    if spec.design == "latin_hypercube":
        return qmc.LatinHypercube(d=d, scramble=True, seed=spec.seed).random(n)
    sampler = qmc.Sobol(d=d, scramble=True, seed=spec.seed)
    m = max(0, math.ceil(math.log2(n)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a prefix of a 2^m sequence is what we want here
        return sampler.random_base2(m)[:n]


def _salib_samples(spec: SweepSpec) -> np.ndarray:
    """SALib's points in the unit cube, in SALib's order (what its analysers expect)."""
    problem = {"num_vars": len(spec.axes), "names": spec.names,
               "bounds": [[0.0, 1.0]] * len(spec.axes)}
    if spec.design == "saltelli":
        from SALib.sample import sobol

        return sobol.sample(problem, spec.base, calc_second_order=spec.second_order,
                            scramble=True, seed=spec.seed)
    from SALib.sample import morris

    return morris.sample(problem, spec.trajectories, num_levels=spec.levels, seed=spec.seed)
