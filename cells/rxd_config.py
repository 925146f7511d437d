"""Reading the ``rxd:`` section (reaction-diffusion) into ``cells.spec.RxdSpec``.

Every number of the section is a parameter named by its key path (``rxd.reactions.<name>.kf``,
``rxd.species.<name>.initial``, ``rxd.extracellular.tortuosity``, ...): ``resolve`` turns such a
name into a ``Parameter`` of kind ``rxd`` and ``with_values`` puts an evaluation's values back
into the spec, which ``cells.rxd_model`` builds. Rate expressions are parsed here once (no
``eval``), so an unknown species is a config error, not a failed evaluation.
"""

from __future__ import annotations

import dataclasses
import math

from cellsweep.cells import spec as S
from cellsweep.cells.expressions import ExpressionError, compile_symbolic
from cellsweep.cells.schema import Section, check_number, did_you_mean, quote

GEOMETRIES = ("inside", "membrane", "fractional_volume", "scalable_border")
NRN_REGIONS = {"i": "i", "o": "o", "none": ""}
# the numbers each kind of object has, as parameters: name -> units
NUMBERS = {
    "regions": {"volume_fraction": "", "surface_fraction": ""},
    "extracellular": {"volume_fraction": "", "tortuosity": ""},
    "species": {"d": "um2/ms", "initial": "mM"},
    "reactions": {"kf": "", "kb": ""},
}
STATISTICS = ("mean", "max")


def read_rxd(sec: Section, cell_regions: set) -> S.RxdSpec | None:
    """The ``rxd:`` section (None when absent); problems go to the section's collector."""
    if not sec.data:
        sec.finish()
        return None
    regions = tuple(_read_region(name, value, sec.section("regions").key_path(name), sec,
                                 cell_regions)
                    for name, value in sec.section("regions").items())
    ecs = _read_extracellular(sec.section("extracellular")) if sec.has("extracellular") else None
    names = [r.name for r in regions] + ([ecs.name] if ecs else [])
    for name in {n for n in names if names.count(n) > 1}:
        sec.error("extracellular", f"region name {quote(name)} is used twice")
    if not names:
        sec.error("regions", "expected at least one region (or an extracellular space)")
    species = tuple(_read_species(sec.section("species"), name, value, names)
                    for name, value in sec.section("species").items())
    species_names = [s.name for s in species]
    homes = {s.name: s.regions for s in species}
    reactions = tuple(_read_reaction(sec.section("reactions"), name, value, species_names, names,
                                     homes)
                      for name, value in sec.section("reactions").items())
    rates = tuple(_read_rate(sec.section("rates"), name, value, species_names, names)
                  for name, value in sec.section("rates").items())
    nthread = sec.number("nthread", 1, ge=1, le=256, integer=True)
    max_voxels = sec.number("max_voxels", 1_000_000, ge=1, integer=True)
    sec.finish()
    spec = S.RxdSpec(regions=regions, extracellular=ecs, species=species, reactions=reactions,
                     rates=rates, nthread=nthread or 1, max_voxels=max_voxels or 1_000_000)
    if ecs is not None and ecs.lower_um:
        count = voxel_count(ecs.lower_um, ecs.upper_um, ecs.dx_um)
        if count > spec.max_voxels:
            sec.problems.add(f"{sec.key_path('extracellular')}.dx_um",
                             voxel_message(count, spec.max_voxels))
    return spec


def _read_region(name, value, path, parent: Section, cell_regions: set) -> S.RxdRegion:
    r = Section(value, path, parent.problems)
    on = r.string("cell_region", "all")
    if on is not None and on not in cell_regions:
        r.error("cell_region", f"unknown cell region {quote(on)}; expected one of "
                               f"{', '.join(sorted(cell_regions))}"
                + did_you_mean(on, cell_regions))
    nrn = r.string("nrn_region", "i", choices=tuple(NRN_REGIONS))
    g = r.section("geometry")
    kind = g.string("kind", "inside", choices=GEOMETRIES)
    fraction = g.number("volume_fraction", 1.0, gt=0, le=1)
    surface = g.number("surface_fraction", 0.0, ge=0, le=1)
    if kind != "fractional_volume" and (g.has("volume_fraction") or g.has("surface_fraction")):
        g.error("kind", "volume_fraction and surface_fraction need kind fractional_volume")
    scale = g.number("scale", 1.0, gt=0)
    on_surface = g.boolean("on_cell_surface", False)
    if kind != "scalable_border" and (g.has("scale") or g.has("on_cell_surface")):
        g.error("kind", "scale and on_cell_surface need kind scalable_border")
    g.finish()
    r.finish()
    return S.RxdRegion(name=name, cell_region=on or "all", nrn_region=NRN_REGIONS[nrn or "i"],
                       geometry=kind or "inside", volume_fraction=fraction or 1.0,
                       surface_fraction=surface or 0.0, scale=scale or 1.0,
                       on_cell_surface=bool(on_surface))


