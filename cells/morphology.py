"""Loads a checked morphology into a NEURON cell object, the way BluePyOpt's ephys does.

The cell is an instance of a hoc template with BluePyOpt's section arrays and SectionLists,
so BluePyOpt locations, parameters and mechanisms (``somatic``, ``axonal``, ...) work on it,
and a cell built here equals one built by ``bluepyopt.ephys``. NEURON is passed in as ``h``
and never imported here, so importing this module stays cheap and side-effect free.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from cellsweep.cells.errors import MorphologyError
from cellsweep.cells.morphology_check import check_morphology, raise_for_errors
from cellsweep.cells.sections_config import ARRAY_REGION

logger = logging.getLogger(__name__)

SECTION_ARRAYS = ("soma", "dend", "apic", "axon", "myelin")
SECTION_LISTS = ("all", "somatic", "axonal", "basal", "apical", "myelinated")
_TEMPLATE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")

# hoc cannot redefine a template, so each name is defined once per process and then reused.
_defined_templates: set[str] = set()


def _template_text(name: str) -> str:
    lists = ", ".join(SECTION_LISTS)
    new_lists = "\n".join(f"    {seclist} = new SectionList()" for seclist in SECTION_LISTS)
    arrays = ", ".join(f"{array}[1]" for array in SECTION_ARRAYS)
    # As in BluePyOpt: the arrays are declared at template level (so Import3d may recreate
    # them from a method) and emptied in init(). BluePyOpt's CellRef = this is left out: it
    # makes every cell a reference cycle that leaks unless destroy() is called.
    return f"""
begintemplate {name}
  public {", ".join(SECTION_ARRAYS)}, {lists}, gid
  objref this, {lists}
  proc init() {{
{new_lists}
    forall delete_section()
  }}
  gid = 0
  create {arrays}
