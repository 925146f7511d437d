"""A NEURON cell built once per process from a ``ModelSpec`` and re-parameterised per evaluation.

Building (reading the morphology, inserting mechanisms) is the expensive part of an evaluation
(0.5 s for a 300-section cell); setting parameters costs milliseconds. ``NeuronCell.apply`` puts a
complete parameter mapping on the existing cell so that the state equals a fresh build's: every
declared parameter is set on every evaluation, the discretisation is recomputed from the current
Ra and cm (d_lambda rule) before range variables are set, and global NEURON state is reset.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from cellsweep.cells import dendrotweaks_distributions as DT
from cellsweep.cells import mechanisms, morphology
from cellsweep.cells import spec as S
from cellsweep.cells.errors import SimulationError
from cellsweep.cells.expressions import FUNCTIONS, compile_expression

# the C library's exp, element by element, as BluePyOpt computes its distributions: numpy's
# vectorised exp differs in the last bit for some inputs, which changes the traces
_exp = FUNCTIONS["exp"]

def neuron_h():
    """NEURON's hoc interpreter with the standard run system loaded (imported lazily)."""
    quiet_neuron()
    from neuron import h

    if not getattr(neuron_h, "_ready", False):
        h.load_file("stdrun.hoc")
        h.load_file("import3d.hoc")
        neuron_h._ready = True
    return h


def quiet_neuron() -> None:
    """Before NEURON is first imported: no GUI, so no "no DISPLAY" banner for users."""
    import os

    os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")


def neuron_version() -> str:
    """``neuron.__version__``, as a standalone script reads it."""
    quiet_neuron()
    import neuron

    return neuron.__version__


def distribution_function(dist: S.Distribution, overrides=None):
    """f(distance_um array, value) -> array of values along the cell; ``overrides``: coefficient
    values given as parameters (``<distribution>.<coefficient>``)."""
    if overrides:
        dist = dataclasses.replace(dist, coefficients=tuple(
            (k, overrides.get(k, v)) for k, v in dist.coefficients))
    kind, c = dist.kind, dist.coefficient
    if DT.is_dendrotweaks(kind):
        fn = DT.formula(kind, dict(dist.coefficients))
        return lambda d, v: v * fn(d)
    if kind == "uniform":
        return lambda d, v: np.full_like(d, v)
    if kind == "linear":
        a, b = c("intercept", 1.0), c("slope_per_um", 0.0)
        return lambda d, v: v * (a + b * d)
    if kind == "exponential":
        off, amp, lam = c("offset", 0.0), c("amplitude", 1.0), c("length_um", 1.0)
        return lambda d, v: v * (off + amp * _exp(d / lam))
    if kind == "sigmoid":
        off, amp, mid, width = (c("offset", 0.0), c("amplitude", 1.0), c("midpoint_um", 0.0),
                                c("width_um", 1.0))
        return lambda d, v: v * (off + amp / (1.0 + _exp((mid - d) / width)))
    if kind == "step":
        lo, hi, inside, outside = (c("start_um", 0.0), c("end_um", math.inf), c("inside", 1.0),
                                   c("outside", 0.0))
        return lambda d, v: v * np.where((d >= lo) & (d < hi), inside, outside)
    if kind == "expression":
        fn = compile_expression(dist.expression)
        return lambda d, v: np.broadcast_to(fn(distance=d, value=v), d.shape).astype(float)
    raise ValueError(f"unknown distribution kind {kind!r}")


