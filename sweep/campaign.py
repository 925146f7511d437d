"""A sweep campaign: validate everything, then evaluate every unfinished point into one file.

``prepare`` reads and checks the whole config (model, ``sweep:``, ``run:``, output path) without
side effects, so bad input fails before any process starts. ``run`` takes a prepared plan and an
executor (anything with ``imap_unordered``; ``sweep`` never knows about processes or MPI),
resumes from the output's journal, and records every result.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np

from cellsweep.cells.config import display_path
from cellsweep.cells.errors import ConfigError
from cellsweep.cells.loader import load_model
from cellsweep.cells.mechanisms import content_hash
from cellsweep.cells.schema import Problems, Section, load_yaml
from cellsweep.sweep import designs
from cellsweep.sweep import store as St
from cellsweep.sweep.tasks import PointEvaluator

# run: keys that change how a campaign runs but never its results (free to change on resume)
RUN_ONLY = ("output", "workers", "recycle_after", "max_rss_mb", "commit_interval_s",
            "log_interval_s", "progress")


@dataclass(frozen=True)
class RunSettings:
    output: Path
    workers: int | None = None
    timeout_s: float = 600.0
    max_attempts: int = 2
    recycle_after: int = 500
    max_rss_mb: float = 4000.0
    trace_dt_ms: float | None = None
    commit_interval_s: float = 2.0
    log_interval_s: float = 30.0
    progress: str = "auto"


@dataclass
class SweepPlan:
    config_path: Path
    config_text: str
    data: dict
    model: object
    sweep: designs.SweepSpec
    run: RunSettings
    points: np.ndarray
    evaluator: PointEvaluator
    signature: str
    signature_data: dict

    @property
    def n_points(self) -> int:
        return int(self.points.shape[0])


@dataclass
class Summary:
    output: Path
    total: int
    counts: dict = field(default_factory=dict)
    complete: bool = False
    stopped: str = ""
    elapsed_s: float = 0.0
    ran: int = 0


def read_run(sec: Section, base_dir: Path, output_override=None, workers_override=None,
             default_name="results.h5") -> RunSettings:
    output = sec.string("output", None)
    if output_override is not None:
        path = Path(output_override)
    elif output:
        path = Path(os.path.normpath(base_dir / output))
    else:
        path = Path("results") / default_name
    workers = sec.number("workers", None, integer=True, ge=1)
    if workers_override is not None:
        workers = workers_override
    traces = sec.raw("traces", None)
    trace_dt = None
    if traces not in (None, False):
        t = Section(traces if isinstance(traces, dict) else {}, sec.key_path("traces"),
                    sec.problems)
        if traces is not True and not isinstance(traces, dict):
            sec.error("traces", "expected true, false or {dt_ms: ...}")
        trace_dt = t.number("dt_ms", 0.5, gt=0)
        t.finish()
    settings = RunSettings(
        output=path, workers=workers,
        timeout_s=sec.number("timeout_s", 600.0, gt=0),
        max_attempts=sec.number("max_attempts", 2, integer=True, ge=1, le=10),
        recycle_after=sec.number("recycle_after", 500, integer=True, ge=1),
        max_rss_mb=sec.number("max_rss_mb", 4000.0, gt=0),
        trace_dt_ms=trace_dt,
        commit_interval_s=sec.number("commit_interval_s", 2.0, gt=0),
        log_interval_s=sec.number("log_interval_s", 30.0, gt=0),
        progress=sec.string("progress", "auto", choices=("auto", "bar", "log", "none")))
    sec.finish()
    check_output(path, sec.problems, "run.output" if output_override is None else "--output")
    return settings


def check_output(path: Path, problems: Problems, where: str) -> None:
    if path.suffix not in (".h5", ".hdf5"):
        problems.add(where, f"expected an .h5 or .hdf5 file name, found {str(path)!r}")
        return
    if path.is_dir():
        problems.add(where, f"{path} is a directory; expected a file path")
        return
    probe = path.parent if str(path.parent) else Path(".")
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK):
        problems.add(where, f"cannot create {path}: {probe} is not a writable directory")


def prepare(config_path, output=None, workers=None) -> SweepPlan:
    """Read and validate a sweep config completely; no file is written."""
    config_path = Path(config_path)
    data = load_yaml(config_path)
    source = display_path(config_path)
    problems = Problems(source)
    if "sweep" not in data:
        problems.add("sweep", "missing: a sweep campaign needs a sweep: section")
        problems.raise_if_any()
    try:
        model, data = load_model(config_path)
        free = model.free_parameters
    except ConfigError as exc:              # keep collecting: report sweep/run problems too
        model, free = None, ()
        problems.items.extend(exc.problems)
    spec = designs.read_sweep(Section(data.get("sweep"), "sweep", problems), config_path.parent,
                              free)
    run = read_run(Section(data.get("run"), "run", problems), config_path.parent, output,
                   workers, default_name=f"{config_path.stem}.h5")
    problems.raise_if_any()
    declared = {p.name for p in model.parameters}
    where = "sweep.file column {!r}" if spec.design == "csv" else "sweep.parameters[{!r}]"
    extra = {a.name: where.format(a.name) for a in spec.axes if a.name not in declared}
    if extra:
        model, data = load_model(config_path, extra_parameters=extra)
    points = designs.points(spec)
    if points.shape[0] == 0:
        raise ConfigError([f"{source}: sweep: the design has no points"])
    evaluator = PointEvaluator(model=model, param_names=tuple(spec.names),
                               trace_dt_ms=run.trace_dt_ms)
    signature, canonical = campaign_signature(data, model)
    return SweepPlan(config_path=config_path, config_text=config_path.read_text(encoding="utf-8"),
                     data=data, model=model, sweep=spec, run=run, points=points,
                     evaluator=evaluator, signature=signature, signature_data=canonical)


def campaign_signature(data: dict, model) -> tuple[str, dict]:
    """A hash of everything that decides the results: config (minus run-only keys) + inputs."""
    canonical = json.loads(json.dumps(data, sort_keys=True, default=str))
    run = canonical.get("run") or {}
    for key in RUN_ONLY:
        run.pop(key, None)
    canonical["run"] = run
    inputs = {"morphology": hashlib.sha256(model.cell.morphology.read_bytes()).hexdigest()}
    if model.cell.mechanisms_dir is not None:
        inputs["mechanisms"] = content_hash(model.cell.mechanisms_dir)
    canonical["inputs"] = inputs
    text = json.dumps(canonical, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest(), canonical


def changed_keys(old, new, path="") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{path}.{key}" if path else str(key)
            if key not in old or key not in new:
                out.append(sub)
            else:
                out.extend(changed_keys(old[key], new[key], sub))
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [k for i, (a, b) in enumerate(zip(old, new))
                for k in changed_keys(a, b, f"{path}[{i}]")]
    return [] if old == new else [path or "(top level)"]


def versions(extra: dict | None = None) -> dict:
    out = {}
    for dist in ("cellsweep", "neuron", "efel", "bluepyopt", "deap", "numpy", "h5py", "mpi4py",
                 "mpich"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    out.update(extra or {})
    return out


def _units(model, names) -> list[str]:
    by_name = {p.name: p for p in model.parameters}
    return [getattr(by_name.get(n), "unit", "") or "" for n in names]


def feature_units(model) -> list[str]:
    try:
        from efel.units import get_unit
    except ImportError:
        return [""] * len(model.features)
    out = []
    for f in model.features:
        try:
            out.append(get_unit(f.efel))
        except Exception:  # noqa: BLE001 - units are documentation, never fatal
            out.append("")
    return out


def open_store(plan: SweepPlan, restart: bool = False, extra_versions=None):
    """Lock the output, decide fresh/resume/refuse; return an opened store, or None when the
    output already holds this campaign, complete."""
    layout = St.Layout(kind="sweep", param_names=tuple(plan.sweep.names),
                       param_units=tuple(_units(plan.model, plan.sweep.names)),
                       feature_names=tuple(f.name for f in plan.model.features),
                       feature_units=tuple(feature_units(plan.model)), n_rows=plan.n_points,
                       traces=tuple(plan.evaluator.trace_layout()))
    return open_results(plan, layout, plan.points, {"design": plan.sweep.design}, restart,
                        extra_versions)


def open_results(plan, layout: St.Layout, points, extra_attrs: dict, restart: bool,
                 extra_versions=None):
    """Shared by sweeps and optimisations: lock, resume or refuse, and open the store."""
    output = plan.run.output
    output.parent.mkdir(parents=True, exist_ok=True)
    lock = St.acquire_lock(output)
    journal_path, _ = St.paths(output)
    meta, records, _dropped, valid_end = St.read_journal(output)
    if meta is None and output.exists() and not restart:
        previous = _stored_signature(output)
        if previous == plan.signature:
            St.release_lock(lock, output, remove=True)
            return None                       # already complete: nothing to do
        lock.close()
        raise ConfigError([f"{display_path(output)}: exists and "
                           + ("holds results of a different config" if previous else
                              "is not a complete cellsweep results file")
                           + "; use --restart to replace it, or choose another --output"])
    if meta is not None and meta.get("signature") != plan.signature and not restart:
        keys = changed_keys(meta.get("config", {}), plan.signature_data)
        lock.close()
        raise ConfigError([f"{display_path(output)}: the config changed since this campaign "
                           f"started (changed: {', '.join(keys) or 'inputs'}); rerun with the "
                           "original config to resume, or pass --restart to start over"])
    if restart:
        for path in (journal_path, output):
            if path.exists():
                path.unlink()
        records, valid_end = None, None
    # where the config is, relative to the output (never an absolute path), for export-model
    config_from_output = os.path.relpath(Path(plan.config_path).resolve(),
                                         output.resolve().parent)
    campaign = St.Campaign(
        config_text=plan.config_text, signature=plan.signature,
        signature_data=plan.signature_data, versions=versions(extra_versions),
        mechanisms_hash=plan.signature_data["inputs"].get("mechanisms", ""),
        extra={**extra_attrs, "config_from_output": config_from_output})
    store = St.ResultStore(output, layout, campaign, points,
                           commit_interval_s=plan.run.commit_interval_s, lock=lock)
    if layout.kind == "sweep" and records is not None:
        records = records.take(records.ids < layout.n_rows)
    store.open(records, valid_end)
    return store


def _stored_signature(output: Path) -> str | None:
    """The config signature of a complete results file (its journal is gone), or None."""
    import h5py

    try:
        with h5py.File(output, "r", locking=False) as f:
            if f.attrs.get("format") != St.FORMAT or not f.attrs.get("complete", False):
                return None
            return str(f.attrs["config_signature"])
    except OSError:
        return None


class _Tasks:
    """The pending points as task dicts, made one at a time as the executor takes them (a
    million-point sweep would otherwise be a million dicts at once); sized, so that an
    executor can share out what is left."""

    def __init__(self, ids: np.ndarray, names, points: np.ndarray):
        self.ids, self.names, self.points = ids, names, points

    def __len__(self) -> int:
        return int(self.ids.size)

    def __iter__(self):
        names, points = self.names, self.points
        for i in self.ids.tolist():
            yield {"id": i, "params": {n: float(v) for n, v in zip(names, points[i])}}


def run(plan: SweepPlan, executor, stop, store: St.ResultStore, progress=None) -> Summary:
    """Evaluate every point not yet in the store; returns when done or when ``stop`` is set."""
    start = time.monotonic()
    names = plan.sweep.names
    pending = np.flatnonzero(~store.done_mask(plan.n_points))
    if progress is not None:
        counts = store.status_counts()
        progress.start(total=plan.n_points, done=store.n_done,
                       failed=store.n_done - counts.get("ok", 0))

    ran = 0
    try:
        for batch in executor.imap_unordered(_Tasks(pending, names, plan.points)):
            store.record(batch)
            ran += len(batch)
            if progress is not None:
                progress.update(batch)
    finally:
        complete = store.n_done >= plan.n_points and not stop
        store.finish(complete=complete)
        if progress is not None:
            progress.close()
    return Summary(output=plan.run.output, total=plan.n_points, counts=store.status_counts(),
                   complete=complete,
                   stopped=getattr(stop, "reason", ""), elapsed_s=time.monotonic() - start,
                   ran=ran)
