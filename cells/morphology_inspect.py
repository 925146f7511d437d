"""What a morphology file holds, what is wrong with it, and what NEURON's Import3d makes of it.

Files found online were not all made for simulation (z-axis backlash, constant or implausible
diameters, orphans, bottlenecks, non-standard type codes, odd somas). ``inspect_morphology``
reports them, with the checker's errors and warnings (``cells.morphology_check``, whose parse
this reuses), before a campaign is spent on a file. Pure Python: NEURON is not imported.

A finding's level is ``error`` exactly when ``cellsweep run`` would refuse the file; the
thresholds below are explained in docs/MORPHOLOGY.md.
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cellsweep.cells.morphology_check import (
    SWC_TYPES,
    FilePoint,
    check_morphology,
    contour_samples,
    file_points,
    import3d_topology,
)

LEVELS = ("error", "warning", "info")
TYPE_NAMES = {1: "soma", 2: "axon", 3: "basal", 4: "apical"}
# plausible diameters (um) per type: below or above is flagged (0: no lower bound)
DIAMETER_RANGE_UM = {1: (0.0, 100.0), 2: (0.1, 10.0), 3: (0.1, 20.0), 4: (0.1, 20.0)}
CONSTANT_MIN_POINTS = 10      # a type with this many points, all of one diameter: not measured
JUMP_MIN_UM = 30.0            # a step between consecutive points longer than this ...
JUMP_MEDIAN_FACTOR = 10.0     # ... and than this many times the file's median step is a jump
ALONG_AXIS = 0.9              # a step is "along z" when |dz| is this fraction of its length
Z_STEP_MIN_UM = 3.0           # a z step: |dz| at least this, 2 median steps and 2 x its x-y move
Z_STEP_MEDIAN_FACTOR = 2.0
Z_STEP_XY_FACTOR = 2.0
BACKLASH_WINDOW = 5           # ... undone (opposite sign) within this many points downstream
BACKLASH_RATIO = 3.0          # ... by a step of size within this factor
BOTTLENECK_RATIO = 0.3        # a point thinner than this fraction of its parent and children
Z_FLAT_RATIO = 0.05           # z range below this fraction of the larger x-y range: flattened
Z_STRETCHED_RATIO = 2.0       # z range above this multiple of the larger x-y range: drifting
MAX_PER_CODE = 20             # findings of one code listed; the rest are counted in one line
_STRUCTURE_ERRORS = ("duplicate-id",)  # the tree cannot be followed: tree analyses skipped


@dataclass(frozen=True)
class Finding:
    """One thing the inspection found. ``code`` is stable (scripts match on it); ``points``
    are SWC ids (ASC: points numbered in file order), ``lines`` the file's lines, ``section``
    the Import3d section (or the type) concerned."""

    level: str
    code: str
    message: str
    points: tuple[int, ...] = ()
    lines: tuple[int, ...] = ()
    section: str = ""

    def where(self, by_line: bool = False) -> str:
        """'dend[3], point 12, 13' (``by_line``, for ASC files: 'line 40, 41')."""
        parts = [self.section] if self.section else []
        if self.points and not (by_line and self.lines):
            parts.append("point " + _ids(self.points))
        elif self.lines:
            parts.append("line " + _ids(self.lines))
        return ", ".join(parts)


@dataclass(frozen=True)
class TypeStats:
    """Points, Import3d sections, length, membrane area and diameters of one type code."""

    code: int
    name: str
    points: int
    sections: int | None        # None: Import3d's sections not computed (the file has errors)
    length_um: float | None     # None: a contour soma's length is Import3d's centroid line
    area_um2: float | None
    diam_min: float | None      # None: no diameters (an ASC soma contour)
    diam_median: float | None
    diam_max: float | None
    distinct_diameters: int


@dataclass(frozen=True)
class Soma:
    convention: str             # in words, from the checker's topology
    shape: str                  # how Import3d draws it
    sections: int | None
    area_um2: float | None      # of the soma sections NEURON builds (None: not known)


@dataclass
class Inspection:
    """The report on one file. ``refused``: ``cellsweep run`` refuses the file (it has errors).
    ``geometry_from``: "import3d" (lengths and areas of the sections Import3d builds) or "file"
    (of the file's points, when Import3d's sections cannot be computed)."""

    path: str
    format: str
    points: int
    types: list[TypeStats]
    soma: Soma
    extent_um: dict[str, float]
    import3d_sections: dict[str, int] | None
    geometry_from: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return any(f.level == "error" for f in self.findings)

    def codes(self) -> set[str]:
        return {f.code for f in self.findings}

    def as_dict(self) -> dict:
        data = asdict(self)
        data["refused"] = self.refused
        return data

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2, allow_nan=False)

    def table(self) -> str:
        return format_table(self)


def inspect_morphology(path) -> Inspection:
    """Inspect the SWC or ASC file ``path``. Raises nothing for a bad file: a file that cannot
    be read at all gives an inspection with no points and the checker's errors
    (``unreadable(inspection)`` is then true)."""
    path = Path(path)
    issues = check_morphology(path)
    findings = [Finding(i.severity, f"check-{i.kind or 'file'}", i.message,
                        lines=(i.line,) if i.line else ()) for i in issues]
    points = file_points(path) or []
    fmt = path.suffix.lower().lstrip(".").upper()
    error_kinds = {i.kind for i in issues if i.severity == "error"}
    topology = None
    if points and error_kinds <= {"type"}:
        topology = import3d_topology(path, tolerate=("type",))
    section_of = {}
    if topology is not None:
        section_of = {line: s.name for s in topology.sections for line in s.lines}
    tree = _Tree(points, section_of, fmt == "SWC")
    if points and not error_kinds & set(_STRUCTURE_ERRORS):
        findings += tree.findings()
    elif points:
        findings.append(Finding("info", "tree-skipped", (
            "the tree was not analysed (jumps, bottlenecks, multifurcations, pieces): the "
            "file's ids do not define one")))
    findings += _type_findings(tree)
    soma = _soma(topology, tree)
    if topology is not None:
        findings.append(Finding("info", "soma-convention", (
            f"{topology.soma}" + (f"; Import3d draws {topology.soma_shape}"
                                  if topology.soma_shape else "")
            + (f"; soma area {soma.area_um2:.4g} um2" if soma.area_um2 is not None else "")),
            section="soma"))
        findings += [Finding("warning", "import3d", w) for w in topology.warnings]
    counts = None
    if topology is not None:
        counts = defaultdict(int)
        for s in topology.sections:
            counts[s.name.split("[")[0]] += 1
        counts = dict(counts)
    return Inspection(str(path), fmt, len(points), _type_stats(tree, topology), soma,
                      tree.extent(), counts, "import3d" if topology is not None else "file",
                      _cap(sorted(findings, key=lambda f: LEVELS.index(f.level))))


def unreadable(inspection: Inspection) -> bool:
    """No point could be read: the checker's errors are the whole story."""
    return inspection.points == 0


