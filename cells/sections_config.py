"""``cell.sections``: a stylised cell (soma, cylinders, tapers) written in the config.

The ball-and-stick tutorial's cell has no morphology file: a soma of L = diam = 12.6157 µm and a
200 µm dendrite. Import3d would keep such numbers as float32 3-D points (12.61569977 µm), so
the sections are read here into ``StylisedSection``s and built by ``cells.morphology`` from L
and diam directly. Each entry names one of the cell template's section arrays (``soma``,
``dend``, ``apic``, ``axon``, ``myelin``), so locations (``dend[0](1)``), base regions and
everything downstream work as for a morphology file; the array decides the base region, and
``region:`` may name a further region of the cell's own (a subset of that base region).
"""

from __future__ import annotations

import re

from cellsweep.cells import spec as S
from cellsweep.cells.schema import Section, check_number, did_you_mean, quote, type_name

ARRAY_REGION = {"soma": "somatic", "dend": "basal", "apic": "apical", "axon": "axonal",
                "myelin": "myelinated"}
MAX_NSEG = 32767
MAX_SECTIONS = 10000
_PARENT = re.compile(r"^([A-Za-z]+)(?:\[(\d+)\])?(?:\(([^()]*)\))?$")


def read_sections(entries, path: str, problems) -> tuple[tuple, tuple]:
    """``(sections, regions)``: every section with its name (``dend[3]``), and the named
    regions the entries' ``region:`` keys define (``S.Region`` with ``sections``)."""
    if not isinstance(entries, list) or not entries:
        problems.add(path, f"expected a list of sections, found {type_name(entries)}"
                     if not isinstance(entries, list) else "expected at least one section")
        return (), ()
    counts: dict = {}
    read = []                      # (section, where written) in order
    for i, entry in enumerate(entries):
        read.extend(_read_entry(Section(entry, f"{path}[{i}]", problems), counts))
        if len(read) > MAX_SECTIONS:
            problems.add(path, f"more than {MAX_SECTIONS} sections; expected fewer (a "
                               "morphology file suits large cells)")
            return (), ()
    sections = [s for s, _ in read]
    _check_topology(read, problems, path)
    regions: dict = {}
    for s, where in read:
        if s.region:
            regions.setdefault(s.region, (ARRAY_REGION[s.array], []))[1].append(s.name)
    out_regions = []
    for name, (within, names) in regions.items():
        if len({ARRAY_REGION[n.partition("[")[0]] for n in names}) > 1:
            problems.add(path, f"region {quote(name)} holds sections of different base regions "
                               f"({', '.join(names)}); expected sections of one array")
        out_regions.append(S.Region(name=name, within=within, sections=tuple(names)))
    return tuple(sections), tuple(out_regions)


def _read_entry(sec: Section, counts: dict) -> list:
    array = sec.string("name", choices=tuple(ARRAY_REGION))
    length = sec.number("L", gt=0)
    diam = _read_diam(sec)
    nseg = sec.number("nseg", None, ge=1, le=MAX_NSEG, integer=True)
    count = sec.number("count", 1, ge=1, le=MAX_SECTIONS, integer=True)
    chain = sec.boolean("chain", False)
    region = sec.string("region", "")
    parent_text = sec.string("parent", None)
    sec.finish()
    if array is None or length is None or diam is None or count is None:
        return []
    base = ARRAY_REGION[array]
    if region == base:
        region = ""
    elif region in S.BASE_REGIONS:
        sec.error("region", f"{array} sections belong to {base}; expected {base} or a name of "
                            f"your own (for {region}, name the section "
                            f"{next(a for a, r in ARRAY_REGION.items() if r == region)})"
                  if region != "all" else "every section is in all; expected "
                                          f"{base} or a name of your own")
        region = ""
    elif region and not (region[0].isalpha() and region.replace("_", "a").isalnum()):
        sec.error("region", f"invalid region name {quote(region)}; expected letters, digits "
                            "and underscores, starting with a letter")
        region = ""
    parent, parent_x = "", 1.0
    if parent_text is not None:
        parent, parent_x = _parse_parent(parent_text, sec)
    first = counts.get(array, 0)
    counts[array] = first + count
    out = []
    for k in range(count):
        name = f"{array}[{first + k}]"
        p, x = (parent, parent_x) if not (chain and k) else (f"{array}[{first + k - 1}]", 1.0)
        if not p and name != "soma[0]":
            p, x = "soma[0]", 1.0
        out.append((S.StylisedSection(name=name, L=length, diam=diam, parent=p, parent_x=x,
                                      region=region, nseg=nseg), sec))
    return out


