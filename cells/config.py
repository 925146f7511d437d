"""Reading a cellsweep YAML config into a validated ``ModelSpec``.

Every problem is collected with its key path (``cells.schema``) and raised as one ``ConfigError``
before any NEURON object exists: files, regions, mechanisms (by SUFFIX in the .mod files or in
NEURON), parameter names on their mechanisms, bounds, stimulus timing, eFEL feature names.
The ``sweep:`` / ``optimise:`` / ``run:`` sections belong to the layers above and are only passed
through here.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from cellsweep.cells import dendrotweaks_distributions as DT
from cellsweep.cells import spec as S
from cellsweep.cells.errors import MechanismError
from cellsweep.cells.expressions import ExpressionError, compile_expression
from cellsweep.cells.feature_refs import protocol_and_recording
from cellsweep.cells.mechanisms import SECTION_VARIABLES, read_mechanism_set
from cellsweep.cells.profile_config import profile_feature, read_profile_section, with_points
from cellsweep.cells.schema import (REQUIRED, Problems, Section, check_bounds, check_number,
                          did_you_mean, quote, type_name)
from cellsweep.cells.sections_config import geometry_parameter, read_sections
from cellsweep.cells.stimuli_config import read_protocols, read_window
from cellsweep.cells.values import value_problem

TOP_LEVEL = ("cell", "protocols", "features", "scoring", "simulation", "sweep", "optimise", "run",
             "profile", "targets", "rxd", "convergence")
DISTRIBUTION_KEYS = {
    "uniform": {},
    "linear": {"intercept": 1.0, "slope_per_um": None},
    "exponential": {"offset": 0.0, "amplitude": 1.0, "length_um": None},
    "sigmoid": {"offset": 0.0, "amplitude": 1.0, "midpoint_um": None, "width_um": None},
    "step": {"start_um": 0.0, "end_um": math.inf, "inside": 1.0, "outside": 0.0},
    "expression": {},
    **{kind: dict(DT.DEFAULTS[kind[len(DT.PREFIX):]]) for kind in DT.KINDS},
}
SELECT_BY = ("distance", "domain_distance", "diam", "section_diam")
RANGE_POLICIES = ("everywhere", "where_inserted")


def display_path(path: Path) -> str:
    """A path as the user should read it in messages: relative to the working dir if possible."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def model_from_dict(data: dict, source: str, base_dir: Path,
                    extra_parameters=()) -> S.ModelSpec:
    """Validate the ``cell``/``protocols``/``features`` parts of a config mapping.

    ``extra_parameters`` are names that will be given values at evaluation time without being
    declared under ``cell.fixed``/``cell.free`` (for example sweep axes): they are resolved and
    validated here too, so that the set of parameters a worker can touch is fixed up front.
    A mapping ``{name: key path}`` makes problems point at where the name was written.
    """
    problems = Problems(source)
    top = Section(data, "", problems)
    for key in TOP_LEVEL:
        top.known.add(key)
    top.finish()

    cell_sec = top.section("cell", required=True)
    cell, mechset = _read_cell(cell_sec, base_dir, problems)
    simulation = _read_simulation(top.section("simulation"))
    protocols = read_protocols(top.section("protocols", required=True), base_dir, cell, mechset)
    rxd, protocols = _read_rxd(top, cell, protocols, problems)
    region_names = set(S.BASE_REGIONS) | {r.name for r in cell.regions}
    profile = read_profile_section(top.section("profile"), region_names)
    features, experiments = _read_features(top, protocols, problems, profile, region_names)
    scoring = _read_scoring(top.section("scoring"))
    parameters = _read_parameters(cell_sec, cell, mechset, protocols, problems, extra_parameters,
                                  simulation, rxd)
    cell_sec.finish()
    problems.raise_if_any()
    return S.ModelSpec(source=source, cell=cell, parameters=parameters, protocols=protocols,
                       features=features, simulation=simulation, scoring=scoring,
                       experiments=experiments, rxd=rxd)