# ---------------------------------------------------------------- the file's tree


class _Tree:
    """The file's points as a forest (parents that exist), with the analyses on it."""

    def __init__(self, points: list[FilePoint], section_of: dict, swc: bool):
        self.points = points
        self.swc = swc
        self.section_of = section_of
        self.by_id = {}
        for p in points:
            self.by_id.setdefault(p.id, p)
        self.children: dict[int, list[FilePoint]] = defaultdict(list)
        neurite = [p for p in points if not p.contour]
        for p in neurite:
            if self.parent(p) is not None:
                self.children[p.parent].append(p)
        self.roots = [p for p in neurite if self.parent(p) is None]
        order, stack, reached = [], list(reversed(self.roots)), set()
        while stack:                      # depth first from the roots
            p = stack.pop()
            if p.id in reached:           # a duplicate id (then the tree is not analysed)
                continue
            reached.add(p.id)
            order.append(p)
            stack.extend(reversed(self.children[p.id]))
        # points whose parents form a loop (the checker refuses them) are left out of the tree
        self.looped = [p for p in neurite if p.id not in reached]
        for p in self.looped:
            self.children.pop(p.id, None)
        self.neurite = [p for p in neurite if p.id in reached]
        self.below: dict[int, tuple[int, float]] = {}   # id -> (points, length) beneath it
        for p in reversed(order):
            kids = [c for c in self.children[p.id] if c.id in self.below]
            self.below[p.id] = (sum(1 + self.below[c.id][0] for c in kids),
                                sum(self.step(c) + self.below[c.id][1] for c in kids))
        steps = [self.step(p) for p in self.neurite if self.parent(p) is not None
                 and self.parent(p).type != 1]
        nonzero = [s for s in steps if s > 0]
        self.median_step = statistics.median(nonzero) if nonzero else 0.0

    def parent(self, p: FilePoint) -> FilePoint | None:
        q = self.by_id.get(p.parent)
        return q if q is not None and q is not p and not p.contour else None

    def step(self, p: FilePoint) -> float:
        q = self.by_id[p.parent]
        return math.dist((p.x, p.y, p.z), (q.x, q.y, q.z))

    def name(self, p: FilePoint) -> str:
        """'point 12' (its SWC id); in an ASC file, which has no ids, 'line 40'."""
        return f"point {p.id}" if self.swc else f"line {p.line}"

    def names(self, points) -> str:
        noun = "point" if self.swc else "line"
        values = [p.id if self.swc else p.line for p in points]
        return f"{noun}{'s' if len(values) > 1 else ''} {_ids(values)}"

    def where(self, *points: FilePoint, at: FilePoint | None = None) -> dict:
        """Finding fields for ``points``; the section is that of ``at`` (default: the first)."""
        section = self.section_of.get((at or points[0]).line, "")
        return {"points": tuple(p.id for p in points), "lines": tuple(p.line for p in points),
                "section": section}

    def extent(self) -> dict[str, float]:
        pts = self.neurite or self.points
        if not pts:
            return {"x": 0.0, "y": 0.0, "z": 0.0}
        return {axis: max(getattr(p, axis) for p in pts) - min(getattr(p, axis) for p in pts)
                for axis in "xyz"}

    def subtree_length(self, p: FilePoint) -> float:
        return self.below[p.id][1]

    def findings(self) -> list[Finding]:
        return (self._pieces() + self._multifurcations() + self._jumps() + self._backlash()
                + self._bottlenecks() + self._z_range())

    def _pieces(self) -> list[Finding]:
        """SWC only: an ASC file's trees are separate by design, Import3d wires each to a soma."""
        if not self.swc:
            return []
        roots = self.roots
        out = []
        for root in roots[1:]:
            size, length = 1 + self.below[root.id][0], self.below[root.id][1]
            why = ("it is a second root (parent -1)" if root.parent == -1 else
                   "it is its own parent" if root.parent == root.id else
                   f"its parent id {root.parent} is no point of the file")
            out.append(Finding("error", "disconnected", (
                f"a piece of {size} points ({length:.4g} um, type {root.type}) starting at "
                f"point {root.id} is not connected to the tree of point {roots[0].id}: {why}"),
                **self.where(root)))
        if self.looped:
            out.append(Finding("error", "disconnected", (
                f"{len(self.looped)} points reach no root: their parents form a loop "
                f"(points {_ids([p.id for p in self.looped])})"),
                **self.where(*self.looped[:MAX_PER_CODE])))
        return out

    def _multifurcations(self) -> list[Finding]:
        out = []
        for p in self.neurite:
            kids = self.children[p.id]
            if p.type != 1 and len(kids) > 2:
                out.append(Finding("warning", "multifurcation", (
                    f"{self.name(p)} (type {p.type}) has {len(kids)} children "
                    f"({self.names(kids)}); Import3d attaches their sections all at "
                    f"one end (NEURON allows it, but a tracing seldom means it)"),
                    **self.where(p)))
        return out

    def _jumps(self) -> list[Finding]:
        """Steps far longer than the file's usual one; steps in a row are one finding."""
        limit = max(JUMP_MIN_UM, JUMP_MEDIAN_FACTOR * self.median_step)
        runs: list[list[FilePoint]] = []   # each: the points q, p1, p2, ... of steps in a row
        run_ending: dict[int, list[FilePoint]] = {}
        for p in self.neurite:
            q = self.parent(p)
            if q is None or q.type == 1:
                continue  # a neurite's first step from the soma's centre is not a jump
            if self.step(p) > limit:
                run = run_ending.pop(q.id, None)
                if run is None:
                    run = [q]
                    runs.append(run)
                run.append(p)
                run_ending[p.id] = run
        out = []
        for run in runs:
            steps = [(a, b, math.dist((a.x, a.y, a.z), (b.x, b.y, b.z)))
                     for a, b in zip(run, run[1:])]
            a, b, longest = max(steps, key=lambda step: step[2])
            way = _direction((b.x - a.x, b.y - a.y, b.z - a.z), longest)
            median = f"the file's median step is {self.median_step:.3g} um"
            if len(steps) == 1:
                text = f"{longest:.4g} um from {self.name(a)} to {self.name(b)} ({median}), {way}"
            else:
                text = (f"{len(steps)} steps in a row of {min(s[2] for s in steps):.4g} to "
                        f"{longest:.4g} um from {self.name(run[0])} to {self.name(run[-1])} "
                        f"({sum(s[2] for s in steps):.4g} um; {median}); the longest, from "
                        f"{self.name(a)}, {way}")
            out.append(Finding("warning", "jump", text, **self.where(*run, at=run[1])))
        return out

    def _z_steps(self) -> dict[int, float]:
        limit = max(Z_STEP_MIN_UM, Z_STEP_MEDIAN_FACTOR * self.median_step)
        steps = {}
        for p in self.neurite:
            q = self.parent(p)
            if q is None or q.type == 1:
                continue
            dz = p.z - q.z
            if abs(dz) >= limit and abs(dz) >= Z_STEP_XY_FACTOR * math.hypot(p.x - q.x,
                                                                              p.y - q.y):
                steps[p.id] = dz
        return steps

    def _backlash(self) -> list[Finding]:
        """A step mostly along z undone by one of opposite sign a few points further on: the
        microscope stage's z backlash (or a slice's surface), not the neurite."""
        steps = self._z_steps()
        out, used = [], set()
        for p in self.neurite:
            if p.id not in steps or p.id in used:
                continue
            dz, frontier = steps[p.id], [(c, 1) for c in self.children[p.id]]
            while frontier:
                c, depth = frontier.pop(0)
                back = steps.get(c.id)
                if back is not None and back * dz < 0 and c.id not in used and \
                        1 / BACKLASH_RATIO <= abs(back / dz) <= BACKLASH_RATIO:
                    used.update((p.id, c.id))
                    q = self.parent(p)
                    out.append(Finding("warning", "z-backlash", (
                        f"z jumps {dz:+.3g} um at {self.name(p)} (from {self.name(q)}) and "
                        f"{back:+.3g} um at {self.name(c)}, {depth} point(s) later, with little "
                        f"x-y movement: a z-axis backlash of the microscope stage (or of the "
                        f"tracing), not the neurite's path; it lengthens the path and the area"),
                        **self.where(p, c)))
                    break
                if depth < BACKLASH_WINDOW:
                    frontier += [(k, depth + 1) for k in self.children[c.id]]
        return out

    def _bottlenecks(self) -> list[Finding]:
        out = []
        for p in self.neurite:
            q, kids = self.parent(p), self.children[p.id]
            if p.type == 1 or q is None or not kids:
                continue
            around = min([q.diam] + [k.diam for k in kids])
            if p.diam < BOTTLENECK_RATIO * around:
                beyond = self.subtree_length(p)
                out.append(Finding("warning", "bottleneck", (
                    f"{self.name(p)} has diameter {p.diam:.3g} um between its parent "
                    f"({self.name(q)}, {q.diam:.3g} um) and its child(ren) ({self.names(kids)}: "
                    f"{', '.join(f'{k.diam:.3g}' for k in kids)} um): a thin point on the path "
                    f"to the soma of {beyond:.4g} um of neurite, which it isolates electrically "
                    f"(likely a tracing error)"), **self.where(q, p, at=p)))
        return out

    def _z_range(self) -> list[Finding]:
        ext = self.extent()
        xy = max(ext["x"], ext["y"])
        if xy <= 0:
            return []
        sizes = f"z range {ext['z']:.4g} um, x {ext['x']:.4g} um, y {ext['y']:.4g} um"
        if ext["z"] < Z_FLAT_RATIO * xy:
            return [Finding("info", "z-flat", (
                f"{sizes}: the cell is nearly flat (a 2-D tracing or a squashed slice); "
                f"path lengths and areas leave out depth"))]
        if ext["z"] > Z_STRETCHED_RATIO * xy:
            return [Finding("warning", "z-stretched", (
                f"{sizes}: the cell is deeper than it is wide; slices drifting in z or a z "
                f"scale that is not the x-y scale"))]
        return []


