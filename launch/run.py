"""``cellsweep run``: one command for a laptop (local processes) or an MPI allocation.

Under ``mpiexec``/``srun`` every rank runs this; rank 0 validates everything, builds the
mechanisms and opens the results file while the other ranks wait for the outcome, so that bad
input fails once, before any work starts, and exits every rank with status 2.

Exit statuses: 0 complete, 2 bad input (nothing done), 3 stopped by SIGUSR1 (the wall-time
warning: a job chain resubmits), 4 stopped by SIGTERM or SIGINT (cancelled, or the time limit
itself: not resubmitted), 5 a worker rank whose rank 0 was lost. After 3 and 4 the same command
resumes. ``--summary FILE`` also writes the outcome as JSON for job scripts.
"""

from __future__ import annotations

import json
import os
import signal
import sys

import click
from pathlib import Path

from cellsweep.cells.errors import FrameworkError
from cellsweep.cells.schema import ConfigSource
from cellsweep.launch.backends import ProcessExecutor, SerialExecutor, StopFlag
from cellsweep.launch.checks import check_before_run
from cellsweep.launch.files import write_atomically
from cellsweep.launch.campaigns import kind_of
from cellsweep.launch.supervisor import Limits
from cellsweep.sweep.progress import Progress

EXIT_STOPPED = 3     # stopped by the wall-time warning (SIGUSR1); rerun to resume
EXIT_CANCELLED = 4   # stopped by SIGTERM/SIGINT (scancel, Ctrl-C, the limit); rerun to resume


def limits_of(plan) -> Limits:
    r = plan.run
    return Limits(timeout_s=r.timeout_s, max_attempts=r.max_attempts,
                  recycle_after=r.recycle_after, max_rss_mb=r.max_rss_mb)


def prepare(config, output=None, workers=None, kind=None, options=None):
    """The config read once, its kind found (or the ``kind`` named: ``cellsweep profile``),
    and every check ``validate`` makes passed: ``(kind, plan)``; nothing written."""
    from cellsweep.launch.campaigns import KINDS

    source = ConfigSource.read(config)
    campaign = KINDS[kind] if kind else kind_of(source)
    plan = campaign.prepare(source, output=output, workers=workers, **(options or {}))
    check_before_run(plan.model)
    return campaign, plan


def _prepare(config, output, workers, restart, extra_versions=None, summary_path=None,
             kind=None, options=None):
    check_summary_path(summary_path)
    kind, plan = prepare(config, output, workers, kind, options)
    store = kind.open_store(plan, restart=restart, extra_versions=extra_versions)
    return kind, plan, store


def run_local(config, output, workers, backend, restart, summary_path=None, kind=None,
              options=None) -> tuple[int, object]:
    stop = StopFlag()
    stop.install(early=True)
    campaign, plan, store = _prepare(config, output, workers, restart, summary_path=summary_path,
                                     kind=kind, options=options)
    if store is None:
        click.echo(f"{plan.run.output}: already complete; nothing to do (--restart starts over)")
        _print_report(campaign, plan.run.output)
        write_summary(summary_path, 0, None)
        return 0, None
    stop.install()
    limits = limits_of(plan)
    if backend == "serial":
        executor = SerialExecutor(plan.evaluator, limits, stop)
    else:
        executor = ProcessExecutor(plan.evaluator, limits, stop, workers=plan.run.workers)
    code, summary = drive(campaign, plan, store, executor, stop,
                          f"{executor.workers} {executor.name} worker(s)")
    write_summary(summary_path, code, summary)
    return code, summary


def run_mpi(config, output, workers, restart, summary_path=None, kind=None,
            options=None) -> tuple[int, object]:
    from cellsweep.launch import mpi
    from cellsweep.launch.world import running_mpi

    comm = mpi.world()
    mpi.install_abort_hook(comm)
    if comm.Get_rank() != 0:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):   # rank 0 decides
            signal.signal(sig, signal.SIG_IGN)
        outcome = mpi.wait_for_coordinator(comm)
        if outcome[0] != "ok":
            return (2 if outcome[0] == "fail" else 0), None
        mpi.serve_worker(comm, outcome[1], outcome[2], rank_timeout_s=outcome[3])
        return 0, None
    stop = StopFlag()
    stop.install(early=True)
    pulse = mpi.Pulse(comm)              # the workers know rank 0 is alive during the checks
    try:
        campaign, plan, store = _prepare(config, output, workers, restart,
                                         extra_versions={**running_mpi(),
                                                         "mpi_ranks": comm.Get_size()},
                                         summary_path=summary_path, kind=kind,
                                         options=options)
    except FrameworkError:
        pulse.stop()
        mpi.announce_outcome(comm, ("fail",))
        raise
    if store is None:
        pulse.stop()
        mpi.announce_outcome(comm, ("done",))
        click.echo(f"{plan.run.output}: already complete; nothing to do")
        write_summary(summary_path, 0, None)
        return 0, None
    limits = limits_of(plan)
    mpi.announce_outcome(comm, ("ok", plan.evaluator, limits, plan.run.rank_timeout_s))
    stop.install()
    executor = mpi.MPIExecutor(comm, plan.evaluator, limits, stop,
                               rank_timeout_s=plan.run.rank_timeout_s, pulse=pulse)
    code, summary = drive(campaign, plan, store, executor, stop, f"{comm.Get_size()} MPI rank(s)")
    summary.lost_ranks = sorted(executor.lost)
    write_summary(summary_path, code, summary)
    return code, summary