class NeuronCell:
    """The NEURON objects of one model in this process, plus what is needed to re-parameterise."""

    def __init__(self, model: S.ModelSpec):
        self.model = model
        cell = model.cell
        h = self.h = neuron_h()
        if cell.mechanisms_dir is not None:
            mechanisms.load(cell.mechanisms_dir)
        self.icell = morphology.new_cell(h, cell.name)
        if cell.sections:
            morphology.build_sections(h, cell.sections, self.icell)
        else:
            morphology.instantiate_morphology(h, cell.morphology, self.icell)
        self._stylised = [(s, morphology.stylised_section(self.icell, s.name))
                          for s in cell.sections]
        self._geometry_key = None
        if cell.axon.replace:
            # BluePyOpt sets nseg before replacing the axon, and the stub's diameters are read
            # at x=0.5, which depends on nseg (C060114A7: 1.38 vs 1.50 um without this)
            morphology.set_nseg(self.icell, cell.discretisation.length_um)
            morphology.replace_axon(h, self.icell, cell.axon.stub_length_um,
                                    cell.axon.nseg_frequency_um)
        self.soma = self.icell.soma[0]
        self.base = {name: list(getattr(self.icell, name)) for name in S.BASE_REGIONS}
        self._geometry = {sec: _lambda_geometry(sec) for sec in self.base["all"]}
        self._distances_cache: dict = {}
        self._kinds = None          # section -> built-in region, for domain_distance groups
        self.regions = {name: secs for name, secs in self.base.items()}
        for region in cell.regions:
            if region.sections:
                self.regions[region.name] = [morphology.stylised_section(self.icell, name)
                                             for name in region.sections]
                continue
            if region.is_group:
                bases = {sec for b in region.bases for sec in self.base[b]}
                self.regions[region.name] = [sec for sec in self.base["all"] if sec in bases]
                continue
            self.regions[region.name] = [
                sec for sec in self.base[region.within]
                if region.min_distance_um <= self.distance(sec(0.5)) < region.max_distance_um]
        for region, names in cell.insert:
            for sec in self.regions[region]:
                for name in names:
                    sec.insert(name)
        self._distribution_fns = {d.name: distribution_function(d) for d in cell.distributions}
        self._coefficients: dict = {}
        self._nseg_key = None

    # -- geometry --------------------------------------------------------------------------------
    def distance(self, seg) -> float:
        """Path distance (µm) from the soma centre, as BluePyOpt measures it."""
        return self.h.distance(self.soma(0.5), seg)

    def section_count(self) -> int:
        return len(self.base["all"])

    def nseg_total(self) -> int:
        return int(sum(sec.nseg for sec in self.base["all"]))

    def _segments(self, region_name: str, distance_kind: str = "path"):
        """Segments of a region and their distances; cached until the discretisation changes."""
        key = (region_name, distance_kind)
        if key not in self._distances_cache:
            custom = self.model.cell.region(region_name)
            secs = (self.regions[region_name] if custom and (custom.sections or custom.is_group)
                    else self.base[custom.within] if custom else self.base[region_name])
            segs = [seg for sec in secs for seg in sec]
            if distance_kind == "euclidean":
                dist = np.array([self._euclidean(seg) for seg in segs])
            else:
                dist = np.array([self.distance(seg) for seg in segs])
            if custom and custom.is_group:
                if custom.select_by:
                    by = (dist if custom.select_by == "distance" and distance_kind == "path"
                          else np.array([self._selected_value(custom.select_by, seg)
                                         for seg in segs]))
                    keep = (by > custom.above) & (by <= custom.up_to)
                    segs = [s for s, k in zip(segs, keep) if k]
                    dist = dist[keep]
            elif custom:
                keep = (dist >= custom.min_distance_um) & (dist < custom.max_distance_um)
                segs = [s for s, k in zip(segs, keep) if k]
                dist = dist[keep]
            self._distances_cache[key] = (segs, dist)
        return self._distances_cache[key]

    def _selected_value(self, select_by: str, seg) -> float:
        """What a segment group's ``select_by`` compares (DendroTweaks' SegmentGroup)."""
        if select_by == "distance":
            return self.distance(seg)
        if select_by == "domain_distance":
            return self.h.distance(self._domain_root(seg.sec)(0.0), seg) \
                if seg.sec not in self.base["somatic"] else self.distance(seg)
        return seg.diam if select_by == "diam" else seg.sec.diam

    def _domain_root(self, sec):
        """The first section on the way to the soma whose parent is of another type (SWC type:
        DendroTweaks' domain), from whose 0 end DendroTweaks' ``domain_distance`` is measured."""
        if self._kinds is None:
            self._kinds = {s: name for name in ("somatic", "axonal", "basal", "apical")
                           for s in self.base[name]}
        kinds = self._kinds
        while True:
            parent = sec.parentseg()
            if parent is None or kinds.get(parent.sec) != kinds.get(sec):
                return sec
            sec = parent.sec

    def _euclidean(self, seg) -> float:
        def xyz(sec, x):
            n = int(sec.n3d())
            arc = np.array([sec.arc3d(i) for i in range(n)])
            pts = np.array([[sec.x3d(i), sec.y3d(i), sec.z3d(i)] for i in range(n)])
            return np.array([np.interp(x * sec.L, arc, pts[:, k]) for k in range(3)])
        return float(np.linalg.norm(xyz(seg.sec, seg.x) - xyz(self.soma, 0.5)))

    # -- parameters ------------------------------------------------------------------------------
    def apply(self, values: dict) -> None:
        """Put a complete parameter mapping (every declared parameter) on the cell."""
        h = self.h
        params = self.model.parameters
        self._set_coefficients(values)
        for p in params:
            if p.kind == "global":
                setattr(h, p.variable, values[p.name])
        for p in params:
            if p.kind == "section":
                for sec in self.regions[p.region]:
                    sec.Ra = values[p.name]
            elif p.kind == "range" and p.variable == "cm" and not p.distribution \
                    and self._whole_sections(p.region):
                for sec in self.regions[p.region]:
                    sec.cm = values[p.name]
        self._set_geometry(values)
        self._discretise(values)
        for spec, sec in self._stylised:     # a taper is per segment: after nseg is known
            if len(self._geometry_key[spec.name][1]) == 2:
                morphology.set_diam(sec, self._geometry_key[spec.name][1])
        for p in params:
            if p.kind == "range":
                self._set_range(p, values[p.name])

    def _set_geometry(self, values: dict) -> None:
        """L and diam of a stylised cell's sections: as built, then the ``L.<...>`` and
        ``diam.<...>`` parameters (broader first); a taper counts as its mean diameter until
        the discretisation is done, so that the d_lambda rule sees the same diam every time."""
        if not self._stylised:
            return
        geometry = {spec.name: [spec.L, spec.diam] for spec, _ in self._stylised}
        names = {sec: spec.name for spec, sec in self._stylised}
        for p in self.model.parameters:
            if p.kind != "geometry":
                continue
            targets = [p.target] if p.target else [names[sec] for sec in self.regions[p.region]]
            for name in targets:
                geometry[name][0 if p.variable == "L" else 1] = (
                    values[p.name] if p.variable == "L" else (values[p.name],))
        key = {name: (length, tuple(diam)) for name, (length, diam) in geometry.items()}
        for spec, sec in self._stylised:
            length, diam = key[spec.name]
            sec.L = length
            sec.diam = sum(diam) / len(diam)
        if key != self._geometry_key:
            self._distances_cache.clear()
        self._geometry_key = key

    def parameter_segments(self, p: S.Parameter) -> list:
        """The segments a range or section parameter sets, exactly as ``apply`` sets them
        (a shape plot reads its values back there)."""
        sections, found = self._targets(p)
        return [seg for sec in sections for seg in sec] if sections is not None \
            else list(found[0])

    def _targets(self, p: S.Parameter):
        """``(sections, None)`` for a parameter set on whole sections, else ``(None, (segments,
        distances))`` for one set per segment (a distribution, or a distance region)."""
        where = self.model.cell.range_variables == "where_inserted" and p.kind == "range"
        if p.kind == "section" or (not p.distribution and self._whole_sections(p.region)):
            secs = self.regions[p.region]
            if not where:
                return secs, None
            key = ("where", p.region, p.variable)
            if key not in self._distances_cache:
                self._distances_cache[key] = [sec for sec in secs
                                              if hasattr(sec(0.5), p.variable)]
            return self._distances_cache[key], None
        dist = self.model.cell.distribution(p.distribution) if p.distribution else None
        kind = dist.distance if dist else "path"
        if not where:
            return None, self._segments(p.region, kind)
        key = ("where", p.region, kind, p.variable)    # DendroTweaks' rule: where it exists
        if key not in self._distances_cache:
            segs, d = self._segments(p.region, kind)
            keep = np.array([hasattr(seg, p.variable) for seg in segs], dtype=bool)
            self._distances_cache[key] = ([seg for seg, k in zip(segs, keep) if k],
                                          d[keep] if len(segs) else d)
        return None, self._distances_cache[key]

    def _whole_sections(self, region_name: str) -> bool:
        """A built-in region, or a segment group of whole built-in regions (no selector)."""
        custom = self.model.cell.region(region_name)
        return custom is None or (custom.is_group and not custom.select_by)

    def _set_coefficients(self, values: dict) -> None:
        """Distribution coefficients given as parameters: functions rebuilt when they change."""
        wanted: dict = {}
        for p in self.model.parameters:
            if p.kind == "coefficient":
                wanted.setdefault(p.region, {})[p.variable] = values[p.name]
        if wanted == self._coefficients:
            return
        for dist in self.model.cell.distributions:
            if dist.name in wanted or dist.name in self._coefficients:
                self._distribution_fns[dist.name] = distribution_function(
                    dist, wanted.get(dist.name))
        self._coefficients = wanted

    def _set_range(self, p: S.Parameter, value: float) -> None:
        sections, found = self._targets(p)
        if sections is not None:
            for sec in sections:
                setattr(sec, p.variable, value)
            return
        dist = self.model.cell.distribution(p.distribution) if p.distribution else None
        segs, d = found
        if dist is None:
            out = np.full(len(segs), value)
        else:
            out = self._distribution_fns[dist.name](d, value)
        var = p.variable
        for seg, v in zip(segs, out.tolist()):
            setattr(seg, var, v)

    def _discretise(self, values: dict) -> None:
        disc = self.model.cell.discretisation
        settings = {"d_lambda": disc.d_lambda, "frequency_hz": disc.frequency_hz,
                    "length_um": disc.length_um}
        overrides = dict(disc.nseg)
        for p in self.model.parameters:
            if p.kind == "nseg":
                if p.region:
                    overrides[p.region] = int(round(values[p.name]))
                else:
                    settings[p.variable] = values[p.name]
        geometry = tuple(sorted((self._geometry_key or {}).items()))
        if disc.rule == "d_lambda":
            key = ("d_lambda", tuple(sorted(settings.items())), tuple(sorted(overrides.items())),
                   tuple((sec.Ra, sec(0.5).cm) for sec in self.base["all"]), geometry)
        else:
            key = (disc.rule, tuple(sorted(settings.items())), tuple(sorted(overrides.items())),
                   geometry)
        if key == self._nseg_key:
            return
        wanted = {}
        for sec in self.base["all"]:
            if disc.rule == "d_lambda":
                geometry = (sec.L, None) if self._stylised else self._geometry[sec]
                wanted[sec] = _d_lambda_nseg(sec, geometry, settings["frequency_hz"],
                                             settings["d_lambda"])
            elif disc.rule == "length":
                wanted[sec] = 1 + 2 * int(sec.L / settings["length_um"])
        for spec, sec in self._stylised:     # a section's own nseg, under the region overrides
            if spec.nseg is not None:
                wanted[sec] = spec.nseg
        for region, n in overrides.items():
            for sec in self.regions[region]:
                wanted[sec] = n
        changed = False
        for sec, n in wanted.items():
            if sec.nseg != n:
                sec.nseg = n
                changed = True
        if changed or self._nseg_key is None:
            self._distances_cache.clear()
        self._nseg_key = key

    def nseg_by_region(self) -> dict:
        return {name: int(sum(s.nseg for s in secs)) for name, secs in self.base.items() if secs}

    # -- locations -------------------------------------------------------------------------------
    def segment(self, loc: S.Location):
        """The NEURON segment of a location (raises SimulationError if it does not exist)."""
        if loc.kind == "soma":
            return self.soma(0.5)
        if loc.kind == "section":
            name, _, index = loc.section.partition("[")
            array = getattr(self.icell, name)
            i = int(index.rstrip("]"))
            count = len(self.base["somatic"]) if name == "soma" else None
            try:
                sec = array[i]
                _ = sec.L
            except (IndexError, RuntimeError, ValueError):
                raise SimulationError(f"location {loc.section}: no such section in "
                                      f"{self.model.cell.geometry_name}"
                                      + (f" ({count} soma sections)" if count else "")) from None
            return sec(loc.x)
        return self._segment_at_distance(loc)

    def _segment_at_distance(self, loc: S.Location):
        """BluePyOpt's NrnSomaDistanceCompLocation rule: the *last* section of the region whose
        distance range spans the distance (and whose diam there is positive), at
        x = (distance - min) / (max - min). Several branches usually qualify (five apical
        sections of C060114A7 span 660 um), so first and last differ."""
        secs = self.regions[loc.region]
        found = None
        for sec in secs:
            start, end = self.distance(sec(0)), self.distance(sec(1))
            lo, hi = min(start, end), max(start, end)
            if lo <= loc.distance_um <= hi and hi > lo:
                x = (loc.distance_um - lo) / (hi - lo)
                if sec(x).diam > 0.0:
                    found = sec(x)
        if found is not None:
            return found
        far = max((self.distance(sec(1)) for sec in secs), default=0.0)
        raise SimulationError(f"location {loc.label()}: no section of region {loc.region!r} lies "
                              f"at {loc.distance_um:g} um from the soma (farthest: {far:.1f} um)")