def _type_findings(tree: _Tree) -> list[Finding]:
    """Non-standard type codes, constant and implausible diameters, per type."""
    out = []
    by_type: dict[int, list[FilePoint]] = defaultdict(list)
    for p in tree.neurite:
        by_type[p.type].append(p)
    for code, pts in sorted(by_type.items()):
        name = _type_name(code)
        if code not in SWC_TYPES:
            out.append(Finding("error", "nonstandard-type", (
                f"type code {code} on {len(pts)} points (first point {pts[0].id}, line "
                f"{pts[0].line}); standard codes are 1 to 4; Import3d would make sections "
                f"dend_{code}, which cellsweep's cell cannot hold (the file is refused)"),
                points=tuple(p.id for p in pts[:MAX_PER_CODE]), section=name))
        diams = {p.diam for p in pts}
        if code != 1 and len(pts) >= CONSTANT_MIN_POINTS and len(diams) == 1:
            out.append(Finding("warning", "constant-diameter", (
                f"all {len(pts)} {name} points have diameter {pts[0].diam:g} um: the "
                f"diameters were likely not measured, and the cable's electrotonic length "
                f"and area follow from that guess"), section=name))
        low, high = DIAMETER_RANGE_UM.get(code, (0.0, math.inf))
        odd = [p for p in pts if p.diam < low or p.diam > high]
        if odd:
            worst = max(odd, key=lambda p: max(p.diam / high, low / p.diam if p.diam else 1e9))
            out.append(Finding("warning", "implausible-diameter", (
                f"{len(odd)} {name} point(s) with a diameter outside {low:g} to {high:g} um "
                f"(point {worst.id}: {worst.diam:g} um)"),
                points=tuple(p.id for p in odd[:MAX_PER_CODE]), section=name))
    return out


