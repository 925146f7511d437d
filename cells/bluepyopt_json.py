"""BluePyOpt's L5PC-example JSON files, converted into a cellsweep config mapping.

A config whose top level has a ``bluepyopt:`` section names the four JSON files of BluePyOpt's
L5PC example (``parameters.json``, ``mechanisms.json``, ``protocols.json``, ``features.json``),
a morphology and a folder of ``.mod`` files. ``convert`` turns them into our YAML structure with
the meaning that BluePyOpt's own example code (``examples/l5pc/l5pc_model.py`` and
``l5pc_evaluator.py``) gives them:

- parameters: ``<param_name>.<sectionlist>`` (globals: ``<param_name>``); ``value`` -> fixed (it
  wins over ``bounds``), ``bounds`` -> free; ``dist_type: exp`` -> an ``expression``
  distribution holding BluePyOpt's formula text, evaluated at the path distance from soma[0](0.5).
- mechanisms: each suffix inserted in its section list.
- morphology: nseg = 1 + 2*int(L/40) for every section (``discretisation.rule: length``), set
  before the axon is replaced by BluePyOpt's 60 µm stub (on by default, as in the example).
- protocols: the first stimulus is the step and every other one a holding current, all square
  pulses at soma[0](0.5); the protocol lasts the longest ``totduration``; recordings are
  ``soma`` plus each ``somadistance`` extra recording on its section list.
- features: window [delay, delay + duration] of the first stimulus, except protocol ``bAP``,
  whose window ends at the first stimulus's ``totduration``; threshold -20 mV at ``soma`` and
  -55 mV at locations whose name contains ``dend``; a missing feature scores 250.
- simulation: CVode on (``bluepyopt.cvode``), NEURON's default tolerances; ``celsius``/``v_init``
  are NEURON's defaults unless parameters.json sets them.

Every problem found in the JSON files is reported with the file and the key path inside it;
problems that our config validation finds in the converted mapping (an unknown eFEL feature, a
RANGE variable of a mechanism not inserted there, ...) are pointed back at the JSON key they
came from.
"""

from __future__ import annotations

import json
from pathlib import Path

from cellsweep.cells import spec as S
from cellsweep.cells.config import display_path, model_from_dict
from cellsweep.cells.errors import ConfigError, Problem, MechanismError
from cellsweep.cells.mechanisms import read_mechanism_set
from cellsweep.cells.schema import (Problems, Section, check_number, did_you_mean, join_path, quote,
                                    type_name)

FILES = ("parameters", "mechanisms", "protocols", "features")
PASSED_THROUGH = ("sweep", "optimise", "run", "targets")
SET_HERE = ("cell", "protocols", "features", "scoring", "simulation")
PARAMETER_TYPES = ("global", "section", "range")
DIST_TYPES = ("uniform", "exp")
SOMA_THRESHOLD_MV = -20.0       # l5pc_evaluator.define_fitness_calculator
DEND_THRESHOLD_MV = -55.0
BAP_PROTOCOL = "bAP"            # the one protocol whose feature window ends at totduration
AXON_STUB_LENGTH_UM = 60.0      # NrnFileMorphology defaults
AXON_NSEG_FREQUENCY_UM = 40.0
MAX_SCORE = 250.0               # eFELFeature(max_score=250)
# keys BluePyOpt's readers accept but do not use for a NEURON simulation
IGNORED_PARAMETER_KEYS = ("mech", "mech_param")
IGNORED_RECORDING_KEYS = ("arbor_branch_index", "arbor_branch_index_with_replaced_axon")