def _lambda_geometry(sec) -> tuple:
    """Length and sum(dx/sqrt(d1+d2)) over 3-D points: the Ra/cm-independent part of lambda."""
    n = int(sec.n3d())
    if n < 2:
        return sec.L, None
    arc = np.array([sec.arc3d(i) for i in range(n)])
    diam = np.array([sec.diam3d(i) for i in range(n)])
    with np.errstate(divide="ignore", invalid="ignore"):
        integral = float(np.sum(np.diff(arc) / np.sqrt(diam[:-1] + diam[1:])))
    return sec.L, integral


def _d_lambda_nseg(sec, geometry, frequency_hz: float, d_lambda: float) -> int:
    """nseg by the d_lambda rule (Hines & Carnevale), from the section's Ra and mid-cm."""
    length, integral = geometry
    ra, cm = sec.Ra, sec(0.5).cm
    if integral is None or not math.isfinite(integral) or integral <= 0:
        lam = 1e5 * math.sqrt(sec.diam / (4 * math.pi * frequency_hz * ra * cm))
    else:
        lam = length / (integral * math.sqrt(2) * 1e-5 * math.sqrt(4 * math.pi * frequency_hz * ra * cm))
    return int((length / (d_lambda * lam) + 0.9) / 2) * 2 + 1