endtemplate {name}
"""


def create_cell_template(h, name: str) -> None:
    """Define the empty-cell hoc template ``name`` unless this module already did."""
    if name in _defined_templates:
        return
    if not _TEMPLATE_NAME.fullmatch(name):
        raise ValueError(
            f"create_cell_template: invalid template name {name!r}; "
            f"expected a letter followed by letters, digits or '_'")
    if hasattr(h, name):
        raise ValueError(
            f"create_cell_template: name {name!r} is already defined in NEURON by other code; "
            f"choose another template name")
    h(_template_text(name))
    _defined_templates.add(name)


def new_cell(h, name: str):
    """A new empty cell object of template ``name`` (defined on first use)."""
    create_cell_template(h, name)
    return getattr(h, name)()


def instantiate_morphology(h, path, icell) -> None:
    """Check ``path``, then build its sections into ``icell`` with NEURON's Import3d.

    Raises MorphologyError (listing every problem) before NEURON sees a file it would crash
    on or misread; logs the warnings.
    """
    path = Path(path)
    for warning in raise_for_errors(path, check_morphology(path)):
        logger.warning("%s", warning)
    h.load_file("stdrun.hoc")
    h.load_file("import3d.hoc")
    try:
        reader = h.Import3d_SWC_read() if path.suffix.lower() == ".swc" else (
            h.Import3d_Neurolucida3())
        reader.quiet = 1
        h.hoc_stdout(os.devnull)  # Import3d prints progress and notices to stdout
        try:
            reader.input(str(path))
            h.Import3d_GUI(reader, 0).instantiate(icell)
        finally:
            h.hoc_stdout()
    except RuntimeError as exc:
        raise MorphologyError(
            f"{path}: NEURON could not load the morphology; {exc}") from exc
    if not h.section_exists("soma", icell):
        raise MorphologyError(
            f"{path}: NEURON built no soma section; expected at least one "
            f"(the file passed the checks, so this is a gap in cells.morphology_check)")


def build_sections(h, sections, icell) -> None:
    """Create a stylised cell's sections (``S.StylisedSection``) in ``icell``.

    L, diam and nseg are set directly and no 3-D points are made: ``h.define_shape()`` (or
    pt3d) would give the sections float32 points from which NEURON then recomputes L and diam
    (12.6157 becomes 12.61569977). Each child's 0 end connects to its parent at ``parent_x``.
    """
    counts: dict = {}
    for s in sections:
        counts[s.array] = counts.get(s.array, 0) + 1
    for array, n in counts.items():
        h.execute(f"create {array}[{n}]", icell)
    for s in sections:
        sec = stylised_section(icell, s.name)
        sec.L = s.L
        sec.nseg = s.nseg or 1
        set_diam(sec, s.diam)
        icell.all.append(sec=sec)
        getattr(icell, ARRAY_REGION[s.array]).append(sec=sec)
    for s in sections:
        if s.parent:
            stylised_section(icell, s.name).connect(
                stylised_section(icell, s.parent)(s.parent_x), 0.0)


def stylised_section(icell, name: str):
    """The section ``soma[0]``, ``dend[3]``, ... of ``icell``."""
    array, _, index = name.partition("[")
    return getattr(icell, array)[int(index.rstrip("]"))]


def set_diam(sec, diam: tuple) -> None:
    """One diameter for the whole section, or a linear taper (d0, d1) by segment centre."""
    if len(diam) == 1:
        sec.diam = diam[0]
        return
    d0, d1 = diam
    for seg in sec:
        seg.diam = d0 + (d1 - d0) * seg.x


def set_nseg(icell, frequency_um: float = 40.0) -> None:
    """Odd nseg from length, as BluePyOpt's NrnFileMorphology does before replacing the axon.

    The order matters: replace_axon reads ``diam`` at x=0.5, which depends on nseg.
    """
    for section in icell.all:
        section.nseg = 1 + 2 * int(section.L / frequency_um)


def replace_axon(h, icell, stub_length_um: float = 60.0, nseg_frequency_um: float = 40.0):
    """Replace the axon by two sections of ``stub_length_um / 2``, as BluePyOpt does.

    Diameters: 1 µm without an axon; otherwise axon[0].diam for both, except that with several
    axon sections the second takes the diam of the first axonal section (in list order) whose
    middle is more than ``stub_length_um`` from the soma's middle. axon[0](0) connects to
    soma[0](1), axon[1](0) to axon[0](1).
    """
    if not h.section_exists("soma", 0, icell):
        raise MorphologyError(
            "replace_axon: the cell has no soma[0]; the axon stub must connect to a soma")
    axonal = list(icell.axonal)
    if not axonal:
        diams = [1.0, 1.0]
    else:
        diams = [icell.axon[0].diam, icell.axon[0].diam]
    if len(axonal) > 1:
        h.distance(0, 0.5, sec=icell.soma[0])
        for section in axonal:
            if h.distance(1, 0.5, sec=section) > stub_length_um:
                diams[1] = section.diam
                break
    for section in axonal:
        h.delete_section(sec=section)
    h.execute("create axon[2]", icell)
    for section, diam in zip(icell.axon, diams):
        section.L = stub_length_um / 2
        section.nseg = 1 + 2 * int(section.L / nseg_frequency_um)
        section.diam = diam
        icell.axonal.append(sec=section)
        icell.all.append(sec=section)
    icell.axon[0].connect(icell.soma[0], 1.0, 0.0)
    icell.axon[1].connect(icell.axon[0], 1.0, 0.0)


def section_counts(icell) -> dict[str, int]:
    """Number of sections in each of the template's SectionLists."""
    return {name: sum(1 for _ in getattr(icell, name)) for name in SECTION_LISTS}


def describe(icell) -> dict[str, dict]:
    """Geometry of every section, keyed by its name without the cell prefix (``soma[0]``).

    For comparing cells in tests: L, nseg, per-segment diam and area, the parent and where on
    it the section is attached, and the SectionLists holding it.
    """
    membership = {}
    for name in SECTION_LISTS:
        for section in getattr(icell, name):
            membership.setdefault(_short_name(section), []).append(name)
    result = {}
    for section in icell.all:
        parent = section.parentseg()
        result[_short_name(section)] = {
            "L": section.L,
            "nseg": section.nseg,
            "diam": [segment.diam for segment in section],
            "area": [segment.area() for segment in section],
            "parent": None if parent is None else _short_name(parent.sec),
            "parent_x": None if parent is None else parent.x,
            "lists": membership[_short_name(section)],
        }
    return result


def _short_name(section) -> str:
    return section.name().rsplit(".", 1)[-1]