def _triple(sec: Section, key: str, positive: bool):
    value = sec.raw(key, None)
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) != 3:
        sec.error(key, f"expected three numbers [x, y, z] in um, found {quote(value)}")
        return ()
    out = [check_number(v, f"{sec.key_path(key)}[{i}]", sec.problems,
                        gt=0 if positive else None) for i, v in enumerate(value)]
    return () if None in out else tuple(float(v) for v in out)


def _read_extracellular(e: Section) -> S.RxdExtracellular:
    name = e.string("name", "ecs")
    padding = e.number("padding_um", 0.0, ge=0)
    lower, upper = _triple(e, "lower_um", False), _triple(e, "upper_um", False)
    if bool(lower) != bool(upper):
        e.error("upper_um" if lower else "lower_um", "give both lower_um and upper_um, or neither")
        lower = upper = ()
    elif lower and not all(a < b for a, b in zip(lower, upper)):
        e.error("upper_um", f"expected every coordinate of upper_um above lower_um "
                            f"{list(lower)}, found {list(upper)}")
        lower = upper = ()
    if lower and e.has("padding_um"):
        e.error("padding_um", "padding_um applies to the box around the cell; not with "
                              "lower_um/upper_um")
    dx = e.raw("dx_um", 10.0)
    if isinstance(dx, list):
        dx = _triple(e, "dx_um", True)
    else:
        dx = check_number(dx, e.key_path("dx_um"), e.problems, gt=0)
        dx = () if dx is None else (float(dx),)
    fraction = e.number("volume_fraction", 1.0, gt=0, le=1)
    tortuosity = e.number("tortuosity", 1.0, ge=1)
    e.finish()
    return S.RxdExtracellular(name=name or "ecs", padding_um=padding or 0.0, lower_um=lower,
                              upper_um=upper, dx_um=dx or (10.0,),
                              volume_fraction=fraction or 1.0, tortuosity=tortuosity or 1.0)


def _region_list(sec: Section, key: str, known, default=()) -> tuple:
    value = sec.raw(key, None)
    if value is None:
        return tuple(default)
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        sec.error(key, f"expected a list of rxd region names, found {quote(value)}")
        return ()
    for v in value:
        if v not in known:
            sec.error(key, f"unknown rxd region {quote(v)}; expected one of "
                           f"{', '.join(known) or '(none defined)'}" + did_you_mean(v, known))
    return tuple(v for v in value if v in known)


def _read_species(parent: Section, name, value, region_names) -> S.RxdSpecies:
    s = Section(value, parent.key_path(name), parent.problems)
    regions = _region_list(s, "regions", region_names, region_names[:1])
    if not s.has("regions") and len(region_names) > 1:
        s.error("regions", "missing required key (there is more than one rxd region)")
    kind = s.string("kind", "species", choices=("species", "state", "parameter"))
    charge = s.number("charge", 0, integer=True)
    d = s.number("d", 0.0, ge=0)
    # a state (a gate, say) or a parameter may be any number; a concentration is >= 0
    initial = s.number("initial", None, ge=0 if kind == "species" else None)
    if kind in ("state", "parameter") and charge:
        s.error("charge", f"a {kind} has no charge (only a species carries current)")
    if kind == "parameter" and d:
        s.error("d", "a parameter does not diffuse (its value is set per node)")
    s.finish()
    return S.RxdSpecies(name=name, regions=regions, charge=int(charge or 0), d=d or 0.0,
                        initial=initial, kind=kind or "species")


def _stoichiometry(r: Section, key: str, species_names, species_regions=None) -> tuple:
    """``{ca: 2, buf: 1}``, a lone name, or region-qualified terms ``{ca[er]: 1}`` (those a
    multi-compartment reaction needs) -> ((term, n), ...) in the order written."""
    species_regions = species_regions or {}
    value = r.raw(key, None)
    if value is None:
        r.error(key, "missing required key")
        return ()
    if isinstance(value, str):
        value = {value: 1}
    if not isinstance(value, dict) or not value:
        r.error(key, f"expected a mapping species: stoichiometry, e.g. {{ca: 2, buf: 1}}, found "
                     f"{quote(value)}")
        return ()
    out = []
    for sp, n in value.items():
        base, _, where = str(sp).partition("[")
        if base not in species_names:
            r.error(key, f"unknown species {quote(base)}; expected one of "
                         f"{', '.join(species_names) or '(none defined)'}"
                    + did_you_mean(base, species_names))
            continue
        if where:
            region = where.rstrip("]")
            homes = species_regions.get(base, ())
            if not where.endswith("]") or region not in homes:
                r.error(key, f"{quote(sp)}: species {base!r} lives in "
                             f"{', '.join(homes) or 'no region'}; write {base}[<one of them>]")
                continue
        n = check_number(n, f"{r.key_path(key)}.{sp}", r.problems, ge=1, le=10, integer=True)
        if n is not None:
            out.append((sp, int(n)))
    return tuple(out)