# -- cell --------------------------------------------------------------------------------------
# names hoc already gives a meaning: a template of that name cannot be defined
HOC_RESERVED = {"proc", "func", "obfunc", "iterator", "begintemplate", "endtemplate", "public",
                "external", "objref", "objectvar", "strdef", "double", "local", "localobj",
                "create", "connect", "access", "forall", "forsec", "ifsec", "if", "else", "while",
                "for", "break", "continue", "return", "stop", "print", "delete", "read",
                "insert", "uninsert", "setpointer", "help", "depvar", "eqn", "em", "quit",
                "Vector", "List", "File", "Graph", "Matrix", "Random", "Shape", "PlotShape",
                "SectionList", "SectionRef", "Impedance", "CVode", "ParallelContext", "NetCon",
                "NetStim", "IClamp", "SEClamp", "VClamp", "ExpSyn", "Exp2Syn", "AlphaSynapse",
                "Import3d_SWC_read", "Import3d_Neurolucida3", "Import3d_GUI", "StringFunctions",
                "Deck", "HBox", "VBox", "ValueFieldEditor", "Timer", "Pointer", "Glyph",
                "LinearMechanism", "KSChan", "PythonObject", "NMODLRandom", "soma", "dend",
                "apic", "axon", "myelin", "celsius", "v_init", "dt", "t", "secondorder"}


def _read_cell(sec: Section, base_dir: Path, problems: Problems):
    name = sec.string("name", "cell")
    if name and not (name[0].isalpha() and name.replace("_", "a").isalnum()):
        sec.error("name", f"invalid cell name {quote(name)}; expected a letter followed by letters, "
                          "digits or underscores (it becomes a NEURON template name)")
    elif name in HOC_RESERVED:
        sec.error("name", f"cell name {quote(name)} is a name NEURON's hoc already uses; expected "
                          "another name (it becomes a NEURON template name), e.g. "
                          f"'{name}_cell'")
    morph = sec.string("morphology", None)
    stylised, stylised_regions = (), ()
    if sec.has("sections") and sec.data["sections"] is not None:
        if morph:
            sec.error("sections", "a cell has either a morphology file or sections; expected "
                                  "one of them")
            morph = None
        stylised, stylised_regions = read_sections(sec.data["sections"], sec.key_path("sections"),
                                                   problems)
    elif not morph:
        sec.error("morphology", "missing required key (or sections: a stylised cell)")
    morphology = None
    if morph:
        morphology = (base_dir / morph)
        if morphology.is_dir():
            sec.error("morphology", f"{display_path(morphology)} is a directory; expected a .swc "
                                    "or .asc file")
            morphology = None
        elif morphology.suffix.lower() not in (".swc", ".asc"):
            sec.error("morphology", f"unsupported morphology format {morphology.suffix!r}; "
                                    "expected a .swc or .asc file")
        elif not morphology.is_file():
            sec.error("morphology", f"file not found: {display_path(morphology)}")
        else:
            from cellsweep.cells.morphology_check import check_morphology

            for issue in check_morphology(morphology):
                if issue.severity == "error":
                    sec.error("morphology", str(issue))
    mech_dir = None
    mechs_text = sec.string("mechanisms_dir", None)
    mechset = None
    if mechs_text:
        mech_dir = (base_dir / mechs_text)
        if not mech_dir.is_dir():
            sec.error("mechanisms_dir", f"directory not found: {display_path(mech_dir)}")
            mech_dir = None
    try:
        mechset = read_mechanism_set(mech_dir)
    except MechanismError as exc:
        sec.error("mechanisms_dir", str(exc))
        mechset = read_mechanism_set(None)

    axon_sec = sec.section("axon")
    axon = S.Axon(replace=axon_sec.boolean("replace", False),
                  stub_length_um=axon_sec.number("stub_length_um", 60.0, gt=0),
                  nseg_frequency_um=axon_sec.number("nseg_frequency_um", 40.0, gt=0))
    axon_sec.finish()
    if axon.replace and stylised:
        axon_sec.error("replace", "a stylised cell has the axon its sections give it; expected "
                                  "false (or a morphology file)")

    regions = _read_regions(sec.section("regions"))
    for region in stylised_regions:
        if any(r.name == region.name for r in regions):
            sec.error("regions", f"region {quote(region.name)} is named both here and by "
                                 "cell.sections; expected distinct names")
    regions += stylised_regions
    region_names = set(S.BASE_REGIONS) | {r.name for r in regions}
    disc = _read_discretisation(sec.section("discretisation"), region_names)
    insert = _read_insert(sec.section("insert"),
                          {**dict.fromkeys(S.BASE_REGIONS), **{r.name: r for r in regions}},
                          mechset)
    distributions = _read_distributions(sec.section("distributions"))
    for d in distributions:
        if stylised and d.distance == "euclidean":
            sec.problems.add(f"{sec.key_path('distributions')}.{d.name}.distance",
                             "a stylised cell has no 3-D points, so no euclidean distances; "
                             "expected path")
    policy = sec.string("range_variables", "everywhere", choices=RANGE_POLICIES)
    cell = S.CellSpec(name=name or "cell", morphology=morphology, mechanisms_dir=mech_dir,
                      axon=axon, discretisation=disc, regions=regions, insert=insert,
                      distributions=distributions, sections=stylised,
                      range_variables=policy or "everywhere")
    return cell, mechset


