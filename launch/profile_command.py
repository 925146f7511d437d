"""``cellsweep profile``: one parameter set characterised (passive, FI, rheobase, ZAP, dendrite).

The profile is a campaign of its own kind (``sweep.profile_campaign``): its experiments and FI
amplitudes run in parallel through the same executors as a sweep (processes, or MPI ranks
under ``mpiexec``), into one results file that resumes; at the end the table of measures is
printed and the plots written (``launch.plots``).
"""

from __future__ import annotations


import click


@click.command()
@click.argument("config", type=click.Path(dir_okay=False))
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE",
              help="The parameter set: override a parameter (repeatable); others take their "
                   "defaults.")
@click.option("--params", "params_file", type=click.Path(dir_okay=False), default=None,
              help="A parameter set from a file (the output of 'cellsweep best', a mapping, "
                   "a CSV row); --set overrides it.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Results file (.h5). Default: profile.output, else run.output with "
                   "_profile before .h5, else results/<config>_profile.h5.")
@click.option("--workers", "-n", type=click.IntRange(min=1), default=None,
              help="Local evaluation processes (default: one per core). Ignored under MPI.")
@click.option("--backend", type=click.Choice(["serial", "processes", "mpi"]), default=None,
              help="Default: mpi when started by mpiexec/srun, else processes.")
@click.option("--restart", is_flag=True, help="Discard an existing profile output and start over.")
def profile(config, sets, params_file, output, workers, backend, restart):
    """Profile one parameter set of the config's cell: V rest, input resistance, membrane time
    constant (two fits), sag, capacitance, FI curve and slope, rheobase, impedance under a ZAP
    chirp (resonance, cut-off, Q), and, with a profile.dendrite section, bAP and local input
    resistance along the dendrite. Prints the table (measure, value, unit, method) and writes
    plots beside the results file. Exit status as for run."""
    from cellsweep.launch.cli import params_from_file, parse_sets
    from cellsweep.launch.run import main_run

    params = params_from_file(params_file, config)
    params.update(parse_sets(sets))
    main_run(config, output, workers, backend, restart, None, kind="profile",
             options={"params": params})