def _read_reaction(parent: Section, name, value, species_names, region_names,
                   species_regions=None) -> S.RxdReaction:
    r = Section(value, parent.key_path(name), parent.problems)
    reactants = _stoichiometry(r, "reactants", species_names, species_regions)
    products = _stoichiometry(r, "products", species_names, species_regions)
    kf = r.number("kf", ge=0)
    kb = r.number("kb", 0.0, ge=0)
    regions = _region_list(r, "regions", region_names)
    membrane = r.string("membrane", "")
    flux = r.boolean("membrane_flux", False)
    if membrane and membrane not in region_names:
        r.error("membrane", f"unknown rxd region {quote(membrane)}; expected one of "
                            f"{', '.join(region_names)}" + did_you_mean(membrane, region_names))
    if membrane and any("[" not in t for t, _ in reactants + products):
        r.error("membrane", "a reaction across a membrane needs every species with its region, "
                            "e.g. {ca[er]: 1}")
    if not membrane and any("[" in t for t, _ in reactants + products):
        r.error("reactants", "species written with a region (ca[er]) need a membrane: the "
                             "reaction across it")
    if flux and not membrane:
        r.error("membrane_flux", "only a reaction across a membrane has a membrane flux")
    r.finish()
    return S.RxdReaction(name=name, reactants=reactants, products=products, kf=kf or 0.0,
                         kb=kb or 0.0, regions=regions, membrane=membrane or "",
                         membrane_flux=bool(flux))


def _read_rate(parent: Section, name, value, species_names, region_names) -> S.RxdRate:
    r = Section(value, parent.key_path(name), parent.problems)
    species = r.string("species")
    if species is not None and species not in species_names:
        r.error("species", f"unknown species {quote(species)}; expected one of "
                           f"{', '.join(species_names) or '(none defined)'}"
                + did_you_mean(species, species_names))
    c = r.section("constants")
    constants = []
    for key, number in c.items():
        if key in species_names or not str(key).isidentifier():
            c.error(key, f"constant name {quote(key)} must be an identifier that is not a species")
            continue
        number = check_number(number, c.key_path(key), r.problems)
        if number is not None:
            constants.append((key, float(number)))
    expression = r.string("rate") or ""
    if expression:
        try:
            compile_symbolic(expression, tuple(species_names) + tuple(k for k, _ in constants))
        except ExpressionError as exc:
            r.error("rate", str(exc))
    regions = _region_list(r, "regions", region_names)
    r.finish()
    return S.RxdRate(name=name, species=species or "", expression=expression,
                     constants=tuple(constants), regions=regions)


# -- voxels ------------------------------------------------------------------------------------
def voxel_count(lower, upper, dx) -> int:
    """Voxels rxd makes of a box: ceil(extent/dx) along each axis (at least one)."""
    steps = dx if len(dx) == 3 else dx * 3
    return math.prod(max(1, math.ceil((b - a) / d)) for a, b, d in zip(lower, upper, steps))


def voxel_message(count: int, limit: int) -> str:
    return (f"the extracellular space would have {count} voxels, more than rxd.max_voxels "
            f"({limit}); increase dx_um (or max_voxels)")


# -- parameters --------------------------------------------------------------------------------
def resolve(name: str, spec: S.RxdSpec | None) -> S.Parameter | str:
    """``rxd.<kind>.<name>.<number>`` (``rxd.extracellular.<number>``) -> a Parameter of kind
    ``rxd`` holding the config's value, or an error text."""
    if spec is None:
        return f"{quote(name)} names an rxd number, but the config has no rxd section"
    parts = name.split(".")[1:]
    kind = parts[0] if parts else ""
    if kind == "rates" and len(parts) == 3:
        rate = next((r for r in spec.rates if r.name == parts[1]), None)
        known = dict(rate.constants) if rate else {}
        if rate is None or parts[2] not in known:
            return (f"unknown rxd rate constant {quote(name)}; expected one of "
                    f"{', '.join(_rate_names(spec)) or '(no rate has constants)'}")
        return S.Parameter(name=name, kind="rxd", variable=parts[2], region="rates",
                           target=parts[1], value=known[parts[2]])
    if kind == "extracellular" and len(parts) == 2 and spec.extracellular is not None:
        target, variable, obj = "", parts[1], spec.extracellular
    elif kind in ("regions", "species", "reactions") and len(parts) == 3:
        target, variable = parts[1], parts[2]
        obj = next((o for o in getattr(spec, kind) if o.name == target), None)
    else:
        obj, variable = None, ""
    numbers = NUMBERS.get(kind, {})
    if obj is None or variable not in numbers:
        known = parameter_names(spec)
        return (f"unknown rxd number {quote(name)}; expected one of {', '.join(known)}"
                + did_you_mean(name, known))
    return S.Parameter(name=name, kind="rxd", variable=variable, region=kind, target=target,
                       value=getattr(obj, variable), units=numbers[variable])