# ---------------------------------------------------------------- geometry


def _type_stats(tree: _Tree, topology) -> list[TypeStats]:
    by_type: dict[int, list[FilePoint]] = defaultdict(list)
    for p in tree.points:
        by_type[p.type].append(p)
    length, area, sections = defaultdict(float), defaultdict(float), defaultdict(int)
    contour = set()      # types whose length is not the points' (a contour soma, ...)
    if topology is not None:
        for s in topology.sections:
            sections[s.type] += 1
            if s.length_um is None:
                centre = contour_centroid(s.points)
                contour.add(s.type)
                area[s.type] += _area(centre) if centre else math.nan
            else:
                length[s.type] += _length(s.points)
                area[s.type] += _area(s.points)
    else:
        contour.add(1)   # the soma's shape is Import3d's convention: not known here
        area[1] = math.nan
        for p in tree.neurite:
            q = tree.parent(p)
            if q is not None:
                segment = [(q.x, q.y, q.z, q.diam), (p.x, p.y, p.z, p.diam)]
                length[p.type] += _length(segment)
                area[p.type] += _area(segment)
    out = []
    for code, pts in sorted(by_type.items()):
        diams = sorted(p.diam for p in pts if not p.contour)
        out.append(TypeStats(
            code, _type_name(code), len(pts),
            sections.get(code, 0) if topology is not None else None,
            None if code in contour else length[code],
            None if math.isnan(area[code]) else area[code],
            diams[0] if diams else None, statistics.median(diams) if diams else None,
            diams[-1] if diams else None, len(set(diams))))
    return out


