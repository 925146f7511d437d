"""The geometry of a built cell, segment by segment, for shape plots.

A section's segments are equal pieces of its arc length: segment ``i`` of ``nseg`` spans
``x`` in ``[i/nseg, (i+1)/nseg]`` and is centred at ``seg.x``, as NEURON discretises it. With
3-D points, each segment's piece of the section's points is cut at those arc lengths (points
and diameters interpolated at the cuts), so the pieces add up to the section's length.

A section without 3-D points (a stylised cell's, an axon stub) is laid out here as a straight
line of length ``L`` from where it joins its parent: along the parent's direction when it joins
the parent's 1 end, backwards at the 0 end, sideways in between, with siblings fanned out. A
cell without any 3-D points gets a flat (z = 0) layout. NEURON is never given points for this:
``h.define_shape`` would make float32 points from which NEURON recomputes L and diam, changing
the cell (docs/ARCHITECTURE.md, the rxd note).

The cell's NEURON objects are read through the ``cells.neuron_cell.NeuronCell`` handed in; this
module never imports NEURON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FAN_STEP_DEG = 30.0          # between siblings laid out from one point
FAN_MAX_DEG = 120.0


@dataclass
class CellShape:
    """Every segment of a cell: where it is (a polyline, µm) and what it is (section, index,
    x, diameter, path distance from the soma centre), in the order of the cell's ``all`` list."""

    section: list            # section name per segment ("apic[3]")
    index: np.ndarray        # segment index within its section
    x: np.ndarray            # the segment's centre, seg.x
    diam: np.ndarray         # seg.diam (µm)
    distance: np.ndarray     # path distance of the centre from the soma centre (µm)
    points: list             # per segment, an (k, 3) array of points along it (µm)
    flat: bool = False       # laid out in 2-D (the cell has no 3-D points)

    def __len__(self) -> int:
        return len(self.section)

    def lengths(self) -> np.ndarray:
        """Arc length of every segment's polyline (µm)."""
        return np.array([float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum())
                         for p in self.points])


def short_name(sec) -> str:
    """``soma[0]`` for ``example_pyramid[0].soma[0]``."""
    return sec.name().rsplit(".", 1)[-1]


def split_by_arc(arc: np.ndarray, xyz: np.ndarray, diam: np.ndarray, nseg: int) -> list:
    """A section's points cut into ``nseg`` pieces of equal arc length: a list of
    ``(points (k, 3), diameters (k,))``, each piece starting and ending at the cuts."""
    total = float(arc[-1])
    cuts = np.linspace(0.0, total, nseg + 1)
    pieces = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        inside = (arc > a) & (arc < b)
        where = np.concatenate([[a], arc[inside], [b]])
        pts = np.column_stack([np.interp(where, arc, xyz[:, k]) for k in range(3)])
        pieces.append((pts, np.interp(where, arc, diam)))
    return pieces


def _points(sec):
    n = int(sec.n3d())
    if n < 2:
        return None
    arc = np.array([sec.arc3d(i) for i in range(n)])
    if arc[-1] <= 0:
        return None
    xyz = np.array([[sec.x3d(i), sec.y3d(i), sec.z3d(i)] for i in range(n)])
    diam = np.array([sec.diam3d(i) for i in range(n)])
    return arc, xyz, diam


def _rotate_z(direction: np.ndarray, degrees: float) -> np.ndarray:
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    x, y, z = direction
    return np.array([c * x - s * y, s * x + c * y, z])


def _along(line, x: float) -> tuple:
    """Point and unit tangent at fraction ``x`` of a polyline ``(arc, xyz)``."""
    arc, xyz = line
    where = x * arc[-1]
    point = np.array([np.interp(where, arc, xyz[:, k]) for k in range(3)])
    i = int(np.clip(np.searchsorted(arc, where), 1, len(arc) - 1))
    tangent = xyz[i] - xyz[i - 1]
    norm = np.linalg.norm(tangent)
    return point, (tangent / norm if norm > 0 else np.array([1.0, 0.0, 0.0]))


def _fan_angles(count: int) -> list:
    if count == 1:
        return [0.0]
    step = min(FAN_STEP_DEG, FAN_MAX_DEG / (count - 1))
    return [step * (i - (count - 1) / 2) for i in range(count)]


def section_lines(sections) -> tuple[dict, bool]:
    """``({section: (arc, xyz, diam)}, flat)``: every section's points, the laid-out ones for
    sections without 3-D points (``flat``: none had any)."""
    lines, missing = {}, []
    for sec in sections:
        pts = _points(sec)
        if pts is None:
            missing.append(sec)
        else:
            lines[sec] = pts
    flat = not lines
    order = {sec: i for i, sec in enumerate(sections)}

    def key(sec):
        parent = sec.parentseg()
        if parent is None or parent.sec not in order:
            return None, 0
        return parent.sec, _end(parent.x)

    by_parent: dict = {}
    for sec in missing:
        by_parent.setdefault(key(sec), []).append(sec)
    pending = list(missing)
    while pending:           # a tree: every pass places at least the children of placed ones
        for sec in list(pending):
            parent, end = key(sec)
            if parent is not None and parent not in lines:
                continue
            if parent is None:
                start, base = np.zeros(3), np.array([1.0, 0.0, 0.0])
            else:
                start, tangent = _along(lines[parent][:2], sec.parentseg().x)
                base = tangent if end == 1 else -tangent if end == 0 else _rotate_z(tangent, 90)
            siblings = by_parent[(parent, end)]
            position = siblings.index(sec)
            angle = _fan_angles(len(siblings))[position]
            if end == 0.5 and position % 2:
                angle += 180.0                  # sideways children alternate sides
            length = float(sec.L)
            xyz = np.vstack([start, start + length * _rotate_z(base, angle)])
            lines[sec] = (np.array([0.0, length]), xyz, np.array([sec.diam, sec.diam]))
            pending.remove(sec)
    return lines, flat


def _end(x: float) -> float:
    """Which end of its parent a child joins: 0, 1, or 0.5 (in between)."""
    return 0 if x <= 0 else 1 if x >= 1 else 0.5


def cell_shape(cell) -> CellShape:
    """The segments of a built ``NeuronCell`` (after ``apply``: nseg is the evaluation's)."""
    sections = list(cell.base["all"])
    lines, flat = section_lines(sections)
    names, index, xs, diam, dist, points = [], [], [], [], [], []
    for sec in sections:
        arc, xyz, d3 = lines[sec]
        pieces = split_by_arc(arc, xyz, d3, int(sec.nseg))
        name = short_name(sec)
        for i, (seg, (pts, _)) in enumerate(zip(sec, pieces)):
            names.append(name)
            index.append(i)
            xs.append(seg.x)
            diam.append(seg.diam)
            dist.append(cell.distance(seg))
            points.append(pts)
    return CellShape(section=names, index=np.array(index), x=np.array(xs),
                     diam=np.array(diam), distance=np.array(dist), points=points, flat=flat)


def cell_segments(cell) -> list:
    """The NEURON segments of ``cell_shape``'s rows, in the same order."""
    return [seg for sec in cell.base["all"] for seg in sec]
