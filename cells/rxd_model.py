"""The rxd objects of one evaluation, built on the cell from an ``RxdSpec`` and removed after it.

Why rebuild per evaluation instead of re-parameterising: rxd fixes a reaction's rate constants
when the reaction is made (no setter for ``kf``), and a rate constant held as an
``rxd.Parameter`` computes a different floating-point expression than the number the
tutorial writes. Building the objects with the evaluation's numbers gives exactly what a fresh
script gives, bit for bit (tests/cells/test_rxd.py runs A, B, A against fresh processes).
Building the objects takes about 2 ms; the expensive part, rxd's set-up at every
``finitialize`` (with reactions or rates it writes their C++ code, compiles it with ``g++`` in
the working directory and loads it: about 240 ms for the calcium-buffering model), is the
same whether the objects are rebuilt or kept.

Removal must leave rxd as a fresh process has it. Deleting the Python objects frees their
nodes, but NEURON 9.0's rxd keeps each section it ever saw in its section lookup (an empty
entry after the species are gone), and the next set-up then fails in ``_c_region`` on an
empty set of regions. ``close`` drops those empty entries, and the 3-D points rxd gave
sections that had none (a stylised cell's). This module and ``neuron_cell``
are the only ones that touch NEURON (setup.cfg's import contract lists both).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import shutil
import tempfile

import numpy as np

from cellsweep.cells import spec as S
from cellsweep.cells.errors import SimulationError
from cellsweep.cells.expressions import compile_symbolic


def _rxd():
    from neuron import rxd

    return rxd


def cell_extent(cell) -> tuple:
    """(lower, upper) corners (µm) of the cell's 3-D points. Sections without any (a stylised
    cell) get them from ``h.define_shape()`` first, exactly as rxd itself gives them when its
    regions are made, so that a padded box fits the cell rxd will see (``RxdModel.close``
    removes such points again)."""
    h = cell.h
    if any(h.n3d(sec=sec) == 0 for sec in cell.base["all"]):
        h.define_shape()
    points = [(h.x3d(i, sec=sec), h.y3d(i, sec=sec), h.z3d(i, sec=sec))
              for sec in cell.base["all"] for i in range(int(h.n3d(sec=sec)))]
    if not points:
        return None
    pts = np.array(points)
    return tuple(pts.min(axis=0).tolist()), tuple(pts.max(axis=0).tolist())


def box(cell, ecs: S.RxdExtracellular) -> tuple:
    """The extracellular box's corners: as given, or the cell's extent plus the padding."""
    if ecs.lower_um:
        return ecs.lower_um, ecs.upper_um
    extent = cell_extent(cell)
    if extent is None:
        raise SimulationError("the cell has no 3-D points; give the extracellular box as "
                              "lower_um/upper_um")
    lower, upper = extent
    return (tuple(a - ecs.padding_um for a in lower), tuple(b + ecs.padding_um for b in upper))


def segment_xyz(seg) -> tuple:
    """A segment's centre (µm), interpolated along its section's 3-D points."""
    sec, h = seg.sec, _h()
    n = int(h.n3d(sec=sec))
    arc = [h.arc3d(i, sec=sec) for i in range(n)]
    where = seg.x * sec.L
    return tuple(float(np.interp(where, arc, [f(i, sec=sec) for i in range(n)]))
                 for f in (h.x3d, h.y3d, h.z3d))


def _h():
    from neuron import h

    return h


_scratch: str | None = None


@contextlib.contextmanager
def compiling_aside():
    """Run in this process's scratch directory: with reactions or rates, rxd writes and
    compiles (g++) their C++ code in the working directory at every ``finitialize``; there it
    neither needs the user's directory to be writable nor leaves files in it when a worker is
    killed mid-compile. The working directory is restored on the way out."""
    global _scratch
    if _scratch is None or not os.path.isdir(_scratch):
        _scratch = tempfile.mkdtemp(prefix="cellsweep-rxd-")
        atexit.register(shutil.rmtree, _scratch, True)
    before = os.getcwd()
    os.chdir(_scratch)
    try:
        yield
    finally:
        os.chdir(before)


class RxdModel:
    """An evaluation's regions, species, reactions and rates; ``close()`` removes them."""

    def __init__(self, cell, spec: S.RxdSpec):
        self.rxd, self.spec = _rxd(), spec
        self.rates = self.reactions = self.species = self.regions = None
        h = cell.h
        # rxd gives sections without 3-D points some (h.define_shape: float32, so a stylised
        # cell's diam 12.6157 becomes 12.6156998): ``close`` removes them again, so that the
        # next evaluation's L and diam are set as on a fresh cell
        self._shapeless = [sec for sec in cell.base["all"] if h.n3d(sec=sec) == 0]
        self._h = h
        try:
            self._build(cell, spec)
        except Exception:
            self.close()          # a half-built model must not reach the next evaluation
            raise

    def _build(self, cell, spec: S.RxdSpec) -> None:
        rxd = self.rxd
        rxd.nthread(spec.nthread)
        self.regions = {}
        for r in spec.regions:
            secs = cell.regions[r.cell_region]
            if not secs:
                raise SimulationError(f"rxd region {r.name}: cell region {r.cell_region!r} "
                                      "has no sections")
            self.regions[r.name] = rxd.Region(secs, nrn_region=r.nrn_region or None,
                                              geometry=_geometry(rxd, r), name=r.name)
        if spec.extracellular is not None:
            e = spec.extracellular
            lower, upper = box(cell, e)
            self.regions[e.name] = rxd.Extracellular(
                *lower, *upper, dx=e.dx_um[0] if len(e.dx_um) == 1 else e.dx_um,
                volume_fraction=e.volume_fraction, tortuosity=e.tortuosity)
        self.species = {}
        for s in spec.species:
            where = [self.regions[n] for n in s.regions]
            where = where[0] if len(where) == 1 else where
            if s.kind == "parameter":
                kwargs = {"name": s.name}
                if s.initial is not None:
                    kwargs["value"] = s.initial
                self.species[s.name] = rxd.Parameter(where, **kwargs)
                continue
            kwargs = {"name": s.name, "d": s.d}
            if s.kind == "species":
                kwargs["charge"] = s.charge
            if s.initial is not None:
                kwargs["initial"] = s.initial
            make = rxd.State if s.kind == "state" else rxd.Species
            self.species[s.name] = make(where, **kwargs)
        self.reactions = [self._reaction(r) for r in spec.reactions]
        self.rates = [self._rate(r) for r in spec.rates]

    def _regions_kwarg(self, names) -> dict:
        return {"regions": [self.regions[n] for n in names]} if names else {}

    def _side(self, terms):
        """``2 * ca + buf`` (or ``ca[er]``) exactly as written by hand (a lone species stays
        itself)."""
        expr = None
        for name, n in terms:
            base, _, where = name.partition("[")
            species = self.species[base]
            if where:
                species = species[self.regions[where.rstrip("]")]]
            term = species if n == 1 else n * species
            expr = term if expr is None else expr + term
        return expr

    def _reaction(self, r: S.RxdReaction):
        if r.membrane:
            return self.rxd.MultiCompartmentReaction(
                self._side(r.reactants), self._side(r.products), r.kf, r.kb,
                membrane=self.regions[r.membrane], membrane_flux=r.membrane_flux)
        return self.rxd.Reaction(self._side(r.reactants), self._side(r.products), r.kf, r.kb,
                                 **self._regions_kwarg(r.regions))

    def _rate(self, r: S.RxdRate):
        names = tuple(self.species) + tuple(k for k, _ in r.constants)
        build = compile_symbolic(r.expression, names)
        env = {**self.species, **dict(r.constants)}
        functions = {name: getattr(self.rxd.rxdmath, name) for name in
                     ("exp", "log", "log10", "sqrt", "sin", "cos", "tanh", "fabs", "pow")
                     if hasattr(self.rxd.rxdmath, name)}
        return self.rxd.Rate(self.species[r.species], build(env, functions),
                             **self._regions_kwarg(r.regions))

    # -- recordings ------------------------------------------------------------------------------
    def nodes(self, rec: S.Recording, cell) -> list:
        """The nodes a recording reads: one node, or all of a region's for a statistic."""
        on = self.species[rec.species][self.regions[rec.rxd_region]]
        is_ecs = self.spec.extracellular is not None \
            and rec.rxd_region == self.spec.extracellular.name
        if rec.statistic:
            return list(on.nodes)
        if is_ecs:
            xyz = rec.point_um or segment_xyz(cell.segment(rec.location))
            node = on.node_by_location(*xyz)
            if node is None:
                raise SimulationError(f"{rec.name}: the point {list(xyz)} is outside the "
                                      "extracellular space")
            return [node]
        found = list(on.nodes(cell.segment(rec.location)))
        if not found:
            raise SimulationError(f"{rec.name}: species {rec.species} has no node in region "
                                  f"{rec.rxd_region} at {rec.location.label()}")
        return found[:1]

    def close(self) -> None:
        """Remove every rxd object, and the empty section entries rxd 9.0 keeps (module doc)."""
        self.rates = self.reactions = self.species = self.regions = None
        gc.collect()
        for sec in self._shapeless:
            self._h.pt3dclear(sec=sec)
        from neuron.rxd import section1d

        lookup = section1d._SectionLookup()
        for sec in list(lookup):
            if not lookup[sec]:
                lookup._instance.nrn_sec_list.remove(sec)


def _geometry(rxd, r: S.RxdRegion):
    if r.geometry == "membrane":
        return rxd.membrane
    if r.geometry == "fractional_volume":
        return rxd.FractionalVolume(r.volume_fraction, surface_fraction=r.surface_fraction)
    if r.geometry == "scalable_border":
        return rxd.ScalableBorder(r.scale, on_cell_surface=r.on_cell_surface)
    return rxd.inside


def statistic(kind: str, traces: np.ndarray, volumes: np.ndarray) -> np.ndarray:
    """A region's mean (volume-weighted) or maximum over its nodes, per sample."""
    if kind == "max":
        return traces.max(axis=0)
    return (volumes[:, None] * traces).sum(axis=0) / volumes.sum()
