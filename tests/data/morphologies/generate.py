"""Writes the synthetic morphologies of this folder (run it from anywhere: python generate.py).

Every file is made up here, point by point, to reproduce one property of a real NeuroMorpho or
Neurolucida file that tests/cells/test_morphology.py checks (see README.md); none is copied
from a real cell. The one file too big to keep (a single 40,000-character line) is written by
the tests themselves (tests/cells/test_morphology.py, ``long_line_swc``).
"""

from __future__ import annotations

import math
from pathlib import Path

HERE = Path(__file__).resolve().parent


class Branch:
    """An unbranched run of points (x, y, z, radius), then the branches that start at its end."""

    def __init__(self, points, children=()):
        self.points = [tuple(float(c) for c in p) for p in points]
        self.children = list(children)


def line(start, direction, n, step, r0, r1=None):
    """``n`` points from ``start`` (excluded) along ``direction``, radius tapering r0 -> r1."""
    r1 = r0 if r1 is None else r1
    norm = math.sqrt(sum(c * c for c in direction))
    unit = [c / norm for c in direction]
    return [tuple(start[k] + unit[k] * step * (i + 1) for k in range(3))
            + (r0 + (r1 - r0) * i / max(n - 1, 1),) for i in range(n)]


def fork(start, direction, n, step, r0, r1=None, depth=1):
    """A branch of ``n`` points, then (``depth`` - 1 more levels of) two children per branch,
    turned 30 degrees either way from ``direction``."""
    r1 = r0 if r1 is None else r1
    points = line(start, direction, n, step, r0, r1)
    children = []
    if depth > 1:
        dx, dy, dz = direction
        perp = (-dy, dx, 0.0) if (dx or dy) else (1.0, 0.0, 0.0)
        for sign in (1, -1):
            turned = tuple(d + sign * 0.58 * q for d, q in zip(direction, perp))
            turned = (turned[0], turned[1], turned[2] + 0.2 * sign)
            children.append(fork(points[-1][:3], turned, n, step, r1, r1 * 0.7, depth - 1))
    return Branch(points, children)


def swc_lines(soma, trees, first_id=1, crlf=False):
    """SWC rows: ``soma`` as given (id, type, x, y, z, r, parent), then each (type, Branch)
    attached to point 1."""
    rows = [list(row) for row in soma]
    next_id = max(row[0] for row in rows) + 1

    def add(branch, kind, parent):
        nonlocal next_id
        for x, y, z, r in branch.points:
            rows.append([next_id, kind, x, y, z, r, parent])
            parent = next_id
            next_id += 1
        for child in branch.children:
            add(child, kind, parent)

    for kind, tree in trees:
        add(tree, kind, first_id)
    text = "\n".join(" ".join(_num(v) for v in row) for row in rows) + "\n"
    return text.replace("\n", "\r\n") if crlf else text


def _num(value):
    return str(int(value)) if float(value).is_integer() else f"{value:.4f}".rstrip("0")


def asc_tree(kind, branch, indent="  "):
    """A Neurolucida tree: (Color), the type, points as (x y z diameter), splits with '|'."""
    out = [f"( (Color {'Red' if kind == 'Axon' else 'Blue'})", f"{indent}({kind})"]
    out += _asc_branch(branch, indent)
    out.append(")  ;  End of tree")
    return out


def _asc_branch(branch, indent):
    out = [f"{indent}( {_num(x)} {_num(y)} {_num(z)} {_num(2 * r)})"
           for x, y, z, r in branch.points]
    if branch.children:
        out.append(f"{indent}(")
        for i, child in enumerate(branch.children):
            if i:
                out.append(f"{indent}|")
            out += _asc_branch(child, indent + "  ")
        out.append(f"{indent})  ;  End of split")
    return out


def contour(name, n, radius, centre=(0.0, 0.0, 0.0), closed=True):
    rows = [f'("{name}"', "  (Closed)" if closed else "  (Open)", "  (Color Red)"]
    if name in ("CellBody", "Soma", "Cell Body"):
        rows.append("  (CellBody)")
    for i in range(n):
        a = 2 * math.pi * i / n
        x, y = centre[0] + radius * math.cos(a), centre[1] + radius * math.sin(a)
        rows.append(f"  ( {x:.2f} {y:.2f} {centre[2]:.2f} 0.15)  ;  1, {i + 1}")
    rows.append(")  ;  End of contour")
    return rows


# ------------------------------------------------------------------ the pyramidal cell