def _rate_names(spec: S.RxdSpec) -> list:
    return [f"rxd.rates.{r.name}.{k}" for r in spec.rates for k, _ in r.constants]


def parameter_names(spec: S.RxdSpec) -> list:
    """Every number of the section by its parameter name."""
    out = [f"rxd.{kind}.{o.name}.{n}" for kind in ("regions", "species", "reactions")
           for o in getattr(spec, kind) for n in NUMBERS[kind]]
    if spec.extracellular is not None:
        out += [f"rxd.extracellular.{n}" for n in NUMBERS["extracellular"]]
    return out + _rate_names(spec)


def with_values(spec: S.RxdSpec, params, values: dict) -> S.RxdSpec:
    """The spec with every rxd parameter of ``params`` set to its value in ``values``."""
    for p in params:
        if p.kind != "rxd":
            continue
        value = float(values[p.name])
        if p.region == "extracellular":
            spec = dataclasses.replace(spec, extracellular=dataclasses.replace(
                spec.extracellular, **{p.variable: value}))
            continue
        objects = []
        for o in getattr(spec, p.region):
            if o.name == p.target:
                if p.region == "rates":
                    o = dataclasses.replace(o, constants=tuple(
                        (k, value if k == p.variable else v) for k, v in o.constants))
                else:
                    o = dataclasses.replace(o, **{p.variable: value})
            objects.append(o)
        spec = dataclasses.replace(spec, **{p.region: tuple(objects)})
    return spec


# -- recordings --------------------------------------------------------------------------------
def recording_problems(protocols, spec: S.RxdSpec | None) -> list[tuple[str, str]]:
    """(key path, message) of every rxd recording naming a species or region that does not
    exist, or a form its region does not have (a point in a region on the cell)."""
    out = []
    for protocol in protocols:
        for rec in protocol.recordings:
            if not rec.species:
                continue
            path = f"protocols.{protocol.name}.recordings.{rec.name}"
            if spec is None:
                out.append((f"{path}.species", "an rxd recording needs an rxd section"))
                continue
            species = next((s for s in spec.species if s.name == rec.species), None)
            names = [s.name for s in spec.species]
            if species is None:
                out.append((f"{path}.species", f"unknown species {quote(rec.species)}; expected "
                            f"one of {', '.join(names)}" + did_you_mean(rec.species, names)))
                continue
            if rec.rxd_region not in species.regions:
                out.append((f"{path}.region", f"species {quote(rec.species)} is not in rxd "
                            f"region {quote(rec.rxd_region)}; it lives in "
                            f"{', '.join(species.regions)}"))
                continue
            ecs = spec.extracellular is not None and rec.rxd_region == spec.extracellular.name
            if rec.point_um and not ecs:
                out.append((f"{path}.point_um", "a point names a voxel of the extracellular "
                            "space; use location for a region on the cell"))
    return out


def recording_region(rec: S.Recording, spec: S.RxdSpec | None) -> S.Recording:
    """The recording with its region filled in when its species lives in one region only."""
    if rec.rxd_region or spec is None:
        return rec
    species = next((s for s in spec.species if s.name == rec.species), None)
    if species is not None and len(species.regions) == 1:
        return dataclasses.replace(rec, rxd_region=species.regions[0])
    return rec


def read_recording(r: Section) -> dict:
    """The rxd keys of a recording (``species`` given): species, region, point_um, statistic."""
    species = r.string("species")
    region = r.string("region", "")
    point = _triple(r, "point_um", False)
    statistic = r.string("statistic", "", choices=STATISTICS)
    if statistic and (point or r.has("location")):
        r.error("statistic", "a region's mean or max has no location or point")
    if point and r.has("location"):
        r.error("point_um", "give a location or a point_um, not both")
    return {"species": species or "", "rxd_region": region or "", "point_um": point,
            "statistic": statistic or "", "variable": "concentration"}