def _read_regions(sec: Section) -> tuple:
    regions = []
    for name, value in sec.items():
        path = sec.key_path(name)
        if name in S.BASE_REGIONS:
            sec.error(name, f"region name {quote(name)} is built in; choose another name")
            continue
        r = Section(value, path, sec.problems)
        if isinstance(r.data.get("within"), list) or r.has("select_by"):
            regions.append(_read_group(name, r))
            continue
        within = r.string("within", choices=S.BASE_REGIONS)
        lo = r.number("min_distance_um", 0.0, ge=0)
        hi = r.number("max_distance_um", math.inf) if r.has("max_distance_um") else math.inf
        if lo is not None and hi is not None and not lo < hi:
            r.error("max_distance_um", f"expected max_distance_um > min_distance_um ({lo:g}), "
                                       f"found {hi:g}")
        r.finish()
        regions.append(S.Region(name=name, within=within or "all", min_distance_um=lo or 0.0,
                                max_distance_um=hi if hi is not None else math.inf))
    return tuple(regions)


def _read_group(name: str, r: Section) -> S.Region:
    """A segment group: several built-in regions (``within`` a list), optionally only the
    segments whose ``select_by`` value lies in (above, up_to], DendroTweaks' rule."""
    within = r.raw("within")
    bases = within if isinstance(within, list) else [within]
    good = []
    for i, base in enumerate(bases):
        if base not in S.BASE_REGIONS:
            where = f"{r.key_path('within')}[{i}]" if isinstance(within, list) else \
                r.key_path("within")
            r.problems.add(where, f"unknown region {quote(base)}; expected one of "
                                  f"{', '.join(S.BASE_REGIONS)}"
                           + did_you_mean(str(base), S.BASE_REGIONS))
        else:
            good.append(base)
    if isinstance(within, list) and not within:
        r.error("within", "expected at least one built-in region")
    select_by = r.string("select_by", "", choices=SELECT_BY) or ""
    above = r.number("above", -math.inf) if r.has("above") else -math.inf
    up_to = r.number("up_to", math.inf) if r.has("up_to") else math.inf
    if (r.has("above") or r.has("up_to")) and not select_by:
        r.error("select_by", "above/up_to need select_by (distance, domain_distance, diam or "
                             "section_diam)")
    if above is not None and up_to is not None and not above < up_to:
        r.error("up_to", f"expected up_to > above ({above:g}), found {up_to:g}")
    for key in ("min_distance_um", "max_distance_um"):
        if r.has(key):
            r.error(key, "a segment group selects with select_by, above and up_to; expected "
                         "those instead")
    r.finish()
    return S.Region(name=name, within=good[0] if len(good) == 1 and not isinstance(within, list)
                    else "all", within_any=tuple(good) if isinstance(within, list) else (),
                    select_by=select_by, above=-math.inf if above is None else above,
                    up_to=math.inf if up_to is None else up_to)


