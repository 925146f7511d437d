"""The checks that need NEURON, made before any campaign starts (and by ``validate``):
the mechanisms compile, and every stimulus, synapse and recording location exists on the cell.

They run in the calling process, which never evaluates afterwards with leftover sections: the
cell built for the check is freed before this returns (``cells.location_check``).
"""

from __future__ import annotations

from cellsweep.cells.errors import ConfigError
from cellsweep.cells.location_check import location_problems
from cellsweep.cells.mechanisms import build as build_mechanisms
from cellsweep.cells.schema import Problems


def check_before_run(model) -> None:
    """Compile the model's mechanisms (cached) and check its locations; raises the problems."""
    if model.cell.mechanisms_dir is not None:
        build_mechanisms(model.cell.mechanisms_dir)
    problems = Problems(model.source)
    for path, message in location_problems(model):
        problems.add(path, message)
    if problems.items:
        raise ConfigError(problems.items)