def drive(campaign, plan, store, executor, stop, workers_text: str):
    """Run the campaign on an executor, always release the workers, and report."""
    click.echo(f"{plan.config_path}: {campaign.describe(plan, store)}; {workers_text} "
               f"-> {plan.run.output}", err=True)
    try:
        summary = campaign.run(plan, executor, stop, store,
                               Progress(plan.run.progress, plan.run.log_interval_s))
    finally:
        executor.close()
    return report(plan, summary, campaign), summary


def exit_status(summary) -> int:
    if summary.complete:
        return 0
    return EXIT_STOPPED if summary.stopped == "SIGUSR1" else EXIT_CANCELLED


def _print_report(campaign, output) -> None:
    """The kind's text about a complete campaign, if it has any to say."""
    text = campaign.report(output) if campaign is not None and campaign.report else None
    if text:
        click.echo(text)


def report(plan, summary, campaign=None) -> int:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items())) or "none"
    rate = summary.ran / summary.elapsed_s if summary.elapsed_s > 0 else 0.0
    click.echo(f"{summary.output}: {sum(summary.counts.values())}/{summary.total} evaluated "
               f"({counts}); this run: {summary.ran} in {summary.elapsed_s:.1f} s "
               f"({rate:.2f}/s)")
    code = exit_status(summary)
    if code:
        click.echo(f"stopped ({summary.stopped or 'interrupted'}): rerun the same command to "
                   "resume", err=True)
        return code
    _print_report(campaign, summary.output)
    if os.environ.get("CELLSWEEP_NO_PLOTS") != "1":
        from cellsweep.launch.plots import plot_campaign

        for path in plot_campaign(summary.output, summary.output.with_suffix("")
                                  .with_name(summary.output.stem + "_plots"), model=plan.model):
            click.echo(f"plot written to {path}")
    return 0


def write_summary(path, code: int, summary) -> None:
    """The run's outcome for a job script (resubmit or not), written whole or not at all."""
    if path is None:
        return
    path = Path(path)
    data = {"exit_status": code, "complete": code == 0}
    if summary is not None:
        data.update(stopped=summary.stopped or "", ran=summary.ran,
                    evaluated=sum(summary.counts.values()), total=summary.total,
                    output=str(summary.output),
                    lost_ranks=summary.lost_ranks)
    write_atomically(path, json.dumps(data, sort_keys=True) + "\n")


def check_summary_path(summary_path) -> Path | None:
    if summary_path is None:
        return None
    path = Path(summary_path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK) or path.is_dir():
        from cellsweep.cells.errors import ConfigError

        raise ConfigError([f"--summary: {summary_path}: expected a file in a writable "
                           "directory"])
    return path


def main_run(config, output, workers, backend, restart, summary_path=None, kind=None,
             options=None) -> None:
    from cellsweep.launch.world import WorldMismatch, under_launcher

    use_mpi = backend == "mpi" or (backend is None and under_launcher())
    summary = None
    if use_mpi:
        try:
            code, summary = run_mpi(config, output, workers, restart, summary_path, kind,
                                    options)
        except WorldMismatch as exc:
            if exc.speaks:
                click.echo(f"error: cellsweep run: {exc}", err=True)
            sys.exit(2)
    else:
        code, summary = run_local(config, output, workers, backend or "processes", restart,
                                  summary_path, kind, options)
    sys.stdout.flush()
    sys.stderr.flush()
    if summary is not None and summary.lost_ranks:
        os._exit(code)     # MPI_Finalize would wait for the lost ranks; everything is written
    sys.exit(code)