def _read_discretisation(sec: Section, region_names: set) -> S.Discretisation:
    rule = sec.string("rule", "d_lambda", choices=("d_lambda", "length", "none"))
    nseg_sec = sec.section("nseg")
    overrides = []
    for region, value in nseg_sec.items():
        if region not in region_names:
            nseg_sec.error(region, f"unknown region {quote(region)}; expected one of "
                                   f"{', '.join(sorted(region_names))}" + did_you_mean(region, region_names))
            continue
        n = check_number(value, nseg_sec.key_path(region), sec.problems, ge=1, le=32767, integer=True)
        if n is not None:
            overrides.append((region, n))
    disc = S.Discretisation(rule=rule or "d_lambda",
                            d_lambda=sec.number("d_lambda", 0.1, gt=0),
                            frequency_hz=sec.number("frequency_hz", 100.0, gt=0),
                            length_um=sec.number("length_um", 40.0, gt=0),
                            nseg=tuple(overrides))
    sec.finish()
    return disc


def _read_insert(sec: Section, region_names: set, mechset) -> tuple:
    out = []
    density = mechset.density()
    for region, names in sec.items():
        path = sec.key_path(region)
        if region not in region_names:
            sec.error(region, f"unknown region {quote(region)}; expected one of "
                              f"{', '.join(sorted(region_names))}" + did_you_mean(region, region_names))
            continue
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list):
            sec.error(region, "expected a list of mechanism names")
            continue
        good = []
        for i, name in enumerate(names):
            if not isinstance(name, str):
                sec.problems.add(f"{path}[{i}]", f"expected a mechanism name, found "
                                                 f"{type_name(name)}")
            elif region_names.get(region) is not None and region_names[region].select_by:
                sec.problems.add(f"{path}[{i}]", f"region {quote(region)} selects segments "
                                 "(select_by), and a mechanism goes into whole sections; insert "
                                 "it into the built-in regions it is part of")
            elif name not in density:
                where = f"{path}[{i}]"
                known = sorted(density)
                sec.problems.add(where, f"unknown mechanism {quote(name)}; expected a SUFFIX of a .mod "
                                 f"file in the mechanisms_dir or a NEURON built-in "
                                 f"({', '.join(known)})" + did_you_mean(name, known))
            else:
                good.append(name)
        out.append((region, tuple(good)))
    return tuple(out)


def _read_distributions(sec: Section) -> tuple:
    out = []
    for name, value in sec.items():
        d = Section(value, sec.key_path(name), sec.problems)
        kind = d.string("kind", choices=tuple(DISTRIBUTION_KEYS))
        distance = d.string("distance", "path", choices=("path", "euclidean"))
        coefficients, expression = [], ""
        if kind == DT.PREFIX + "polynomial":
            coeffs = d.raw("coeffs", list(DT.POLYNOMIAL_DEFAULT))
            if not (isinstance(coeffs, list) and coeffs):
                d.error("coeffs", f"expected a list of numbers (highest power first), found "
                                  f"{quote(coeffs)}")
                coeffs = []
            for i, (key, v) in enumerate(zip(DT.polynomial_keys(len(coeffs)), coeffs)):
                v = check_number(v, f"{d.key_path('coeffs')}[{i}]", sec.problems)
                if v is not None:
                    coefficients.append((key, v))
        elif kind == "expression":
            expression = d.string("expression") or ""
            if expression:
                try:
                    compile_expression(expression)
                except ExpressionError as exc:
                    d.error("expression", str(exc))
        elif kind:
            for key, default in DISTRIBUTION_KEYS[kind].items():
                v = d.number(key, REQUIRED if default is None else default)
                if v is not None:
                    coefficients.append((key, v))
        d.finish()
        out.append(S.Distribution(name=name, kind=kind or "uniform",
                                  coefficients=tuple(coefficients), expression=expression,
                                  distance=distance or "path"))
    return tuple(out)


# -- parameters --------------------------------------------------------------------------------
# units of the numbers a parameter name can point at besides mechanism variables
SIM_UNITS = {"dt_ms": "ms", "atol": "", "cvode": ""}
STIMULUS_UNIT_SUFFIXES = (("_nA", "nA"), ("_ms", "ms"), ("_hz", "Hz"), ("_uS", "uS"),
                          ("_um", "um"), ("_mV", "mV"))


def resolve_parameter(name: str, cell: S.CellSpec, mechset, protocols) -> S.Parameter | str:
    """Decide where a parameter name points; return a Parameter skeleton (with its units) or
    an error text."""
    found = _resolve(name, cell, mechset, protocols)
    if isinstance(found, str):
        return found
    return dataclasses.replace(found, units=_units(found, mechset))


