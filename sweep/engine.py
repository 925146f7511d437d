"""What every kind of campaign is: the contract sweeps and optimisations (and later kinds)
implement, and what they share (run settings, signature, the results file's door, summary).

A campaign kind (``CampaignKind``) has

- ``name``: its config section (``sweep``, ``optimise``, ...), which selects it;
- ``prepare(source, output, workers) -> Plan``: read and check the whole config, no side effects;
- ``open_store(plan, restart, extra_versions)``: lock the output; a store, ``None`` when the
  campaign is already complete, or a ``ConfigError`` refusal (``store.open_for_writing``);
- ``run(plan, executor, stop, store, progress) -> Summary``: evaluate over an injected executor
  (anything with ``imap_unordered(tasks)`` yielding ``RecordBatch``es) until done or stopped;
- ``describe(plan, store=None) -> str``: one line for ``validate`` and the log.

``launch.campaigns`` registers the kinds; nothing branches on which kind a plan is.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

from cellsweep.cells.config import display_path
from cellsweep.cells.mechanisms import content_hash
from cellsweep.cells.schema import ConfigSource, Problems, Section
from cellsweep.sweep import store as St
from cellsweep.sweep.tasks import PointEvaluator

# run: keys that change how a campaign runs but never its results (free to change on resume)
RUN_ONLY = ("output", "workers", "recycle_after", "max_rss_mb", "commit_interval_s",
            "log_interval_s", "progress", "rank_timeout_s")
MAX_TRACE_SAMPLES = 2_000_000     # per stored trace and row: ~8 MB of float32
MAX_TRACE_BYTES = 16 * 2**30      # all stored traces of a campaign


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
    rank_timeout_s: float = 30.0


@dataclass
class Plan:
    """A campaign read and checked: what ``open_store`` and ``run`` need."""

    source: ConfigSource
    model: object
    run: RunSettings
    evaluator: PointEvaluator
    signature: str
    signature_data: dict

    @property
    def config_path(self) -> Path:
        return self.source.path

    @property
    def config_text(self) -> str:
        return self.source.text

    @property
    def data(self) -> dict:
        return self.source.data


@dataclass
class Summary:
    output: Path
    total: int
    counts: dict = field(default_factory=dict)
    complete: bool = False
    stopped: str = ""
    elapsed_s: float = 0.0
    ran: int = 0
    lost_ranks: list = field(default_factory=list)   # MPI worker ranks lost on the way


@dataclass(frozen=True)
class CampaignKind:
    """A kind of campaign: its config section and the four steps every kind implements."""

    name: str                      # the config section that selects it
    prepare: Callable[..., Plan]   # (source, output=None, workers=None) -> Plan
    open_store: Callable           # (plan, restart=False, extra_versions=None) -> store | None
    run: Callable[..., Summary]    # (plan, executor, stop, store, progress=None) -> Summary
    describe: Callable[..., str]   # (plan, store=None) -> one line: what it runs (and has done)
    report: Callable | None = None  # (output path) -> text printed once the campaign is complete


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
        progress=sec.string("progress", "auto", choices=("auto", "bar", "log", "none")),
        rank_timeout_s=sec.number("rank_timeout_s", 30.0, gt=0))
    sec.finish()
    check_output(path, sec.problems, "run.output" if output_override is None else "--output")
    return settings


def check_traces(model, run: RunSettings, problems: Problems, n_rows: int | None = None) -> None:
    """Stored traces must fit: samples per trace = tstop / dt_ms, and all of them (float32,
    every recording, every row) within ``MAX_TRACE_BYTES`` (rank 0 holds them until the end)."""
    if run.trace_dt_ms is None or model is None:
        return
    per_row = 0.0
    for protocol in model.protocols:
        samples = protocol.tstop_ms / run.trace_dt_ms
        per_row += 4 * samples * len(protocol.recordings)
        if samples > MAX_TRACE_SAMPLES:
            problems.add("run.traces.dt_ms",
                         f"{run.trace_dt_ms:g} ms gives {samples:.3g} samples per trace of "
                         f"protocol {protocol.name!r} ({protocol.tstop_ms:g} ms); expected at "
                         f"most {MAX_TRACE_SAMPLES:,} (a larger dt_ms)")
            return
    if n_rows is not None and per_row * n_rows > MAX_TRACE_BYTES:
        problems.add("run.traces.dt_ms",
                     f"stored traces would take {per_row * n_rows / 2**30:.1f} GiB "
                     f"({n_rows:,} evaluations x {per_row / 2**20:.2f} MiB); expected at most "
                     f"{MAX_TRACE_BYTES / 2**30:.0f} GiB (a larger dt_ms, or fewer points)")


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


def campaign_signature(data: dict, model) -> tuple[str, dict]:
    """A hash of everything that decides the results: config (minus run-only keys) + inputs."""
    canonical = json.loads(json.dumps(data, sort_keys=True, default=str))
    run = canonical.get("run") or {}
    for key in RUN_ONLY:
        run.pop(key, None)
    canonical["run"] = run
    inputs = {}
    if model.cell.morphology is not None:    # a stylised cell's sections are in ``data``
        inputs["morphology"] = hashlib.sha256(model.cell.morphology.read_bytes()).hexdigest()
    if model.cell.mechanisms_dir is not None:
        inputs["mechanisms"] = content_hash(model.cell.mechanisms_dir)
    canonical["inputs"] = inputs
    text = json.dumps(canonical, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest(), canonical


def versions(extra: dict | None = None) -> dict:
    """Installed versions of what computes and stores results; under MPI the caller adds the
    MPI library that really ran (not the ``mpich`` package's number: ``MPI4PY_LIBMPI`` can load
    the cluster's MPI instead)."""
    out = {}
    for dist in ("cellsweep", "neuron", "efel", "bluepyopt", "deap", "numpy", "h5py", "mpi4py"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "not installed"
    out.update(extra or {})
    return out


def param_units(model, names) -> list[str]:
    """Units of parameters by name ("" where a name has none, e.g. a count)."""
    by_name = {p.name: p for p in model.parameters}
    return [by_name[n].units if n in by_name else "" for n in names]


def feature_units(model) -> list[str]:
    try:
        from efel.units import get_unit
    except ImportError:
        return [f.units for f in model.features]
    out = []
    for f in model.features:
        if f.profile or f.trace:        # our measures know their units
            out.append(f.units)
            continue
        try:
            out.append(get_unit(f.efel))
        except Exception:  # noqa: BLE001 - units are documentation, never fatal
            out.append("")
    return out


def open_store(plan: Plan, layout: St.Layout, points, extra_attrs: dict, restart: bool,
               extra_versions=None):
    """The results file's door for every kind: lock, resume or refuse, open the store."""
    output = plan.run.output
    # where the config is, relative to the output (never an absolute path), for export-model
    config_from_output = os.path.relpath(Path(plan.config_path).resolve(),
                                         output.resolve().parent)
    # the free parameters' bounds (a sweep's design writes its axes' own): the prior of an
    # export for simulation-based inference
    bounds = {p.name: [p.low, p.high] for p in plan.model.free_parameters}
    extra_attrs = {"parameter_bounds": json.dumps(bounds), **extra_attrs,
                   **_included_texts(plan)}
    campaign = St.Campaign(
        config_text=plan.config_text, signature=plan.signature,
        signature_data=plan.signature_data, versions=versions(extra_versions),
        mechanisms_hash=plan.signature_data["inputs"].get("mechanisms", ""),
        extra={**extra_attrs, "config_from_output": config_from_output})
    return St.open_for_writing(output, layout, campaign, points, restart=restart,
                               commit_interval_s=plan.run.commit_interval_s,
                               shown_as=display_path(output))


def _included_texts(plan: Plan) -> dict:
    """The text of every file the config includes (``targets:``), so that the results file
    holds everything its results came from: ``{"included_files": JSON {name: text}}``."""
    names = plan.data.get("targets") if isinstance(plan.data, dict) else None
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, list) or not names:
        return {}
    texts = {}
    for name in names:
        if isinstance(name, str):
            try:
                texts[name] = (Path(plan.config_path).parent / name).read_text(encoding="utf-8")
            except OSError:
                pass                      # load_model already refused a file it cannot read
    return {"included_files": json.dumps(texts, sort_keys=True)} if texts else {}


def evaluate_tasks(plan: Plan, executor, stop, store, tasks, progress=None,
                   groups: Callable | None = None) -> Summary:
    """What every kind's ``run`` does with its pending tasks: hand them to the executor,
    record each batch, and finish the file (complete when every row is in and nothing
    stopped; ``groups(store)`` then gives what only a finished campaign has). The kind's plan
    has ``n_points``, its rows known up front."""
    start = time.monotonic()
    total = plan.n_points
    if progress is not None:
        counts = store.status_counts()
        progress.start(total=total, done=store.n_done, failed=store.n_done - counts.get("ok", 0))
    ran = 0
    try:
        for batch in executor.imap_unordered(tasks):
            store.record(batch)
            ran += len(batch)
            if progress is not None:
                progress.update(batch)
    finally:
        complete = store.n_done >= total and not stop
        store.finish(complete=complete,
                     groups=groups(store) if complete and groups is not None else None)
        if progress is not None:
            progress.close()
    return Summary(output=plan.run.output, total=total, counts=store.status_counts(),
                   complete=complete, stopped=getattr(stop, "reason", ""),
                   elapsed_s=time.monotonic() - start, ran=ran)