def _soma(topology, tree: _Tree) -> Soma:
    if topology is None:
        somas = [p for p in tree.points if p.type == 1]
        convention = (f"{len(somas)} soma point(s); Import3d's soma not computed (the file has "
                      f"errors)") if somas else "no soma"
        return Soma(convention, "", None, None)
    somas = [s for s in topology.sections if s.type == 1]
    area = 0.0
    for s in somas:
        if s.length_um is None:
            centre = contour_centroid(s.points)
            if centre is None:
                area = None
                break
            area += _area(centre)
        else:
            area += _area(s.points)
    return Soma(topology.soma, topology.soma_shape, len(somas), area if somas else None)


def contour_centroid(contour) -> list[tuple] | None:
    """The 21 points (x, y, z, diam) Import3d_GUI.contour2centroid makes of a soma contour: the
    contour's principal axis through its centre, with the width across it (the minor axis, in
    x-y) as diameter. None if the contour is degenerate (Import3d fails on it too)."""
    import numpy as np

    pts = np.array(contour_samples(contour), dtype=float).T     # 3 x 101
    mean = pts.mean(axis=1)
    pts = pts - mean[:, None]
    values, vectors = np.linalg.eigh(pts @ pts.T)
    imax, imin = int(np.argmax(values)), int(np.argmin(values))
    major = vectors[:, imax]
    if major[np.argmax(np.abs(major))] < 0:
        major = -major
    minor = vectors[:, 3 - imin - imax].copy()
    minor[2] = 0.0
    if np.linalg.norm(minor) / (np.linalg.norm(major) + 1e-100) < 1e-6:
        return None
    minor /= np.linalg.norm(minor)
    d, rad = list(major @ pts), list(minor @ pts)
    top = int(np.argmax(d))
    d, rad = d[top:] + d[:top], rad[top:] + rad[:top]
    low = int(np.argmin(d))
    side2, rad2 = d[low:], rad[low:]
    d, rad = d[:low][::-1], rad[:low][::-1]
    for xs, ys in ((d, rad), (side2, rad2)):     # keep each side increasing, as Import3d does
        j = len(xs) - 1
        while j > 0:
            if xs[j] <= xs[j - 1]:
                del xs[j], ys[j]
                if j != len(xs):
                    j += 1
            j -= 1
    if len(d) < 2 or len(side2) < 2:
        return None
    both = sorted(d + side2)
    grid = np.linspace(both[1], both[-2], 21)
    r1, r2 = np.interp(grid, d, rad), np.interp(grid, side2, rad2)
    diam = list(np.abs(r1 - r2))
    diam[0], diam[-1] = (diam[0] + diam[1]) / 2, (diam[-1] + diam[-2]) / 2
    return [(*(mean + major * g), w) for g, w in zip(grid, diam)]