def convert(data: dict, source: str, base_dir) -> dict:
    """Return the config mapping (our YAML structure) described by a ``bluepyopt:`` section.

    Raises ConfigError listing every problem, each with its file and key path.
    """
    base_dir = Path(base_dir)
    problems = Problems(source)
    top = Section(data, "", problems)
    top.known.update(PASSED_THROUGH)
    for key in SET_HERE:
        if key in data:
            top.known.add(key)
            top.error(key, f"cannot be combined with 'bluepyopt' (the JSON files define the "
                           f"model, and the converted config sets {key!r}); remove it")
    options = _read_options(top.section("bluepyopt", required=True), base_dir)
    top.finish()
    problems.raise_if_any()

    origins: dict = {}
    converter = _Converter(options, source, origins)
    texts = {key: converter.load(key) for key in FILES}
    mechset_problems = Problems(source)
    insert = converter.mechanisms(texts["mechanisms"], mechset_problems)
    fixed, free, distributions = converter.parameters(texts["parameters"])
    protocols, protocol_info = converter.protocols(texts["protocols"])
    features = converter.features(texts["features"], protocol_info)
    found = problems.items + mechset_problems.items + converter.problem_list()
    if found:
        raise ConfigError(found)

    cell = {"morphology": options["morphology"],
            "axon": {"replace": options["replace_axon"], "stub_length_um": AXON_STUB_LENGTH_UM,
                     "nseg_frequency_um": AXON_NSEG_FREQUENCY_UM},
            "discretisation": _discretisation(options),
            "insert": insert, "distributions": distributions, "fixed": fixed, "free": free}
    if options["name"] is not None:
        cell = {"name": options["name"], **cell}
    if options["mechanisms_dir"] is not None:
        cell["mechanisms_dir"] = options["mechanisms_dir"]
    out = {"cell": cell, "simulation": {"cvode": options["cvode"]}, "protocols": protocols,
           "features": features, "scoring": {"missing_penalty": MAX_SCORE}}
    out.update({key: data[key] for key in PASSED_THROUGH if key in data})
    for key, option in (("cell.morphology", "morphology"), ("cell.name", "name"),
                        ("cell.mechanisms_dir", "mechanisms_dir"),
                        ("cell.discretisation", "nseg_frequency_um"), ("simulation", "cvode")):
        origins[key] = (source, f"bluepyopt.{option}")
    try:
        model_from_dict(out, source=source, base_dir=base_dir)
    except ConfigError as exc:
        raise ConfigError([_point_back(p, source, origins) for p in exc.details]) from None
    return out


def _read_options(sec: Section, base_dir: Path) -> dict:
    options = {key: sec.string(key) for key in FILES}
    options["morphology"] = sec.string("morphology")
    options["mechanisms_dir"] = sec.string("mechanisms_dir", None)
    options["name"] = sec.string("name", None)
    options["replace_axon"] = sec.boolean("replace_axon", True)
    options["nseg_frequency_um"] = sec.number("nseg_frequency_um", 40.0, gt=0)
    options["cvode"] = sec.boolean("cvode", True)
    options["base_dir"] = base_dir
    options["mechanisms_dir_ok"] = True
    if options["mechanisms_dir"] and not (base_dir / options["mechanisms_dir"]).is_dir():
        sec.error("mechanisms_dir", "directory not found: "
                                    f"{display_path(base_dir / options['mechanisms_dir'])}")
        options["mechanisms_dir_ok"] = False
    sec.finish()
    return options


def _discretisation(options: dict) -> dict:
    """BluePyOpt's length rule; the axon stub keeps its own frequency, as BluePyOpt does."""
    frequency = options["nseg_frequency_um"]
    out = {"rule": "length", "length_um": frequency}
    stub = AXON_STUB_LENGTH_UM / 2
    stub_nseg = 1 + 2 * int(stub / AXON_NSEG_FREQUENCY_UM)
    if options["replace_axon"] and stub_nseg != 1 + 2 * int(stub / frequency):
        out["nseg"] = {"axonal": stub_nseg}
    return out


