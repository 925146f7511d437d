"""The checks that need NEURON, made before any campaign starts (and by ``validate``):
the mechanisms compile, and every stimulus, synapse and recording location exists on the cell.

They run in the calling process, which never evaluates afterwards with leftover sections: the
cell built for the check is freed before this returns (``cells.location_check``).

A mechanism set that does not compile is reported at ``cell.mechanisms_dir`` with one line per
failing file (``k_m.mod:62: <the compiler's own line>``); the whole compiler output stays in the
cache's log file, which the last line names. Nothing of a failed build is kept but that log and
the lock file: the build cache is keyed by the files' content, so a fixed file compiles afresh.
"""

from __future__ import annotations

import click

from cellsweep.cells.errors import ConfigError, MechanismError
from cellsweep.cells.location_check import location_report
from cellsweep.cells.mechanisms import CompileError, build as build_mechanisms, format_failure
from cellsweep.cells.schema import Problems

MECHANISMS_KEY = "cell.mechanisms_dir"


def check_before_run(model, print_warnings: bool = True) -> list[str]:
    """Compile the model's mechanisms (cached) and check its locations; raises the problems.

    Returns the warnings (``file: key: message``, e.g. parameters on a region the morphology
    leaves empty), which are also printed on stderr as ``warning: ...`` lines unless
    ``print_warnings`` is false (for a caller that prints them itself)."""
    problems = Problems(model.source)
    if model.cell.mechanisms_dir is not None:
        try:
            build_mechanisms(model.cell.mechanisms_dir)
        except CompileError as exc:
            for i, failure in enumerate(exc.failures):
                last = i == len(exc.failures) - 1
                problems.add(MECHANISMS_KEY, format_failure(failure),
                             f"nrnivmodl's whole output is in {exc.log}" if last else "")
            problems.raise_if_any()
        except MechanismError as exc:
            problems.add(MECHANISMS_KEY, str(exc))
            problems.raise_if_any()
    found, warnings = location_report(model)
    for path, message in found:
        problems.add(path, message)
    if problems.items:
        raise ConfigError(problems.items)
    lines = [": ".join(part for part in (model.source, path, message) if part)
             for path, message in warnings]
    if print_warnings:
        for line in lines:
            click.echo(f"warning: {line}", err=True)
    return lines