def _units(param: S.Parameter, mechset) -> str:
    if param.kind in ("range", "section", "global"):
        return mechset.units_of(param.variable)
    if param.kind == "geometry":
        return "um"
    if param.kind == "sim":
        return SIM_UNITS.get(param.variable, "")
    if param.kind == "protocol":
        return next((u for suffix, u in STIMULUS_UNIT_SUFFIXES
                     if param.variable.endswith(suffix)), "")
    return ""


def _resolve(name: str, cell: S.CellSpec, mechset, protocols) -> S.Parameter | str:
    head, _, rest = name.partition(".")
    if not rest:
        if name in S.GLOBAL_NAMES or name in mechset.global_variables():
            return S.Parameter(name=name, kind="global", variable=name)
        return (f"unknown global parameter {quote(name)}; expected celsius, v_init, a GLOBAL of a "
                "mechanism, or <variable>.<region>" + did_you_mean(name, list(S.GLOBAL_NAMES)
                                                                  + sorted(mechset.global_variables())))
    if head == "sim":
        if rest not in S.SIM_NAMES:
            return f"unknown simulation setting {quote(rest)}; expected one of {', '.join(S.SIM_NAMES)}"
        return S.Parameter(name=name, kind="sim", variable=rest)
    dist_name, _, coefficient = name.rpartition(".")
    dist = cell.distribution(dist_name)
    if dist is not None:
        keys = [k for k, _ in dist.coefficients]
        if coefficient not in keys:
            return (f"distribution {quote(dist_name)} has no coefficient {quote(coefficient)}; "
                    f"expected one of {', '.join(keys) or '(none)'}")
        return S.Parameter(name=name, kind="coefficient", variable=coefficient, region=dist_name)
    if head == "nseg":
        regions = set(S.BASE_REGIONS) | {r.name for r in cell.regions}
        if rest in S.NSEG_NAMES or rest in regions:
            return S.Parameter(name=name, kind="nseg", variable=rest,
                               region=rest if rest in regions else "")
        return (f"unknown discretisation setting {quote(rest)}; expected one of "
                f"{', '.join(S.NSEG_NAMES)} or a region name")
    protocol = next((p for p in protocols if p.name == head), None)
    if protocol is not None:
        stim_name, _, field = rest.partition(".")
        stim = next((s for s in protocol.stimuli if s.name == stim_name), None)
        if stim is None:
            return (f"protocol {quote(head)} has no stimulus {quote(stim_name)}; expected one of "
                    f"{', '.join(s.name for s in protocol.stimuli)}")
        if field not in dict(stim.values):
            return (f"stimulus {head}.{stim_name} has no number {quote(field)}; expected one of "
                    f"{', '.join(k for k, _ in stim.values)}")
        return S.Parameter(name=name, kind="protocol", variable=field, region=head, target=stim_name)
    if head == "L" or (head == "diam" and cell.sections):
        return geometry_parameter(name, head, rest, cell)
    variable, region = head, rest
    regions = set(S.BASE_REGIONS) | {r.name for r in cell.regions}
    if region not in regions:
        return (f"unknown region {quote(region)}; expected one of {', '.join(sorted(regions))}"
                + did_you_mean(region, regions))
    if variable == "Ra":
        custom = cell.region(region)
        if custom is not None and not (custom.is_group and not custom.select_by):
            return "Ra is a section property; set it on a built-in region, not a distance region"
        return S.Parameter(name=name, kind="section", variable=variable, region=region)
    if variable in SECTION_VARIABLES:
        return S.Parameter(name=name, kind="range", variable=variable, region=region)
    providers = mechset.range_variables()
    if variable not in providers:
        return (f"unknown variable {quote(variable)}; expected cm, Ra or a RANGE variable of a "
                "mechanism (name_suffix, e.g. gbar_na_t)" + did_you_mean(variable, sorted(providers)))
    owner = providers[variable]
    if cell.range_variables == "where_inserted":
        if not _inserted_in_part(owner, region, cell, mechset):
            return (f"{variable} needs mechanism {owner!r} in some section of region "
                    f"{quote(region)}, and cell.insert puts it in none")
    elif not _inserted_over(owner, region, cell, mechset):
        what = (f"a mechanism using the {owner[:-4]} ion" if owner.endswith("_ion")
                else f"mechanism {owner!r}")
        return (f"{variable} needs {what} in every section of region {quote(region)}, and "
                f"cell.insert does not put it there; insert it under cell.insert.{region} "
                "(or a region containing it)")
    return S.Parameter(name=name, kind="range", variable=variable, region=region)