def _length(points) -> float:
    return sum(math.dist(a[:3], b[:3]) for a, b in zip(points, points[1:]))


def _area(points) -> float:
    """Lateral area of the frusta between consecutive points (x, y, z, diam), as NEURON sums
    it over a section's 3-D points."""
    total = 0.0
    for a, b in zip(points, points[1:]):
        r1, r2 = abs(a[3]) / 2, abs(b[3]) / 2
        total += math.pi * (r1 + r2) * math.hypot(r1 - r2, math.dist(a[:3], b[:3]))
    return total


# ---------------------------------------------------------------- words


def format_table(report: Inspection) -> str:
    """The report for people: a header, the per-type table, the findings (aligned columns)."""
    lines = [f"{report.path} ({report.format}): {report.points} points"]
    if report.import3d_sections is not None:
        total = sum(report.import3d_sections.values())
        lines[0] += f"; Import3d makes {total} sections (" + ", ".join(
            f"{k} {n}" for k, n in report.import3d_sections.items()) + ")"
    else:
        lines[0] += "; Import3d's sections not computed (the file has errors)"
    if report.points:
        soma = report.soma
        area = f"{soma.area_um2:.4g} um2" if soma.area_um2 is not None else "not computed"
        lines.append(f"soma: {soma.convention}" + (f"; {soma.shape}" if soma.shape else "")
                     + f"; area {area}")
        ext = report.extent_um
        lines.append(f"extent (um): x {ext['x']:.4g}, y {ext['y']:.4g}, z {ext['z']:.4g}")
        lines.append("lengths and areas: " + (
            "of the sections Import3d builds" if report.geometry_from == "import3d" else
            "of the file's steps, parent to point (the soma's are Import3d's: not computed)"))
        lines.append("")
        rows = [("type", "points", "sections", "length um", "area um2", "diam min", "median",
                 "max", "distinct")]
        for t in report.types:
            rows.append((f"{t.code} {t.name}", str(t.points), _num(t.sections, "d"),
                         _num(t.length_um, ".1f"), _num(t.area_um2, ".1f"),
                         _num(t.diam_min, ".3g"), _num(t.diam_median, ".3g"),
                         _num(t.diam_max, ".3g"), str(t.distinct_diameters)))
        lines += _aligned(rows, left=1, pad_last=True)
    lines.append("")
    if report.findings:
        rows = [("level", "code", "where", "message")]
        by_line = report.format == "ASC"   # its point numbers are ours, its lines the file's
        rows += [(f.level, f.code, f.where(by_line) or "-", f.message) for f in report.findings]
        lines += _aligned(rows, left=4)
    else:
        lines.append("no findings")
    verdict = ("cellsweep run refuses this file (errors above)" if report.refused else
               "cellsweep run accepts this file")
    lines += ["", verdict]
    return "\n".join(lines)