def _point_back(problem: Problem, source: str, origins: dict) -> Problem:
    """A problem at a key of the converted mapping, pointed back at the JSON file and key it
    came from (``origins``: converted key path -> (file, key path there))."""
    if problem.source != source:
        return problem
    best = None
    for key in origins:
        path = problem.path
        if path.startswith(key) and (len(path) == len(key) or path[len(key)] in ".["):
            if best is None or len(key) > len(best):
                best = key
    if best is None:
        return problem
    file, path = origins[best]
    return Problem(file, path, problem.message, problem.suggestion)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class _Converter:
    """Reads the four JSON files, each with its own ``Problems`` so messages name the file."""

    def __init__(self, options: dict, source: str, origins: dict):
        self.options = options
        self.source = source
        self.origins = origins
        self.labels: dict = {}
        self.problems: dict = {}

    def problem_list(self) -> list:
        return [item for p in self.problems.values() for item in p.items]

    def load(self, key: str):
        """The parsed JSON of file ``key``, or None after reporting why it cannot be read."""
        name = self.options[key]
        if name is None:
            return None
        path = self.options["base_dir"] / name
        label = self.labels[key] = display_path(path)
        problems = self.problems[key] = Problems(label)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            problems.add("", f"file not found (named by bluepyopt.{key} in {self.source})")
            return None
        except (OSError, UnicodeDecodeError) as exc:
            problems.add("", f"cannot read the file ({exc})")
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            problems.items.append(Problem(f"{label}:{exc.lineno}", "",
                                          f"invalid JSON: {exc.msg} (column {exc.colno})"))
            return None

    def _origin(self, converted: str, key: str, path: str) -> None:
        self.origins[converted] = (self.labels[key], path)

    # -- mechanisms.json ---------------------------------------------------------------------
    def mechanisms(self, data, mech_problems: Problems) -> dict:
        """``{sectionlist: [suffix, ...]}`` -> ``cell.insert``; every suffix must exist."""
        if data is None:
            return {}
        problems = self.problems["mechanisms"]
        if not isinstance(data, dict):
            problems.add("", "expected a mapping of section list to a list of mechanism "
                             f"suffixes, found {type_name(data)}")
            return {}
        insert, uses = {}, {}
        for region, names in data.items():
            path = join_path("", region)
            if region not in S.BASE_REGIONS:
                problems.add(path, f"unknown section list {quote(region)}; expected one of "
                                   f"{', '.join(S.BASE_REGIONS)}"
                             + did_you_mean(region, S.BASE_REGIONS))
                continue
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                problems.add(path, f"expected a list of mechanism suffixes, found {quote(names)}")
                continue
            insert[region] = list(names)
            self._origin(join_path("cell.insert", region), "mechanisms", path)
            for j, name in enumerate(names):
                uses.setdefault(name, []).append(f"{path}[{j}]")
                self._origin(f"{join_path('cell.insert', region)}[{j}]", "mechanisms",
                             f"{path}[{j}]")
        self._check_mechanisms(uses, problems, mech_problems)
        return insert

    def _check_mechanisms(self, uses: dict, problems: Problems, mech_problems: Problems):
        directory = self.options["mechanisms_dir"]
        folder = self.options["base_dir"] / directory if directory else None
        if folder is not None and not self.options["mechanisms_dir_ok"]:
            return                                   # reported with bluepyopt.mechanisms_dir
        try:
            mechset = read_mechanism_set(folder)
        except MechanismError as exc:
            mech_problems.add("bluepyopt.mechanisms_dir", str(exc))
            return
        density = mechset.density()
        missing = []
        for name, paths in uses.items():
            where = ", ".join(paths)
            if "Stoch" in name:
                problems.add(where, f"mechanism {quote(name)}: BluePyOpt sets deterministic_{name} and "
                                    "per-segment random seeds on mechanisms whose suffix contains "
                                    "'Stoch'; cellsweep has no config key for that yet")
            elif name in mechset.mechanisms and name not in density:
                problems.add(where, f"{quote(name)} is a point process; mechanisms.json inserts "
                                    "density mechanisms (SUFFIX) only")
            elif name not in density:
                missing.append(name)
                hint = (f"no .mod file in {display_path(folder)} has SUFFIX {name}" if folder
                        else "not a NEURON built-in, and bluepyopt.mechanisms_dir is not set")
                problems.add(where, f"unknown mechanism {quote(name)} ({hint})"
                             + did_you_mean(name, sorted(density)))
        if missing and folder is None:
            mech_problems.add("bluepyopt.mechanisms_dir",
                              f"not set, so only NEURON's built-in mechanisms "
                              f"({', '.join(sorted(density))}) exist; set it to the folder of the "
                              f".mod files defining {', '.join(missing)}")

    # -- parameters.json ---------------------------------------------------------------------
    def parameters(self, data) -> tuple[dict, dict, dict]:
        """The parameter objects -> ``cell.fixed``, ``cell.free``, ``cell.distributions``."""
        fixed, free, distributions = {}, {}, {}
        if data is None:
            return fixed, free, distributions
        problems = self.problems["parameters"]
        if not isinstance(data, list):
            problems.add("", f"expected a list of parameter objects, found {type_name(data)}")
            return fixed, free, distributions
        first: dict = {}          # name -> index
        placed: dict = {}         # variable -> [(sectionlist, index)] in file order
        formulas: dict = {}       # formula text -> distribution name
        for i, entry in enumerate(data):
            p = Section(entry, f"[{i}]", problems)
            variable = p.string("param_name")
            kind = p.string("type", choices=PARAMETER_TYPES)
            for key in IGNORED_PARAMETER_KEYS:
                p.raw(key)
            value, bounds = self._value_or_bounds(p)
            name, region, formula = variable, None, None
            if kind != "section" and kind != "range":   # unused for globals; unknown type
                p.known.update(("sectionlist", "dist_type", "dist"))  # already reported
            else:
                region = p.string("sectionlist", choices=S.BASE_REGIONS)
                dist_type = p.string("dist_type", choices=DIST_TYPES)
                if dist_type == "exp":
                    formula = p.string("dist")
                    if kind == "section":
                        p.error("dist_type", "'exp' needs type 'range': BluePyOpt's section "
                                             "parameters take one value per section")
                else:
                    p.raw("dist")                  # ignored by BluePyOpt for uniform
                name = f"{variable}.{region}"
            p.finish()
            if variable is None or kind is None or (kind != "global" and region is None) \
                    or (value is None and bounds is None):
                continue
            if name in first:
                problems.add(f"[{i}]", f"parameter {quote(name)} is defined again (first at "
                                       f"[{first[name]}]); BluePyOpt would silently keep only "
                                       "this later definition; remove one of them")
                continue
            first[name] = i
            if kind != "global" and not self._order_ok(variable, region, i, placed, problems):
                continue
            entry_out = {}
            if formula is not None:
                dist_name = formulas.setdefault(formula, name)
                if dist_name == name:
                    distributions[name] = {"kind": "expression", "expression": formula}
                    self._origin(join_path("cell.distributions", name), "parameters", f"[{i}].dist")
                entry_out["distribution"] = dist_name
            group = "fixed" if value is not None else "free"
            if value is not None:
                fixed[name] = {"value": value, **entry_out} if entry_out else value
            else:
                free[name] = {"low": bounds[0], "high": bounds[1], **entry_out}
            self._origin(join_path(f"cell.{group}", name), "parameters", f"[{i}] ({name})")
        return fixed, free, distributions

    @staticmethod
    def _value_or_bounds(p: Section):
        """BluePyOpt: ``value`` makes a parameter frozen (bounds then ignored), else ``bounds``."""
        if p.has("value"):
            p.known.add("bounds")
            return p.number("value"), None
        if p.has("bounds"):
            bounds = p.raw("bounds")
            if not (isinstance(bounds, list) and len(bounds) == 2
                    and all(_is_number(b) for b in bounds)):
                p.error("bounds", f"expected [low, high], found {bounds!r}")
                return None, None
            low = check_number(bounds[0], p.key_path("bounds") + "[0]", p.problems)
            high = check_number(bounds[1], p.key_path("bounds") + "[1]", p.problems)
            return None, (None if None in (low, high) else (low, high))
        p.error(None, "needs 'value' (a fixed parameter) or 'bounds' (a free one)")
        return None, None

    @staticmethod
    def _order_ok(variable, region, i, placed, problems) -> bool:
        """Our config applies ``<variable>.all`` before region parameters whatever the order;
        BluePyOpt applies them in file order, so a later .all would win there."""
        earlier = placed.setdefault(variable, [])
        if region == "all":
            specific = [(r, j) for r, j in earlier if r != "all"]
            if specific:
                r, j = specific[0]
                problems.add(f"[{i}]", f"{variable}.all comes after {variable}.{r} ([{j}]), so "
                                       f"BluePyOpt sets it over the {r} sections too; cellsweep "
                                       "applies .all parameters before section-list ones, so this "
                                       f"order cannot be reproduced; move this entry before [{j}]")
                return False
        earlier.append((region, i))
        return True

    # -- protocols.json ----------------------------------------------------------------------
    def protocols(self, data) -> tuple[dict, dict]:
        """Protocols in our structure, and per protocol the first stimulus and the recordings'
        variables (for the features)."""
        out, info = {}, {}
        if data is None:
            return out, info
        problems = self.problems["protocols"]
        if not isinstance(data, dict):
            problems.add("", f"expected a mapping of protocol name to protocol, found "
                             f"{type_name(data)}")
            return out, info
        for name, definition in data.items():
            ppath = join_path("", name)
            p = Section(definition, ppath, problems)
            stimuli = p.sequence("stimuli")
            extra = p.sequence("extra_recordings", [])
            p.finish()
            if not stimuli:
                if p.has("stimuli") and isinstance(p.data.get("stimuli"), list):
                    p.error("stimuli", "needs at least one stimulus (the first one is the step)")
                continue
            steps = [self._stimulus(s, f"{p.key_path('stimuli')}[{k}]", problems)
                     for k, s in enumerate(stimuli)]
            recordings = self._recordings(extra, p.key_path("extra_recordings"), name, problems)
            if None in steps or recordings is None:
                continue
            tstop = max(s["totduration"] for s in steps)
            ok = True
            for k, s in enumerate(steps):
                if s["delay"] + s["duration"] > tstop:
                    problems.add(f"{p.key_path('stimuli')}[{k}]",
                                 f"delay + duration = {s['delay'] + s['duration']:g} ms ends after "
                                 f"the protocol (the largest totduration, {tstop:g} ms); cellsweep "
                                 "does not cut stimuli at the end of a protocol")
                    ok = False
            if not ok:
                continue
            conv = join_path("protocols", name)
            self._origin(conv, "protocols", ppath)
            stim_out = {}
            for k, s in enumerate(steps):
                sname = "step" if k == 0 else "holding" if k == 1 else f"holding_{k}"
                stim_out[sname] = {"kind": "step", "amp_nA": s["amp"], "delay_ms": s["delay"],
                                   "duration_ms": s["duration"]}
                self._origin(f"{conv}.stimuli.{sname}", "protocols",
                             f"{p.key_path('stimuli')}[{k}]")
            out[name] = {"tstop_ms": tstop, "stimuli": stim_out,
                         "recordings": {rname: r["config"] for rname, r in recordings.items()}}
            info[name] = {"step": steps[0],
                          "variables": {rname: r["var"] for rname, r in recordings.items()}}
        return out, info

    @staticmethod
    def _stimulus(value, path: str, problems: Problems):
        s = Section(value, path, problems)
        out = {"amp": s.number("amp"), "delay": s.number("delay", ge=0),
               "duration": s.number("duration", gt=0), "totduration": s.number("totduration", gt=0)}
        s.finish()
        return None if None in out.values() else out

    def _recordings(self, extra: list, path: str, protocol: str, problems: Problems):
        """``soma`` (every protocol has it) plus the ``somadistance`` extra recordings."""
        recordings = {"soma": {"config": "soma", "var": "v"}}
        ok = True
        for k, value in enumerate(extra):
            rpath = f"{path}[{k}]"
            r = Section(value, rpath, problems)
            kind = r.string("type")
            rname = r.string("name")
            region = r.string("seclist_name", choices=S.BASE_REGIONS)
            distance = r.number("somadistance", ge=0)
            variable = r.string("var")
            for key in IGNORED_RECORDING_KEYS:
                r.raw(key)                          # used by BluePyOpt's Arbor export only
            r.finish()
            if kind is not None and kind != "somadistance":
                r.error("type", f"recording type {kind!r} is not supported; BluePyOpt's L5PC "
                                "example reads only 'somadistance'")
                ok = False
            if rname in recordings:
                r.error("name", f"recording name {rname!r} is used twice in protocol "
                                f"{protocol!r} ('soma' is the somatic recording every "
                                "protocol has)")
                ok = False
            if None in (kind, rname, region, distance, variable) or not ok:
                ok = False
                continue
            recordings[rname] = {"config": {"location": {"region": region, "distance_um": distance},
                                            "variable": variable}, "var": variable}
            conv = f"{join_path('protocols', protocol)}.recordings.{rname}"
            self._origin(conv, "protocols", rpath)
            self._origin(f"{conv}.location.region", "protocols", f"{rpath}.seclist_name")
            self._origin(f"{conv}.location.distance_um", "protocols", f"{rpath}.somadistance")
            self._origin(f"{conv}.variable", "protocols", f"{rpath}.var")
        return recordings if ok else None

    # -- features.json -----------------------------------------------------------------------
    def features(self, data, protocols: dict) -> list:
        """``{protocol: {location: {efel_name: [mean, std]}}}`` -> the ``features`` list."""
        out = []
        if data is None:
            return out
        problems = self.problems["features"]
        if not isinstance(data, dict):
            problems.add("", f"expected a mapping of protocol -> location -> eFEL feature -> "
                             f"[mean, std], found {type_name(data)}")
            return out
        protocols_readable = "protocols" in self.problems and not self.problems["protocols"].items
        for pname, locations in data.items():
            ppath = join_path("", pname)
            info = protocols.get(pname)
            if info is None:
                if protocols_readable:
                    problems.add(ppath, f"unknown protocol {pname!r}; protocols.json defines "
                                        f"{', '.join(protocols) or 'none'}"
                                 + did_you_mean(pname, list(protocols)))
                continue
            if not isinstance(locations, dict):
                problems.add(ppath, f"expected a mapping of location to features, found "
                                    f"{type_name(locations)}")
                continue
            for location, feats in locations.items():
                lpath = join_path(ppath, location)
                threshold = _threshold(location)
                if threshold is None:
                    problems.add(lpath, f"location {location!r}: BluePyOpt's L5PC example sets "
                                        "a spike threshold only for 'soma' "
                                        f"({SOMA_THRESHOLD_MV:g} mV) and locations containing "
                                        f"'dend' ({DEND_THRESHOLD_MV:g} mV)")
                    continue
                variable = info["variables"].get(location)
                if variable is not None and variable != "v":
                    problems.add(lpath, f"recording {location!r} records {variable!r}; "
                                        f"BluePyOpt's features read '{pname}.{location}.v', so "
                                        "they need var 'v'")
                    continue
                if not isinstance(feats, dict):
                    problems.add(lpath, f"expected a mapping of eFEL feature name to [mean, std], "
                                        f"found {type_name(feats)}")
                    continue
                for efel_name, stats in feats.items():
                    fpath = join_path(lpath, efel_name)
                    if not (isinstance(stats, list) and len(stats) == 2
                            and all(_is_number(v) for v in stats)):
                        problems.add(fpath, f"expected [mean, std], found {stats!r}")
                        continue
                    step = info["step"]
                    end = step["totduration"] if pname == BAP_PROTOCOL \
                        else step["delay"] + step["duration"]
                    conv = f"features[{len(out)}]"
                    self._origin(conv, "features", fpath)
                    self._origin(f"{conv}.recording", "features", lpath)
                    self._origin(f"{conv}.std", "features", f"{fpath}[1]")
                    out.append({"protocol": pname, "recording": location, "efel": efel_name,
                                "mean": stats[0], "std": stats[1], "threshold_mV": threshold,
                                "window_ms": [step["delay"], end]})
        return out


def _threshold(location: str) -> float | None:
    if location == "soma":
        return SOMA_THRESHOLD_MV
    if "dend" in location:
        return DEND_THRESHOLD_MV
    return None