def _region_within(inner: str, outer: str, cell: S.CellSpec) -> bool:
    if inner == outer or outer == "all":
        return True
    custom = cell.region(inner)
    return custom is not None and (outer == "all" or all(b == outer for b in custom.bases))


def _inserted_over(owner: str, region: str, cell, mechset) -> bool:
    """Is the mechanism (or, for ``ena``-like names, a user of the ion) in every section?"""
    if region == "all" and all(_inserted_over(owner, r, cell, mechset)
                               for r in ("somatic", "axonal", "basal", "apical")):
        return True
    for inserted_region, names in cell.insert:
        if not _region_within(region, inserted_region, cell):
            continue
        for mech in names:
            if mech == owner:
                return True
            if owner.endswith("_ion") and owner[:-4] in mechset.mechanisms[mech].ions:
                return True
    return False


def _inserted_in_part(owner: str, region: str, cell, mechset) -> bool:
    """``range_variables: where_inserted``: is the mechanism (or a user of the ion) in some
    built-in region overlapping ``region``?"""
    custom = cell.region(region)
    bases = set(custom.bases) if custom else {region}
    overlapping = set(S.BASE_REGIONS) if "all" in bases else bases | {"all"}
    for inserted_region, names in cell.insert:
        inside = cell.region(inserted_region)
        if not (set(inside.bases) if inside else {inserted_region}) & overlapping \
                and inserted_region != "all":
            continue
        for mech in names:
            if mech == owner or (owner.endswith("_ion")
                                 and owner[:-4] in mechset.mechanisms[mech].ions):
                return True
    return False


def _read_rxd(top: Section, cell, protocols, problems):
    """The ``rxd:`` section, and the protocols with their rxd recordings' regions filled in."""
    from cellsweep.cells import rxd_config

    region_names = set(S.BASE_REGIONS) | {r.name for r in cell.regions}
    rxd = rxd_config.read_rxd(top.section("rxd"), region_names)
    protocols = tuple(dataclasses.replace(p, recordings=tuple(
        rxd_config.recording_region(r, rxd) if r.species else r for r in p.recordings))
        for p in protocols)
    for path, message in rxd_config.recording_problems(protocols, rxd):
        problems.add(path, message)
    return rxd, protocols


def _resolve_any(name: str, cell, mechset, protocols, rxd):
    """``rxd.*`` names in the rxd section, every other name by ``resolve_parameter``."""
    if name.startswith("rxd."):
        from cellsweep.cells.rxd_config import resolve

        return resolve(name, rxd)
    return resolve_parameter(name, cell, mechset, protocols)


def _read_parameters(sec: Section, cell, mechset, protocols, problems, extra,
                     simulation, rxd=None) -> tuple:
    params = []
    seen = set()
    for group in ("fixed", "free"):
        g = sec.section(group)
        for name, value in g.items():
            path = g.key_path(name)
            if not isinstance(name, str):
                problems.add(path, f"expected a parameter name, found {quote(name)}")
                continue
            resolved = _resolve_any(name, cell, mechset, protocols, rxd)
            if isinstance(resolved, str):
                problems.add(path, resolved)
                continue
            if name in seen:
                problems.add(path, "declared twice (under both fixed and free)")
                continue
            seen.add(name)
            param = _read_value(group, value, path, resolved, cell, problems)
            if param is not None:
                params.append(param)
    paths = extra if isinstance(extra, dict) else {name: name for name in extra}
    for name, where in paths.items():
        if name in seen:
            continue
        resolved = _resolve_any(name, cell, mechset, protocols, rxd)
        if isinstance(resolved, str):
            problems.add(where, resolved)
            continue
        seen.add(name)
        params.append(_with_current_default(resolved, cell, protocols, simulation))
    return tuple(sorted(params, key=lambda p: _application_rank(p, cell)))