def pyramid_trees():
    """Axon (down), four basal dendrites, an apical trunk with four obliques and a tuft (up).

    Each tree starts on the soma surface (radius 6 um) and hangs off the soma's centre point.
    """
    axon = Branch([(0, -6.5, 0, 0.6)] + line((0, -6.5, 0), (0, -1, 0), 12, 8, 0.55, 0.3),
                  [fork((0, -102.5, 0), (1, -1, 0), 10, 12, 0.3, 0.25, depth=2),
                   fork((0, -102.5, 0), (-1, -1, 0.2), 10, 12, 0.3, 0.25, depth=3)])
    basal = []
    for a in (0.3, 1.9, 3.5, 5.1):
        start = (5.2 * math.cos(a), -3.0, 5.2 * math.sin(a))
        tree = fork(start, (math.cos(a), -0.3, math.sin(a)), 8, 10, 0.8, 0.4, depth=3)
        tree.points.insert(0, (*start, 0.9))
        basal.append(tree)
    # the trunk: four 100-um runs, each ending where an oblique leaves, then the tuft's stem
    runs = []
    start, radius = (0.0, 6.5, 0.0), 2.0
    for k in range(4):
        points = line(start, (0, 1, 0), 10, 10, radius - 0.1, radius - 0.3)
        runs.append(Branch(([(*start, radius)] if k == 0 else []) + points))
        start, radius = points[-1][:3], radius - 0.3
    stem = line(start, (0, 1, 0), 20, 10, 1.0, 0.9)
    tuft = [fork(stem[-1][:3], (s, 1, 0.3 * s), 15, 20, 0.8, 0.4, depth=3) for s in (1, -1)]
    runs.append(Branch(stem, tuft))
    for k in range(4):
        oblique = fork(runs[k].points[-1][:3], ((-1) ** k, 0.4, 0.2 * k), 6, 12, 0.6, 0.3,
                       depth=2)
        runs[k].children = [runs[k + 1], oblique]
    return [(2, axon)] + [(3, b) for b in basal] + [(4, runs[0])]


PYRAMID_SOMA = [(1, 1, 0, 0, 0, 6, -1), (2, 1, 0, -6, 0, 6, 1), (3, 1, 0, 6, 0, 6, 1)]
PYRAMID_HEADER = ("# Synthetic pyramidal cell written by generate.py (not a real neuron).\n"
                  "# NeuroMorpho.Org standardised style: 3-point soma, CRLF line ends.\n")


def pyramid_swc():
    return PYRAMID_HEADER.replace("\n", "\r\n") + swc_lines(PYRAMID_SOMA, pyramid_trees(),
                                                            crlf=True)


def pyramid_asc(extra_contours=False):
    names = {2: "Axon", 3: "Dendrite", 4: "Apical"}
    rows = [";\tV3 text file written by generate.py (synthetic, not a real neuron).", ""]
    rows += contour("CellBody", 15, 6.0)
    for kind, tree in pyramid_trees():
        rows += [""] + asc_tree(names[kind], tree)
    if extra_contours:  # anatomical outlines drawn around the cell, as in real tracings
        for name, n, radius, centre in (("NewContour", 60, 400, (0, 0, 0)),
                                        ("Layer 5", 40, 900, (0, 200, -5)),
                                        ("Barrel", 30, 250, (150, -300, 0)),
                                        ("Pia", 50, 1500, (0, 1800, 0))):
            rows += [""] + contour(name, n, radius, centre, closed=name != "Pia")
    return "\r\n".join(rows) + "\r\n"


# ------------------------------------------------------------------ odd SWC files


def negative_radii_swc():
    """Axon points with negative radii (-0.14 and -0.275), data lines padded with spaces."""
    trees = pyramid_trees()
    text = swc_lines(PYRAMID_SOMA, trees)
    out = ["# Synthetic cell: negative radii on axon points (as some NeuroMorpho files have)"]
    for row in text.splitlines():
        fields = row.split()
        if fields[1] == "2" and int(fields[0]) > 8:
            fields[5] = "-0.14" if int(fields[0]) % 3 else "-0.275"
        out.append("  " + " ".join(fields) + " ")
    return "\n".join(out) + "\n"


def chain_soma_swc():
    """A 17-point soma drawn as a chain (each soma point the child of the one before), dendrites
    only (no axon), CRLF."""
    soma = [(1, 1, 0, -8, 0, 1.5, -1)]
    for i in range(2, 18):
        y = -8 + (i - 1)
        soma.append((i, 1, 0.2 * math.sin(i), y, 0, 3 + 2 * math.sin(math.pi * (i - 1) / 16),
                     i - 1))
    trees = [(3, fork((0, 8.5, 0), (0.2, 1, 0), 10, 10, 1.5, 0.8, depth=3)),
             (3, fork((2, 0, 0), (1, -0.5, 0.3), 8, 10, 1.0, 0.5, depth=2))]
    rows = swc_lines(soma, trees)
    # the second tree hangs off the middle of the soma chain, the first off its end
    lines = rows.splitlines()
    first_tree = 18
    lines[first_tree - 1] = _reparent(lines[first_tree - 1], 17)
    second = first_tree + _size(trees[0][1])
    lines[second - 1] = _reparent(lines[second - 1], 9)
    header = "# Synthetic cell: a soma of 17 chained points, no axon, CRLF line ends."
    return "\r\n".join([header] + lines) + "\r\n"


