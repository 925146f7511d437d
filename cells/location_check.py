"""Every location of a model checked against the real cell, before any campaign starts.

A stimulus, synapse or recording at a section that does not exist (``dend[7](1)`` on a cell
with three dendrites), at a path distance no section of its region reaches (900 µm on a 600 µm
apical tree), or recording a variable that does not exist there, would otherwise fail every
evaluation of a campaign at run time. The cell is built once in this process, exactly as an
evaluation builds it, and dropped again.
"""

from __future__ import annotations

import gc

from cellsweep.cells import spec as S
from cellsweep.cells.errors import SimulationError


def location_problems(model: S.ModelSpec) -> list[tuple[str, str]]:
    """(key path, message) of every location or recording of ``model`` that does not exist on
    its cell. Builds the cell (mechanisms compiled and loaded) and frees it before returning."""
    from cellsweep.cells.neuron_cell import NeuronCell

    cell = NeuronCell(model)
    try:
        return _check(cell, model)
    finally:
        del cell
        gc.collect()


def _check(cell, model: S.ModelSpec) -> list[tuple[str, str]]:
    out = []
    for protocol in model.protocols:
        base = f"protocols.{protocol.name}"
        for stim in protocol.stimuli:
            where = f"{base}.stimuli.{stim.name}"
            locations = [stim.location] if stim.kind != "synapses" else list(stim.locations)
            for i, loc in enumerate(locations):
                path = f"{where}.location" if stim.kind != "synapses" else \
                    f"{where}.locations[{i}]"
                problem = _segment_problem(cell, loc)
                if problem:
                    out.append((path, problem))
        for rec in protocol.recordings:
            path = f"{base}.recordings.{rec.name}"
            try:
                seg = cell.segment(rec.location)
            except SimulationError as exc:
                out.append((path, _plain(exc)))
                continue
            try:
                getattr(seg, f"_ref_{rec.variable}")
            except (AttributeError, NameError):
                out.append((path, f"variable {rec.variable!r} does not exist at "
                                  f"{rec.location.label()}; expected v, or a variable of a "
                                  "mechanism inserted there (e.g. ik, cai, m_na_t)"))
    return out


def _segment_problem(cell, loc: S.Location) -> str:
    try:
        cell.segment(loc)
    except SimulationError as exc:
        return _plain(exc)
    return ""


def _plain(exc: Exception) -> str:
    text = str(exc)
    return text[len("location "):] if text.startswith("location ") else text