def _aligned(rows, left: int, pad_last: bool = False) -> list[str]:
    """Columns padded to their widest cell; the first ``left`` columns left-aligned, numbers
    right-aligned; the last column (a message) is not padded unless ``pad_last``."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = []
        for i, cell in enumerate(r):
            if i == len(r) - 1 and not pad_last:
                cells.append(cell)
            elif i < left or left >= len(r) - 1:
                cells.append(cell.ljust(widths[i]))
            else:
                cells.append(cell.rjust(widths[i]))
        out.append("  ".join(cells).rstrip())
    return out


def _num(value, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _type_name(code: int) -> str:
    return TYPE_NAMES.get(code, f"type {code}")


def _ids(ids) -> str:
    ids = list(ids)
    text = ", ".join(str(i) for i in ids[:6])
    return text + (f" (+{len(ids) - 6})" if len(ids) > 6 else "")


def _direction(d, length: float) -> str:
    for axis, component in zip("xyz", d):
        if abs(component) >= ALONG_AXIS * length:
            return f"along {'+' if component > 0 else '-'}{axis}"
    return "direction (" + ", ".join(f"{c / length:+.2f}" for c in d) + ")"


def _cap(findings: list[Finding]) -> list[Finding]:
    """At most MAX_PER_CODE findings per code, then one line counting the rest."""
    seen: dict[str, int] = defaultdict(int)
    out = []
    for f in findings:
        seen[f.code] += 1
        if seen[f.code] <= MAX_PER_CODE:
            out.append(f)
    for code, n in seen.items():
        if n > MAX_PER_CODE:
            level = next(f.level for f in findings if f.code == code)
            out.append(Finding(level, code, f"{n - MAX_PER_CODE} more {code} findings not listed"))
    return out