def _reparent(row, parent):
    fields = row.split()
    fields[6] = str(parent)
    return " ".join(fields)


def _size(branch):
    return len(branch.points) + sum(_size(c) for c in branch.children)


def no_soma_swc():
    """A dendrite tree and nothing else: every point has type 3; CRLF."""
    tree = fork((0, 0, 0), (0, 1, 0), 8, 10, 1.0, 0.5, depth=4)
    rows = swc_lines([(1, 3, 0, 0, 0, 1.2, -1)], [(3, tree)]).splitlines()
    header = "# Synthetic dendrite with no soma (a fragment: no point has type 1)."
    return "\r\n".join([header] + rows) + "\r\n"


def type10_swc():
    """An old-style conversion: 1-point soma, a type-10 point with 6 children (one the axon's
    root), straight type-10 'segments' that are not neurites."""
    rows = ["# Synthetic old-style SWC (not a real neuron)",
            "# type 10: markers drawn as long straight segments",
            "#",
            "# id type x y z r parent",
            "1 1 0 0 0 4.5 -1",
            "2 10 0 0 5 0.15 1"]
    next_id = 3
    for k in range(5):  # five straight type-10 runs from point 2
        parent = 2
        for j in range(3):
            rows.append(f"{next_id} 10 {(j + 1) * 400 * math.cos(k):.1f} "
                        f"{(j + 1) * 400 * math.sin(k):.1f} 5 0.15 {parent}")
            parent, next_id = next_id, next_id + 1
    parent = 2  # the axon starts at the type-10 point
    for j in range(10):
        rows.append(f"{next_id} 2 0 {-5 - 10 * (j + 1)} 5 0.4 {parent}")
        parent, next_id = next_id, next_id + 1
    parent = 1
    for j in range(10):
        rows.append(f"{next_id} 3 {5 + 10 * (j + 1)} 0 0 0.8 {parent}")
        parent, next_id = next_id, next_id + 1
    return "\n".join(rows) + "\n"


def multifurcation_swc():
    """A point with four children (three dendrites and the continuing trunk) and a one-point
    soma whose children also number three."""
    rows = ["# Synthetic cell: a 1-point soma with 3 trees; one dendrite point has 4 children",
            "1 1 0 0 0 5 -1"]
    next_id = 2

    def run(kind, parent, start, direction, n, radius):
        nonlocal next_id
        for x, y, z, r in line(start, direction, n, 10, radius):
            rows.append(f"{next_id} {kind} {_num(round(x, 3))} {_num(round(y, 3))} "
                        f"{_num(round(z, 3))} {_num(r)} {parent}")
            parent, next_id = next_id, next_id + 1
        return parent, (x, y, z)

    run(2, 1, (0, -5, 0), (0, -1, 0), 10, 0.5)
    hub, at = run(3, 1, (5, 0, 0), (1, 0, 0), 5, 1.0)
    for direction in ((1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1)):
        run(3, hub, at, direction, 6, 0.6)
    run(4, 1, (0, 5, 0), (0, 1, 0), 20, 1.5)
    return "\n".join(rows) + "\n"


def duplicate_id_swc():
    """The pyramid with one dendrite point written twice (same id, the copy on the next line)."""
    lines = pyramid_swc().split("\r\n")
    at = next(i for i, row in enumerate(lines) if row.split()[1:2] == ["3"]) + 3
    lines.insert(at + 1, lines[at])
    return "\r\n".join(lines)


def ids_not_increasing_swc():
    """The pyramid with its last two points swapped: a child written before its parent."""
    lines = pyramid_swc().split("\r\n")
    lines[-3], lines[-2] = lines[-2], lines[-3]  # lines[-1] is the empty string after the end
    return "\r\n".join(lines)


FILES = {
    "pyramid.CNG.swc": pyramid_swc,
    "pyramid.asc": pyramid_asc,
    "pyramid_with_contours.asc": lambda: pyramid_asc(extra_contours=True),
    "negative_radii.swc": negative_radii_swc,
    "chain_soma.swc": chain_soma_swc,
    "no_soma.swc": no_soma_swc,
    "type10.swc": type10_swc,
    "multifurcation.swc": multifurcation_swc,
    "duplicate_id.swc": duplicate_id_swc,
    "ids_not_increasing.swc": ids_not_increasing_swc,
}


def main():
    for name, make in FILES.items():
        (HERE / name).write_bytes(make().encode())


if __name__ == "__main__":
    main()
