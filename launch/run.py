"""``cellsweep run``: one command for a laptop (local processes) or an MPI allocation.

Under ``mpiexec``/``srun`` every rank runs this; rank 0 validates everything, builds the
mechanisms and opens the results file while the other ranks wait for the outcome, so that bad
input fails once, before any work starts, and exits every rank with status 2.
"""

from __future__ import annotations

import os
import sys

import click

from cellsweep.cells.errors import FrameworkError
from cellsweep.cells.schema import ConfigSource
from cellsweep.launch.backends import ProcessExecutor, SerialExecutor, StopFlag
from cellsweep.launch.checks import check_before_run
from cellsweep.launch.campaigns import kind_of
from cellsweep.launch.supervisor import Limits
from cellsweep.sweep.progress import Progress

EXIT_STOPPED = 3   # stopped by a signal before the end; rerun the same command to resume


def limits_of(plan) -> Limits:
    r = plan.run
    return Limits(timeout_s=r.timeout_s, max_attempts=r.max_attempts,
                  recycle_after=r.recycle_after, max_rss_mb=r.max_rss_mb)


def prepare(config, output=None, workers=None):
    """The config read once, its kind found, and every check ``validate`` makes passed:
    ``(kind, plan)``; nothing written."""
    source = ConfigSource.read(config)
    kind = kind_of(source)
    plan = kind.prepare(source, output=output, workers=workers)
    check_before_run(plan.model)
    return kind, plan


def _prepare(config, output, workers, restart, extra_versions=None):
    kind, plan = prepare(config, output, workers)
    store = kind.open_store(plan, restart=restart, extra_versions=extra_versions)
    return kind, plan, store


def run_local(config, output, workers, backend, restart) -> int:
    campaign, plan, store = _prepare(config, output, workers, restart)
    if store is None:
        click.echo(f"{plan.run.output}: already complete; nothing to do (--restart starts over)")
        return 0
    stop = StopFlag()
    stop.install()
    limits = limits_of(plan)
    if backend == "serial":
        executor = SerialExecutor(plan.evaluator, limits, stop)
    else:
        executor = ProcessExecutor(plan.evaluator, limits, stop, workers=plan.run.workers)
    return drive(campaign, plan, store, executor, stop,
                 f"{executor.workers} {executor.name} worker(s)")


def run_mpi(config, output, workers, restart) -> int:
    from cellsweep.launch import mpi

    comm = mpi.world()
    mpi.install_abort_hook(comm)
    if comm.Get_rank() != 0:
        outcome = comm.bcast(None, root=0)
        if outcome[0] != "ok":
            return 2 if outcome[0] == "fail" else 0
        mpi.serve_worker(comm, outcome[1], outcome[2])
        return 0
    try:
        campaign, plan, store = _prepare(config, output, workers, restart,
                                         extra_versions={"mpi_library": mpi.mpi_library_version(),
                                               "mpi_ranks": comm.Get_size()})
    except FrameworkError:
        comm.bcast(("fail",), root=0)
        raise
    if store is None:
        comm.bcast(("done",), root=0)
        click.echo(f"{plan.run.output}: already complete; nothing to do")
        return 0
    limits = limits_of(plan)
    comm.bcast(("ok", plan.evaluator, limits), root=0)
    stop = StopFlag()
    stop.install()
    executor = mpi.MPIExecutor(comm, plan.evaluator, limits, stop)
    return drive(campaign, plan, store, executor, stop, f"{comm.Get_size()} MPI rank(s)")


def drive(campaign, plan, store, executor, stop, workers_text: str) -> int:
    """Run the campaign on an executor, always release the workers, and report."""
    click.echo(f"{plan.config_path}: {campaign.describe(plan, store)}; {workers_text} "
               f"-> {plan.run.output}", err=True)
    try:
        summary = campaign.run(plan, executor, stop, store,
                               Progress(plan.run.progress, plan.run.log_interval_s))
    finally:
        executor.close()
    return report(plan, summary)


def report(plan, summary) -> int:
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items())) or "none"
    rate = summary.ran / summary.elapsed_s if summary.elapsed_s > 0 else 0.0
    click.echo(f"{summary.output}: {sum(summary.counts.values())}/{summary.total} evaluated "
               f"({counts}); this run: {summary.ran} in {summary.elapsed_s:.1f} s "
               f"({rate:.2f}/s)")
    if not summary.complete:
        click.echo(f"stopped ({summary.stopped or 'interrupted'}): rerun the same command to "
                   "resume", err=True)
        return EXIT_STOPPED
    if os.environ.get("CELLSWEEP_NO_PLOTS") != "1":
        from cellsweep.launch.plots import plot_campaign

        for path in plot_campaign(summary.output, summary.output.with_suffix("")
                                  .with_name(summary.output.stem + "_plots"), model=plan.model):
            click.echo(f"plot written to {path}")
    return 0


def main_run(config, output, workers, backend, restart) -> None:
    from cellsweep.launch.mpi import under_mpi

    use_mpi = backend == "mpi" or (backend is None and under_mpi())
    if use_mpi:
        code = run_mpi(config, output, workers, restart)
    else:
        code = run_local(config, output, workers, backend or "processes", restart)
    sys.stdout.flush()
    sys.exit(code)