def _with_current_default(param: S.Parameter, cell, protocols, simulation) -> S.Parameter:
    """An undeclared parameter defaults to what the model uses without it, where that is known
    without NEURON (range variables keep None: they must be given a value when evaluated)."""
    from dataclasses import replace

    value = None
    if param.kind == "protocol":
        protocol = next(p for p in protocols if p.name == param.region)
        value = next(s for s in protocol.stimuli if s.name == param.target).value(param.variable)
    elif param.kind == "sim":
        value = float(getattr(simulation, param.variable))
    elif param.kind == "nseg" and not param.region:
        value = float(getattr(cell.discretisation, param.variable))
    elif param.kind == "global" and param.variable in S.GLOBAL_DEFAULTS:
        value = S.GLOBAL_DEFAULTS[param.variable]
    elif param.kind == "rxd":
        value = param.value
    elif param.kind == "coefficient":
        value = cell.distribution(param.region).coefficient(param.variable, None)
    return replace(param, value=value)


def _application_rank(param: S.Parameter, cell) -> int:
    """Broader regions first, so ``g_pas.apical`` overrides ``g_pas.all`` whatever the file order."""
    if param.kind == "geometry":        # broader first here too; a section last
        return 3 if param.target else 1 if param.region == "all" else 2
    if param.kind != "range":
        return 0
    if param.region == "all":
        return 1
    return 2 if param.region in S.BASE_REGIONS else 3


def _read_value(group, value, path, param: S.Parameter, cell, problems) -> S.Parameter | None:
    from dataclasses import replace

    if group == "fixed" and not isinstance(value, dict):
        v = check_number(value, path, problems)
        return None if v is None or not _value_ok(param, v, path, problems) \
            else replace(param, value=v)
    sec = Section(value, path, problems)
    dist = sec.string("distribution", "")
    if dist and param.kind != "range":
        sec.error("distribution", "a distribution applies to range variables only")
    elif dist and cell.distribution(dist) is None:
        names = [d.name for d in cell.distributions]
        sec.error("distribution", f"unknown distribution {quote(dist)}; expected one of "
                                  f"{', '.join(names) or '(none defined under cell.distributions)'}"
                  + did_you_mean(dist, names))
    if group == "fixed":
        v = sec.number("value")
        sec.finish()
        if v is not None and not _value_ok(param, v, f"{path}.value", problems):
            return None
        return replace(param, value=v, distribution=dist or "")
    low, high = sec.number("low"), sec.number("high")
    log = sec.boolean("log", False)
    default = sec.number("default", None)
    sec.finish()
    if low is None or high is None or not check_bounds(low, high, log, path, problems):
        return None
    if not (_value_ok(param, low, f"{path}.low", problems)
            & _value_ok(param, high, f"{path}.high", problems)):
        return None
    if default is None:
        default = math.sqrt(low * high) if log else (low + high) / 2
    elif not low <= default <= high:
        problems.add(f"{path}.default", f"expected a value within [{low:g}, {high:g}], found {default:g}")
    return replace(param, value=default, low=low, high=high, log=log, distribution=dist or "")


def _value_ok(param: S.Parameter, value: float, path: str, problems) -> bool:
    problem = value_problem(param, value)
    if problem:
        problems.add(path, problem)
    return not problem


# -- simulation, features, scoring -------------------------------------------------------------
def _read_simulation(sec: Section) -> S.Simulation:
    sim = S.Simulation(cvode=sec.boolean("cvode", True), atol=sec.number("atol", 1e-3, gt=0),
                       rtol=sec.number("rtol", 0.0, ge=0), dt_ms=sec.number("dt_ms", 0.025, gt=0))
    sec.finish()
    return sim


def _read_scoring(sec: Section) -> S.Scoring:
    scoring = S.Scoring(missing_penalty=sec.number("missing_penalty", 250.0, ge=0),
                        max_score=sec.number("max_score", None, gt=0))
    sec.finish()
    return scoring


_efel_names = None


def efel_feature_names() -> list[str]:
    global _efel_names
    if _efel_names is None:
        import efel

        _efel_names = sorted(efel.get_feature_names())
    return _efel_names


