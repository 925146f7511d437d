"""Every location of a model checked against the real cell, before any campaign starts.

A stimulus, synapse or recording at a section that does not exist (``dend[7](1)`` on a cell
with three dendrites), at a path distance no section of its region reaches (900 µm on a 600 µm
apical tree), or recording a variable that does not exist there, would otherwise fail every
evaluation of a campaign at run time. The cell is built once in this process, exactly as an
evaluation builds it, and dropped again.

A region the morphology leaves empty (a soma-only cell's ``apical``) is an error for a location
in it, and a warning (returned, not raised) for the parameters set on it, which do nothing.
A recording of a mechanism's variable where that mechanism is not inserted says where it is.
"""

from __future__ import annotations

import gc

from cellsweep.cells import spec as S
from cellsweep.cells.errors import SimulationError


def location_problems(model: S.ModelSpec) -> list[tuple[str, str]]:
    """(key path, message) of every location or recording of ``model`` that does not exist on
    its cell. Builds the cell (mechanisms compiled and loaded) and frees it before returning."""
    return location_report(model)[0]


def location_report(model: S.ModelSpec) -> tuple[list, list]:
    """``(problems, warnings)``, each a list of (key path, message): the problems of
    ``location_problems``, and a warning per region the morphology leaves empty while
    parameters are set on it. Builds the cell and frees it before returning."""
    from cellsweep.cells.neuron_cell import NeuronCell

    cell = NeuronCell(model)
    try:
        empty = _empty_regions(cell)
        from cellsweep.cells.rxd_check import rxd_problems

        return (_check(cell, model, empty) + rxd_problems(cell, model),
                _empty_region_warnings(model, empty) + _profile_warnings(model, empty))
    finally:
        del cell
        gc.collect()


def _empty_regions(cell) -> set:
    return {name for name, secs in cell.regions.items() if not secs and name != "all"}


def _empty_region_warnings(model: S.ModelSpec, empty: set) -> list[tuple[str, str]]:
    by_region: dict = {}
    for p in model.parameters:
        if p.kind in ("range", "section", "nseg") and p.region in empty:
            by_region.setdefault(p.region, []).append(p.name)
    morph = model.cell.geometry_name
    return [("cell", f"region {region!r} is empty ({_why_empty(model, region)} in {morph}); "
                     f"its parameters {', '.join(names)} have no effect")
            for region, names in sorted(by_region.items())]


def _why_empty(model: S.ModelSpec, region: str) -> str:
    custom = model.cell.region(region)
    if custom is None:
        return f"no {region} sections"
    return (f"no {custom.within} section lies between {custom.min_distance_um:g} and "
            f"{custom.max_distance_um:g} um from the soma")


def _check(cell, model: S.ModelSpec, empty: set = frozenset()) -> list[tuple[str, str]]:
    out = []
    mechset = None
    for protocol in model.protocols:
        base = f"protocols.{protocol.name}"
        for stim in protocol.stimuli:
            where = f"{base}.stimuli.{stim.name}"
            locations = [stim.location] if stim.kind != "synapses" else list(stim.locations)
            for i, loc in enumerate(locations):
                path = f"{where}.location" if stim.kind != "synapses" else \
                    f"{where}.locations[{i}]"
                problem = _segment_problem(cell, model, loc, empty)
                if problem:
                    out.append((path, problem))
        for rec in protocol.recordings:
            path = f"{base}.recordings.{rec.name}"
            if rec.species and (rec.statistic or rec.point_um):
                continue                 # no cell location (cells.rxd_check checks points)
            problem = _segment_problem(cell, model, rec.location, empty)
            if problem:
                out.append((path, problem))
                continue
            if rec.species:
                continue
            seg = cell.segment(rec.location)
            try:
                getattr(seg, f"_ref_{rec.variable}")
            except (AttributeError, NameError):
                if mechset is None:
                    mechset = _mechanism_set(model)
                out.append((path, _missing_variable(model, mechset, rec)))
    for exp in model.experiments:        # profile experiments: where their current goes in
        loc = exp.get("location")
        if loc is not None:
            problem = _segment_problem(cell, model, loc, empty)
            if problem:
                out.append((f"profile.{exp.kind}.location", problem))
    return out


def _profile_warnings(model: S.ModelSpec, empty: set) -> list[tuple[str, str]]:
    """A dendrite experiment on a region the morphology leaves empty measures nothing."""
    return [(f"profile.{exp.kind}.region", f"region {exp.get('region')!r} is empty in "
                                           f"{model.cell.geometry_name}: the dendritic "
                                           "measures will be NaN")
            for exp in model.experiments
            if exp.kind == "dendrite" and exp.get("region") in empty]


def _mechanism_set(model: S.ModelSpec):
    from cellsweep.cells.errors import MechanismError
    from cellsweep.cells.mechanisms import read_mechanism_set

    try:
        return read_mechanism_set(model.cell.mechanisms_dir)
    except MechanismError:
        return read_mechanism_set(None)


def _missing_variable(model: S.ModelSpec, mechset, rec: S.Recording) -> str:
    """Why ``rec.variable`` does not exist at its location: a variable of a mechanism not
    inserted there (and where it is inserted), or no such variable at all."""
    where = rec.location.label()
    owner = mechset.range_variables().get(rec.variable)
    if owner and not owner.endswith("_ion"):
        regions = [region for region, names in model.cell.insert if owner in names]
        inserted = (f"it is inserted in {', '.join(regions)}" if regions
                    else "it is inserted nowhere (cell.insert)")
        return f"{rec.variable}: mechanism {owner} is not inserted at {where}; {inserted}"
    return (f"variable {rec.variable!r} does not exist at {where}; expected v, or a variable "
            "of a mechanism inserted there (e.g. ik, cai, m_na_t)")


def _segment_problem(cell, model: S.ModelSpec, loc: S.Location, empty: set = frozenset()) -> str:
    if loc.kind == "distance" and loc.region in empty:
        return (f"{loc.label()}: region {loc.region!r} is empty "
                f"({_why_empty(model, loc.region)} in {model.cell.geometry_name})")
    region = _ARRAY_REGION.get(loc.section.partition("[")[0]) if loc.kind == "section" else None
    if region in empty:
        # never touch NEURON here: indexing a section array the morphology left empty aborts
        # the whole process ("section in the object was deleted")
        return (f"{loc.section}: no such section in {model.cell.geometry_name} (region "
                f"{region!r} is empty: it has no {region} sections)")
    try:
        cell.segment(loc)
    except SimulationError as exc:
        return _plain(exc)
    return ""


# the section arrays of a cell and the base region each belongs to
_ARRAY_REGION = {"soma": "somatic", "dend": "basal", "apic": "apical", "axon": "axonal",
                 "myelin": "myelinated"}


def _plain(exc: Exception) -> str:
    text = str(exc)
    return text[len("location "):] if text.startswith("location ") else text