def _read_diam(sec: Section):
    value = sec.raw("diam", None)
    if value is None:
        sec.error("diam", "missing required key")
        return None
    if isinstance(value, list):
        if len(value) != 2:
            sec.error("diam", f"expected one diameter or two (a taper [d0, d1]), found "
                              f"{len(value)} values")
            return None
        d = [check_number(v, f"{sec.key_path('diam')}[{i}]", sec.problems, gt=0)
             for i, v in enumerate(value)]
        return None if None in d else tuple(d)
    d = check_number(value, sec.key_path("diam"), sec.problems, gt=0)
    return None if d is None else (d,)


def _parse_parent(text: str, sec: Section) -> tuple[str, float]:
    m = _PARENT.match(text.replace(" ", ""))
    x = None
    if m:
        try:
            x = float(m.group(3)) if m.group(3) else 1.0
        except ValueError:
            x = None
    if not m or x is None or m.group(1) not in ARRAY_REGION:
        sec.error("parent", f"invalid parent {quote(text)}; expected a section and a position "
                            "on it, such as soma(1), soma[0](0.5) or dend[2](1)")
        return "", 1.0
    if not 0 <= x <= 1:
        sec.error("parent", f"position {x:g} on the parent outside [0, 1]")
        return "", 1.0
    return f"{m.group(1)}[{m.group(2) or 0}]", x


def _check_topology(read: list, problems, path: str) -> None:
    """The tree: soma[0] is the root, every parent exists, no section is its own ancestor."""
    names = {s.name: s for s, _ in read}
    if "soma[0]" not in names:
        problems.add(path, "no soma section; expected an entry with name: soma (the root, "
                           "from whose middle distances are measured)")
        return
    for s, sec in read:
        if s.name == "soma[0]" and s.parent:
            sec.error("parent", "soma[0] is the root of the cell; expected no parent")
        elif s.parent and s.parent not in names:
            sec.error("parent", f"unknown parent section {quote(s.parent)} of {s.name}; "
                                f"expected one of {', '.join(list(names)[:12])}"
                      + did_you_mean(s.parent, list(names)))
    reported = set()
    for s, sec in read:
        seen, node = [], s
        while node is not None and node.parent and node.name not in seen:
            seen.append(node.name)
            node = names.get(node.parent)
        if node is not None and node.name in seen and node.name not in reported:
            cycle = seen[seen.index(node.name):]
            reported.update(cycle)
            sec.error("parent", f"the parents form a cycle ({' -> '.join(cycle + [node.name])}); "
                                "expected a tree rooted at soma[0]")


def geometry_parameter(name: str, variable: str, target: str, cell) -> S.Parameter | str:
    """``L.<region or section>`` / ``diam.<...>`` of a stylised cell, or why not (µm; set on
    whole sections before the discretisation rule runs, so nseg follows the new geometry)."""
    if not cell.sections:
        return (f"{variable}.<region> is a parameter of stylised cells (cell.sections); a "
                "morphology file's sections take their geometry from its 3-D points")
    custom = cell.region(target)
    if target in S.BASE_REGIONS or (custom is not None and custom.sections):
        return S.Parameter(name=name, kind="geometry", variable=variable, region=target)
    if custom is not None:
        return (f"{variable}.{target}: {target} is a distance region, which cuts through "
                "sections; expected a base region, a region of cell.sections or a section")
    if cell.stylised(target) is not None:
        return S.Parameter(name=name, kind="geometry", variable=variable, target=target)
    names = [s.name for s in cell.sections]
    choices = sorted(set(S.BASE_REGIONS) | {r.name for r in cell.regions if r.sections}) + names
    return (f"unknown region or section {quote(target)}; expected one of "
            f"{', '.join(choices[:20])}" + did_you_mean(target, choices))