def efel_setting_names() -> dict:
    import dataclasses

    import efel

    return {f.name: f.type for f in dataclasses.fields(efel.Settings)}


def _setting_problem(value, wanted: type) -> str:
    """An eFEL setting's value against the type eFEL declares for it ("" if it fits)."""
    if wanted is bool:
        return "" if isinstance(value, bool) else f"expected true or false, found {value!r}"
    if wanted is str:
        return "" if isinstance(value, str) else f"expected a string, found {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"expected a number, found {type_name(value)} {str(value)[:60]!r}"
    if not math.isfinite(value):
        return f"expected a finite number, found {value!r}"
    if wanted is int and value != int(value):
        return f"expected a whole number, found {value!r}"
    return ""


def _read_features(top: Section, protocols, problems, profile: dict, region_names) -> tuple:
    """eFEL features and profile measures -> (features, the experiments the measures need)."""
    out, names, experiments = [], set(), {}
    entries = top.sequence("features", [])
    known = efel_feature_names()
    settings_types = efel_setting_names()
    written = top.raw("protocols", None)
    declared = set(written) if isinstance(written, dict) else set()
    for i, entry in enumerate(entries):
        f = Section(entry, f"features[{i}]", problems)
        if isinstance(entry, dict) and "profile" in entry:
            if "efel" in entry:
                f.error("efel", "a feature is either an eFEL feature or a profile measure")
            measured, exp = profile_feature(f, profile, region_names)
            for feature in measured:
                if feature.name in names:
                    f.error("name", f"feature name {quote(feature.name)} is used twice; give "
                                    "one of them a distinct 'name'")
                names.add(feature.name)
            f.finish()
            if exp is not None:
                experiments.setdefault(exp.name, exp)
                out.extend(measured)
            continue
        if isinstance(entry, dict) and "trace" in entry:
            from cellsweep.cells.trace_features import read_trace_feature

            feature = read_trace_feature(f, protocols, names, declared)
            if feature is not None:
                out.append(feature)
            continue
        protocol, proto_name, recording = protocol_and_recording(f, protocols, declared)
        efel_name = f.string("efel")
        if efel_name and efel_name not in known:
            f.error("efel", f"unknown eFEL feature {quote(efel_name)}" + did_you_mean(efel_name, known)
                    + " (the full list: efel.get_feature_names())")
        mean = f.number("mean")
        std = f.number("std", gt=0)
        settings = []
        threshold = f.number("threshold_mV", None)
        if threshold is not None:
            settings.append(("Threshold", threshold))
        interp = f.number("interp_step_ms", None, gt=0)
        if interp is not None:
            settings.append(("interp_step", interp))
        s = f.section("settings")
        for key, value in s.items():
            if key not in settings_types:
                s.error(key, "unknown eFEL setting" + did_you_mean(key, list(settings_types)))
            else:
                problem = _setting_problem(value, settings_types[key])
                if problem:
                    s.error(key, problem)
                else:
                    settings.append((key, value))
        window = f.raw("window_ms", None)
        window = protocol.window_ms if protocol and window is None else \
            (0.0, 1.0) if window is None else read_window(window, f.key_path("window_ms"), problems)
        if window is not None and protocol is not None and window[1] > protocol.tstop_ms:
            f.error("window_ms", f"window end {window[1]:g} ms is after the end of protocol "
                                 f"{quote(proto_name)} ({protocol.tstop_ms:g} ms)")
        current = f.number("stimulus_current_nA", None)
        if current is None and protocol is not None:
            current = protocol.stimulus_current_nA
        weight = f.number("weight", 1.0, ge=0)
        name = f.string("name", None) or f"{proto_name}.{recording}.{efel_name}"
        if name in names:
            f.error("name", f"feature name {quote(name)} is used twice; give one of them a distinct "
                            "'name'")
        names.add(name)
        f.finish()
        if None not in (proto_name, efel_name, mean, std, window) and protocol is not None:
            out.append(S.Feature(name=name, protocol=proto_name, recording=recording,
                                 efel=efel_name, mean=mean, std=std,
                                 window_ms=(float(window[0]), float(window[1])),
                                 settings=tuple(settings), stimulus_current_nA=current,
                                 weight=weight))
    return tuple(out), with_points(experiments, out)
