"""A DendroTweaks model folder read as a cellsweep config mapping.

``cell: {dendrotweaks: FOLDER, morphology: NAME, biophys: NAME, stimuli: NAME or [NAMES]}``
names a folder laid out as DendroTweaks 0.5 writes it (``morphology/NAME.swc``,
``biophys/NAME.json`` with ``biophys/mod/*.mod``, ``stimuli/NAME/config.json`` with
``iclamps.csv``, ``recordings.csv``, ``synapses.csv``). ``convert`` returns our YAML structure
with the meaning DendroTweaks' own loader (``Model.load_morphology``, ``load_biophys``,
``load_stimuli``, ``run``) gives the files; docs/DENDROTWEAKS.md says what is covered. The
``dendrotweaks`` package is never imported: its files are read here.

- domains -> built-in regions (soma -> somatic, axon -> axonal, dend -> basal, apic -> apical);
  ``domains`` -> ``cell.insert``; range variables are set only where their mechanism is
  (``cell.range_variables: where_inserted``, DendroTweaks' rule). ``Leak`` and ``CaDyn`` come
  from DendroTweaks' shared ``../Default/`` (as its ``load_biophys`` takes them), every other
  mechanism from ``biophys/mod``; when ``Default/`` is used, ``mechanisms_dir`` is a folder of
  both in cellsweep's cache (``mechanisms.gathered_dir``), else ``biophys/mod`` itself.
- groups -> regions: ``all`` and the one-domain groups named ``somatic``, ``axonal``,
  ``apical`` are the built-in regions of those names; every other group a segment group
  (``within: [...]``, ``select_by``, ``above`` = ``min_value``, ``up_to`` = ``max_value``).
- ``params.<param>.<group>`` -> parameter ``<param>.<group>``: the value itself for
  ``constant``/``uniform``; for the other functions a multiplier (1) of distribution
  ``<param>.<group>`` (kind ``dendrotweaks.<function>``), each of whose numbers is the parameter
  ``<param>.<group>.<number>``. Groups are applied in the file's order, as DendroTweaks does.
- ``d_lambda`` -> the d_lambda rule at 100 Hz (a stimuli folder's ``simulation.d_lambda`` wins,
  as in DendroTweaks); the simulation: fixed step ``dt``, ``temperature`` -> ``celsius``,
  ``v_init``, ``duration`` -> the protocol's ``tstop_ms``.
- a synapse population (``stimuli.populations`` with its rows of ``synapses.csv``) -> a
  ``synapses`` stimulus of ``Default/<syn_type>.mod`` synapses whose events (``spike_times_ms``,
  played by ``Default/vecstim.mod``'s VecStim) are drawn from the population's seed as
  DendroTweaks draws them (``cells.dendrotweaks_trains``); an unseeded population is refused.
- sections are numbered as DendroTweaks numbers them (depth first, children with fewer
  branch points first) and found by their points among the sections NEURON's Import3d makes.
"""

from __future__ import annotations

import csv
import json
import math
import re
from pathlib import Path

import numpy as np

from cellsweep.cells import dendrotweaks_distributions as DT
from cellsweep.cells import schema
from cellsweep.cells.config import HOC_RESERVED, display_path, model_from_dict
from cellsweep.cells.errors import ConfigError, MechanismError, MorphologyError, Problem
from cellsweep.cells.dendrotweaks_trains import population_trains
from cellsweep.cells.mechanisms import gathered_dir, mod_files, parse_mod
from cellsweep.cells.schema import Problems, Section, did_you_mean, join_path, quote, type_name

CELL_KEYS = ("dendrotweaks", "morphology", "biophys", "stimuli", "name", "fixed", "free")
SET_HERE = ("protocols", "simulation")
TYPE_DOMAIN = {1: "soma", 2: "axon", 3: "dend", 4: "apic"}
DOMAIN_REGION = {"soma": "somatic", "axon": "axonal", "dend": "basal", "apic": "apical"}
BUILT_IN_GROUPS = {"somatic": "soma", "axonal": "axon", "apical": "apic"}
SELECT_BY = ("distance", "domain_distance", "diam", "section_diam")
SECTION_PARAMS = ("cm", "Ra")
FREQUENCY_HZ = 100.0            # DendroTweaks' set_segmentation(f=100)
DEFAULT_MECHANISMS = ("Leak", "CaDyn")   # DendroTweaks takes them from ../Default
# DendroTweaks' synapse types (Default/<type>.mod) and the kinetic parameters it sets on each
SYNAPSE_KINETICS = {
    "AMPA": ("gmax", "tau_rise", "tau_decay", "e"),
    "NMDA": ("gmax", "tau_rise", "tau_decay", "e", "gamma", "mu"),
    "AMPA_NMDA": ("gmax_AMPA", "gmax_NMDA", "tau_rise_AMPA", "tau_decay_AMPA", "tau_rise_NMDA",
                  "tau_decay_NMDA", "e", "gamma", "mu"),
    "GABAa": ("gmax", "tau_rise", "tau_decay", "e"),
}
INPUT_DEFAULTS = {"rate": 1.0, "noise": 0.0, "start": 100.0, "end": 200.0, "weight": 1.0,
                  "delay": 0.0}                 # a Population's input_params before the file's


def config_text(folder, config_path, morphology=None, biophys=None, stimuli=None) -> str:
    """A cellsweep config reading ``folder`` (written at ``config_path``: the folder's path is
    relative to it), with the folder's parameters, protocols and recordings listed in comments;
    ConfigError when cellsweep cannot read the folder."""
    import os

    import yaml

    config_path = Path(config_path)
    cell = {"dendrotweaks": os.path.relpath(Path(folder).resolve(),
                                            config_path.parent.resolve())}
    for key, value in (("morphology", morphology), ("biophys", biophys), ("stimuli", stimuli)):
        if value:
            cell[key] = value
    folder = Path(folder).resolve()            # checked from the folder's parent: the config's
    check = {**cell, "dendrotweaks": folder.name}   # own folder may not exist yet
    out = convert({"cell": check}, source=display_path(config_path), base_dir=folder.parent)
    lines = ["# A DendroTweaks model folder read as a cellsweep model (docs/DENDROTWEAKS.md).",
             "# Add features, a sweep or optimise section, and cell.free bounds for the",
             "# parameters to vary.", yaml.safe_dump({"cell": cell}, sort_keys=False).rstrip(),
             "", "# Parameters (name: value in the folder):"]
    for name, value in out["cell"]["fixed"].items():
        value = value["value"] if isinstance(value, dict) else value
        lines.append(f"#   {name}: {value!r}")
    for name, protocol in out["protocols"].items():
        lines.append(f"# Protocol {name} ({protocol['tstop_ms']:g} ms): stimuli "
                     f"{', '.join(protocol['stimuli']) or 'none'}; recordings "
                     f"{', '.join(protocol['recordings'])}")
    return "\n".join(lines) + "\n"


def is_dendrotweaks(data) -> bool:
    return isinstance(data, dict) and isinstance(data.get("cell"), dict) \
        and "dendrotweaks" in data["cell"]


def convert(data: dict, source: str, base_dir) -> dict:
    """The config mapping (our YAML structure) of a ``cell: {dendrotweaks: ...}`` config.

    Raises ConfigError listing every problem, each with its file and key path.
    """
    base_dir = Path(base_dir)
    problems = Problems(source)
    for key in SET_HERE:
        if key in data:
            problems.add(key, f"cannot be combined with cell.dendrotweaks (the folder's stimuli "
                              f"define the {key}); remove it")
    options = _options(Section(data["cell"], "cell", problems), base_dir)
    problems.raise_if_any()
    reader = _Reader(options, source)
    with schema.not_config_keys():     # DendroTweaks' format (docs/DENDROTWEAKS.md)
        out = reader.read()
    found = problems.items + reader.problem_list()
    if found:
        raise ConfigError(found)
    out.update({k: v for k, v in data.items() if k not in ("cell",) + SET_HERE})
    _user_parameters(out, options, problems)
    _check_freed_order(out, reader.groups_order, problems)
    problems.raise_if_any()
    try:
        model_from_dict(out, source=source, base_dir=base_dir)
    except ConfigError as exc:
        raise ConfigError([reader.point_back(p) for p in exc.details]) from None
    return out


# -- the cell section -------------------------------------------------------------------------
def _options(sec: Section, base_dir: Path) -> dict:
    folder_text = sec.string("dendrotweaks")
    folder = base_dir / folder_text if folder_text else None
    if folder is not None and not folder.is_dir():
        sec.error("dendrotweaks", f"directory not found: {display_path(folder)}; expected a "
                                  "DendroTweaks model folder (morphology/, biophys/, stimuli/)")
        folder = None
    options = {"folder": folder, "folder_text": folder_text, "base_dir": base_dir}
    for key, sub, ext in (("morphology", "morphology", ".swc"), ("biophys", "biophys", ".json")):
        options[key] = _named_file(sec, key, folder, sub, ext)
    stimuli = sec.raw("stimuli", None)
    names = [stimuli] if isinstance(stimuli, str) else stimuli
    if names is None and folder is not None:
        found = sorted(p.name for p in (folder / "stimuli").glob("*") if p.is_dir()
                       and not p.name.startswith("_"))
        if len(found) != 1:
            sec.error("stimuli", f"not given, and {display_path(folder / 'stimuli')} has "
                                 f"{len(found)} stimuli folders ({', '.join(found) or 'none'}); "
                                 "expected the name of one (or a list)")
        names = found[:1] if len(found) == 1 else []
    if not (isinstance(names, list) and names and all(isinstance(n, str) for n in names)):
        if names:
            sec.error("stimuli", f"expected a stimuli folder name or a list of names, found "
                                 f"{quote(stimuli)}")
        names = []
    options["stimuli"] = []
    for i, name in enumerate(names):
        path = folder / "stimuli" / name if folder is not None else None
        if path is not None and not (path / "config.json").is_file():
            where = "stimuli" if isinstance(stimuli, str) else f"stimuli[{i}]"
            sec.problems.add(f"cell.{where}", f"{display_path(path / 'config.json')} not found; "
                                              "expected a DendroTweaks stimuli folder")
            continue
        options["stimuli"].append((name, path))
    name = sec.string("name", None)
    if name is None and folder is not None:
        name = re.sub(r"\W", "_", folder.resolve().name)
        if not name[:1].isalpha() or name in HOC_RESERVED:
            name = f"dt_{name}"
    options["name"] = name
    options["fixed"] = sec.raw("fixed", None)
    options["free"] = sec.raw("free", None)
    sec.finish()
    return options


def _named_file(sec: Section, key: str, folder, sub: str, ext: str):
    """``<folder>/<sub>/<NAME><ext>``: the name given, or the folder's only such file."""
    name = sec.string(key, None)
    if folder is None:
        return None
    where = folder / sub
    if name is None:
        found = sorted(p.stem for p in where.glob(f"*{ext}"))
        if len(found) != 1:
            sec.error(key, f"not given, and {display_path(where)} has {len(found)} {ext} files "
                           f"({', '.join(found) or 'none'}); expected the name of one")
            return None
        name = found[0]
    path = where / (name if name.endswith(ext) else name + ext)
    if not path.is_file():
        found = sorted(p.stem for p in where.glob(f"*{ext}"))
        sec.error(key, f"file not found: {display_path(path)}" + did_you_mean(name, found))
        return None
    return path


def _user_parameters(out: dict, options: dict, problems: Problems) -> None:
    """``cell.fixed`` / ``cell.free`` of the config: new values or bounds for the folder's
    parameters (a freed one keeps its place among the folder's; see ``_Reader._order``)."""
    fixed = out["cell"]["fixed"]
    free = out["cell"].setdefault("free", {})
    for group in ("fixed", "free"):
        given = options[group]
        if given is None:
            continue
        if not isinstance(given, dict):
            problems.add(f"cell.{group}", f"expected a mapping of parameter names, found "
                                          f"{type_name(given)}")
            continue
        for name, value in given.items():
            if name not in fixed and name not in free:
                known = list(fixed) + list(free)
                if _folder_parameter(name, out):
                    pass
                else:
                    problems.add(f"cell.{group}.{name}", "not a parameter of the DendroTweaks "
                                                         "folder" + did_you_mean(str(name), known))
                    continue
            previous = fixed.pop(name, None)
            free.pop(name, None)
            if group == "fixed":
                fixed[name] = value
            else:
                if isinstance(previous, dict) and "distribution" in previous \
                        and isinstance(value, dict):
                    value = {**value, "distribution": previous["distribution"]}
                free[name] = value
    if not free:
        del out["cell"]["free"]


def _check_freed_order(out: dict, groups_order: dict, problems: Problems) -> None:
    """cellsweep applies a variable's parameters on segment groups in the order they are
    declared, ``cell.fixed`` before ``cell.free``; freeing one must not change the file's order
    (where two groups overlap, the later one wins in DendroTweaks)."""
    declared = list(out["cell"]["fixed"]) + list(out["cell"].get("free", {}))
    for param, wanted in groups_order.items():
        got = [name for name in declared if name in wanted]
        if got != wanted:
            free = out["cell"].get("free", {})
            moved = next((n for n in wanted if n in free), got[0])
            problems.add(f"cell.free.{moved}",
                         f"cellsweep would apply the groups of {param} in the order "
                         f"{', '.join(got)} (cell.fixed before cell.free), DendroTweaks in "
                         f"{', '.join(wanted)}; free the later groups too, or none")


def _folder_parameter(name: str, out: dict) -> bool:
    """A distribution coefficient (``<param>.<group>.<number>``) or a protocol number."""
    dist, _, coefficient = str(name).rpartition(".")
    spec = out["cell"].get("distributions", {}).get(dist)
    if spec is not None:
        return coefficient in spec or (coefficient.startswith("coeffs_") and "coeffs" in spec)
    head = str(name).split(".")[0]
    return head in out.get("protocols", {})


# -- reading the folder -----------------------------------------------------------------------
class _Reader:
    def __init__(self, options: dict, source: str):
        self.options = options
        self.source = source
        self.problems: dict = {}
        self.origins: dict = {}
        self.groups_order: dict = {}     # param -> its parameters on segment groups, in order
        self.defaults: dict = {}         # Leak/CaDyn -> its file in ../Default (None: refused)

    def problems_of(self, path) -> Problems:
        label = display_path(path)
        return self.problems.setdefault(label, Problems(label))

    def problem_list(self) -> list:
        return [item for p in self.problems.values() for item in p.items]

    def point_back(self, problem: Problem) -> Problem:
        if problem.source != self.source:
            return problem
        best = max((k for k in self.origins if problem.path == k
                    or problem.path.startswith(k + ".") or problem.path.startswith(k + "[")),
                   key=len, default=None)
        if best is None:
            return problem
        file, path = self.origins[best]
        return Problem(file, path, problem.message, problem.suggestion)

    def read(self) -> dict:
        o = self.options
        morph = _Morphology(o["morphology"], self.problems_of(o["morphology"]))
        biophys = self._json(o["biophys"])
        cell = {"name": o["name"], "morphology": _relative(o["morphology"], o["base_dir"]),
                "mechanisms_dir": _relative(o["folder"] / "biophys" / "mod", o["base_dir"]),
                "range_variables": "where_inserted"}
        protocols, fixed, simulation, d_lambda = self._stimuli(morph)
        if biophys is not None and morph.ok:
            self._biophys(biophys, morph, cell, fixed, d_lambda)
        cell["fixed"] = {**cell.get("fixed", {}), **fixed}
        return {"cell": cell, "simulation": simulation, "protocols": protocols}

    def _json(self, path):
        problems = self.problems_of(path)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            problems.add("", f"cannot read the file ({exc})")
        except json.JSONDecodeError as exc:
            problems.items.append(Problem(f"{display_path(path)}:{exc.lineno}", "",
                                          f"invalid JSON: {exc.msg} (column {exc.colno})"))
        return None

    # -- biophys/NAME.json --------------------------------------------------------------------
    def _biophys(self, data, morph, cell: dict, fixed: dict, stimuli_d_lambda) -> None:
        path = self.options["biophys"]
        label = display_path(path)
        problems = self.problems_of(path)
        top = Section(data, "", problems)
        top.raw("metadata", None)
        d_lambda = top.number("d_lambda", 0.1, gt=0)
        domains = top.section("domains")
        groups_data = top.sequence("groups", [])
        params = top.section("params")
        top.finish()
        if stimuli_d_lambda is not None:
            d_lambda = stimuli_d_lambda
        cell["discretisation"] = {"rule": "d_lambda", "d_lambda": d_lambda,
                                  "frequency_hz": FREQUENCY_HZ}
        present = morph.domains
        insert, mechs_in = {}, {}
        mod_dir = self.options["folder"] / "biophys" / "mod"
        for domain, mechs in domains.items():
            if domain not in DOMAIN_REGION:
                domains.error(domain, f"domain {quote(domain)}: cellsweep knows only the domains "
                                      f"of SWC types 1-4 ({', '.join(DOMAIN_REGION)})")
                continue
            if not isinstance(mechs, list) or not all(isinstance(m, str) for m in mechs):
                domains.error(domain, f"expected a list of mechanism names, found {quote(mechs)}")
                continue
            if domain not in present:
                continue                   # DendroTweaks drops a domain without sections
            for j, mech in enumerate(mechs):
                where = f"domains.{domain}[{j}]"
                if mech in DEFAULT_MECHANISMS:
                    self._default_mechanism(mech, where, problems)
                elif not (mod_dir / f"{mech}.mod").is_file():
                    shared = self.options["folder"].parent / "Default" / f"{mech}.mod"
                    extra = (f" (DendroTweaks takes only {' and '.join(DEFAULT_MECHANISMS)} "
                             f"from {display_path(shared.parent)}; it reads {mech} from "
                             "biophys/mod)" if shared.is_file() else "")
                    problems.add(where, f"mechanism {quote(mech)}: "
                                 f"{display_path(mod_dir / (mech + '.mod'))} not found{extra}")
            insert.setdefault(DOMAIN_REGION[domain], []).extend(mechs)
            for mech in mechs:
                mechs_in.setdefault(mech, set()).add(domain)
            self.origins[f"cell.insert.{DOMAIN_REGION[domain]}"] = (label, f"domains.{domain}")
        if self.defaults:
            self._gather(mod_dir, cell)
        cell["insert"] = insert
        groups = self._groups(groups_data, present, problems, cell)
        self._params(params, groups, cell, fixed, problems, label)

    def _default_mechanism(self, mech: str, where: str, problems: Problems,
                           kind: str = "density", file: str = "") -> None:
        """``Leak``/``CaDyn`` (and a population's synapse type and ``VecStim``, from
        ``vecstim.mod``): DendroTweaks' ``load_biophys`` takes them from the shared
        ``Default/`` beside the folder (``<parent>/Default/<name>.mod``), never from
        ``biophys/mod``."""
        if mech in self.defaults:
            return                         # found, or reported at its first domain
        self.defaults[mech] = None
        file = file or f"{mech}.mod"
        shared = self.options["folder"].parent / "Default" / file
        if not shared.is_file():
            own = self.options["folder"] / "biophys" / "mod" / file
            problems.add(where, f"mechanism {quote(mech)}: DendroTweaks takes it from "
                                f"{display_path(shared)}, not found" + (
                                    f" (it never reads {display_path(own)})"
                                    if own.is_file() else "")
                         + "; copy DendroTweaks' own "
                           f"{file} there (the dendrotweaks package's biophys/default_mod/"
                           f"{file}, which DendroTweaks copies into an empty or missing "
                           "Default/ when it opens the folder)")
            return
        try:
            found = parse_mod(shared)
        except MechanismError as exc:
            problems.add(where, f"mechanism {quote(mech)}: {exc}")
            return
        if (found.name, found.kind) != (mech, kind) or \
                (kind == "point" and not found.receives_events):
            problems.add(where, f"mechanism {quote(mech)}: {display_path(shared)} defines the "
                                f"{found.kind} mechanism {quote(found.name)}; DendroTweaks inserts "
                                f"{mech} from that file")
            return
        self.defaults[mech] = shared

    def _gather(self, mod_dir: Path, cell: dict) -> None:
        """The model's one mechanisms folder: ``biophys/mod/*.mod`` and the ``Default/`` files
        its domains use, copied into cellsweep's cache (``mechanisms.gathered_dir``). A file of
        ``biophys/mod`` defining a mechanism taken from ``Default/`` is refused unless it is the
        same file (DendroTweaks would ignore it)."""
        shared = {path.name: path for path in self.defaults.values() if path is not None}
        files, ok = [], not self.problem_list() and len(shared) == len(self.defaults)
        for path in mod_files(mod_dir):
            try:
                mech = parse_mod(path)
            except MechanismError as exc:
                self.problems_of(path).add("", str(exc).removeprefix(f"{path}: "))
                ok = False
                continue
            other = self.defaults.get(mech.name) or shared.get(path.name)
            if other is None:
                files.append(path)
            elif path.name != other.name or path.read_bytes() != other.read_bytes():
                self.problems_of(path).add("", f"mechanism {quote(mech.name)} in {path.name}: "
                                               f"DendroTweaks inserts {other.stem} from "
                                               f"{display_path(other)} and never reads this "
                                               "file; remove it or make it equal to that one")
                ok = False
        if not ok:
            return
        try:
            gathered = gathered_dir(files + list(self.defaults.values()))
        except (OSError, MechanismError) as exc:
            self.problems_of(mod_dir).add("", f"cannot write the model's mechanisms folder into "
                                              f"cellsweep's cache ({exc}); set CELLSWEEP_CACHE "
                                              "to a writable folder")
            return
        cell["mechanisms_dir"] = str(gathered)
        self.origins["cell.mechanisms_dir"] = (display_path(mod_dir), "")

    def _groups(self, data: list, present: set, problems: Problems, cell: dict) -> dict:
        """group name -> cellsweep region name (None: a group cellsweep cannot express)."""
        out, regions = {}, {}
        for i, entry in enumerate(data):
            g = Section(entry, f"groups[{i}]", problems)
            name = g.string("name")
            domains = g.raw("domains", [])
            select_by = g.string("select_by", None)
            lo = g.number("min_value", None) if g.has("min_value") else None
            hi = g.number("max_value", None) if g.has("max_value") else None
            g.finish()
            if name is None:
                continue
            if not isinstance(domains, list) or not all(d in DOMAIN_REGION for d in domains):
                g.error("domains", f"expected a list of domains among {', '.join(DOMAIN_REGION)}, "
                                   f"found {quote(domains)}")
                out[name] = None
                continue
            if select_by is not None and select_by not in SELECT_BY:
                g.error("select_by", f"selector {quote(select_by)} is not supported by cellsweep; "
                                     f"expected one of {', '.join(SELECT_BY)}")
                out[name] = None
                continue
            kept = [d for d in domains if d in present]
            plain = select_by is None or (lo is None and hi is None)
            if plain and set(kept) == present and name == "all":
                out[name] = "all"
            elif plain and name in BUILT_IN_GROUPS and kept == [BUILT_IN_GROUPS[name]]:
                out[name] = name
            elif name in ("all", "somatic", "axonal", "basal", "apical", "myelinated"):
                g.error("name", f"group {quote(name)} is not cellsweep's built-in region of that "
                                "name (its domains or selector differ); rename the group")
                out[name] = None
            elif not kept:
                out[name] = ""             # no segment: DendroTweaks sets nothing there
            else:
                region = {"within": [DOMAIN_REGION[d] for d in kept]}
                if not plain:
                    region["select_by"] = select_by
                    if lo is not None:
                        region["above"] = lo
                    if hi is not None:
                        region["up_to"] = hi
                regions[name] = region
                out[name] = name
                self.origins[join_path("cell.regions", name)] = (problems.source, f"groups[{i}]")
        if regions:
            cell["regions"] = regions
        return out

    def _params(self, params: Section, groups: dict, cell: dict, fixed: dict,
                problems: Problems, label: str) -> None:
        distributions = {}
        for param, per_group in params.items():
            ppath = f"params.{param}"
            if not isinstance(per_group, dict):
                problems.add(ppath, f"expected a mapping of group name to distribution, found "
                                    f"{type_name(per_group)}")
                continue
            ranks = []
            for group, dist in per_group.items():
                gpath = f"{ppath}.{group}"
                if group not in groups:
                    problems.add(gpath, f"unknown group {quote(group)}; expected one of "
                                        f"{', '.join(groups)}" + did_you_mean(group, list(groups)))
                    continue
                region = groups[group]
                if region is None:
                    continue                   # the group's problem is reported
                if region == "":
                    continue                   # the group has no segment on this cell
                if dist == "inherit":
                    problems.add(gpath, "distribution 'inherit' (each segment takes its parent's "
                                        "value) is not supported by cellsweep")
                    continue
                d = Section(dist, gpath, problems)
                function = d.string("function", choices=tuple(DT.DEFAULTS))
                numbers = d.section("parameters")
                d.finish()
                if function is None:
                    continue
                coefficients = self._coefficients(function, numbers, problems)
                if coefficients is None:
                    continue
                name = f"{param}.{region}"
                custom = region not in ("all", "somatic", "axonal", "apical")
                if param in SECTION_PARAMS and (function not in ("constant", "uniform")
                                                or cell.get("regions", {}).get(region, {})
                                                .get("select_by")):
                    problems.add(gpath, f"{param} with {'a ' + function if function not in ('constant', 'uniform') else 'a selector on its group'}: "
                                        f"cellsweep sets {param} per section before nseg is "
                                        "chosen; expected a constant on a group without selector")
                    continue
                ranks.append((3 if custom else 1 if region == "all" else 2, group, name))
                if function in ("constant", "uniform"):
                    fixed[name] = coefficients["value"]
                else:
                    distributions[name] = {"kind": DT.PREFIX + function, **(
                        {"coeffs": [coefficients[k] for k in DT.polynomial_keys(len(coefficients))]}
                        if function == "polynomial" else coefficients)}
                    fixed[name] = {"value": 1.0, "distribution": name}
                    for key, value in coefficients.items():
                        fixed[f"{name}.{key}"] = value
                        self.origins[join_path("cell.fixed", f"{name}.{key}")] = (label, f"{gpath}.parameters")
                    self.origins[join_path("cell.distributions", name)] = (label, gpath)
                self.origins[join_path("cell.fixed", name)] = (label, gpath)
            self.groups_order[param] = [name for rank, _, name in ranks if rank == 3]
            order = sorted(ranks, key=lambda r: r[0])
            if order != ranks:
                first = next(a for a, b in zip(ranks, order) if a != b)
                problems.add(ppath, f"group {quote(first[1])} comes before a broader group; "
                                    "cellsweep applies 'all', then the domain groups, then the "
                                    "other groups, so this order cannot be reproduced; reorder "
                                    "the groups of this parameter")
        if distributions:
            cell["distributions"] = distributions

    @staticmethod
    def _coefficients(function: str, numbers: Section, problems: Problems):
        """DendroTweaks' parameters of one distribution, its defaults filled in (unknown names
        are refused: DendroTweaks would ignore them silently)."""
        defaults = DT.DEFAULTS[function]
        if function == "polynomial":
            coeffs = numbers.raw("coeffs", list(DT.POLYNOMIAL_DEFAULT))
            numbers.finish()
            if not (isinstance(coeffs, list) and coeffs and all(_is_number(c) for c in coeffs)):
                numbers.error("coeffs", f"expected a list of numbers, found {quote(coeffs)}")
                return None
            return dict(zip(DT.polynomial_keys(len(coeffs)), map(float, coeffs)))
        out = {}
        for key, default in defaults.items():
            value = numbers.number(key, default)
            if value is not None:
                out[key] = value
        numbers.finish()
        return out if len(out) == len(defaults) else None

    # -- stimuli/NAME/ ------------------------------------------------------------------------
    def _stimuli(self, morph):
        protocols, fixed, settings = {}, {}, {}
        d_lambdas = set()
        for name, folder in self.options["stimuli"]:
            config = folder / "config.json"
            label = display_path(config)
            problems = self.problems_of(config)
            data = self._json(config)
            if data is None:
                continue
            top = Section(data, "", problems)
            top.raw("metadata", None)
            sim = top.section("simulation", required=True)
            stim = top.section("stimuli")
            top.finish()
            values = {"celsius": sim.number("temperature", 37.0),
                      "v_init": sim.number("v_init", -70.0),
                      "dt": sim.number("dt", 0.025, gt=0),
                      "duration": sim.number("duration", 300.0, gt=0)}
            d_lambda = sim.number("d_lambda", None, gt=0) if sim.has("d_lambda") else None
            sim.finish()
            populations = stim.section("populations")
            stim.finish()
            if d_lambda is not None:
                d_lambdas.add(d_lambda)
            for key in ("celsius", "v_init", "dt"):
                if values[key] is not None:
                    if key in settings and settings[key][0] != values[key]:
                        problems.add(f"simulation.{'temperature' if key == 'celsius' else key}",
                                     f"{values[key]:g} differs from {settings[key][0]:g} in "
                                     f"{settings[key][1]}; cellsweep has one value per model")
                    settings.setdefault(key, (values[key], label))
            protocol = {"tstop_ms": values["duration"], "stimuli": {}, "recordings": {}}
            if not morph.ok:
                continue
            self._iclamps(folder / "iclamps.csv", morph, protocol["stimuli"])
            self._recordings(folder / "recordings.csv", morph, protocol["recordings"])
            self._populations(populations, folder / "synapses.csv", morph, protocol["stimuli"],
                              join_path(join_path("protocols", name), "stimuli"), label)
            if not protocol["recordings"]:
                del protocol["recordings"]     # cellsweep's default: the soma, named soma
            protocols[name] = protocol
            self.origins[join_path("protocols", name)] = (label, "")
        if len(d_lambdas) > 1:
            self.problems_of(self.options["folder"] / "stimuli").add(
                "", f"the stimuli folders set different d_lambda ({sorted(d_lambdas)}); cellsweep "
                    "has one discretisation per model")
        for key in ("celsius", "v_init"):
            if key in settings:
                fixed[key] = settings[key][0]
        simulation = {"cvode": False, "dt_ms": settings.get("dt", (0.025,))[0]}
        return protocols, fixed, simulation, (min(d_lambdas) if len(d_lambdas) == 1 else None)

    def _rows(self, path, columns):
        if not path.is_file():
            return []
        problems = self.problems_of(path)
        rows = _csv_rows(path, problems)
        out = []
        for i, row in enumerate(rows, start=2):
            missing = [c for c in columns if c not in row]
            if missing:
                problems.items.append(Problem(f"{display_path(path)}:{i}", "",
                                              f"missing column(s) {', '.join(missing)}"))
                return []
            try:
                out.append((i, {c: float(row[c]) if c != "var" else row[c] for c in columns}))
            except ValueError:
                problems.items.append(Problem(f"{display_path(path)}:{i}", "",
                                              f"expected numbers in {', '.join(columns)}"))
        return out

    def _populations(self, pops: Section, path: Path, morph, out: dict, where: str,
                     label: str) -> None:
        """``stimuli.populations`` with ``synapses.csv`` -> one ``synapses`` stimulus per
        population, its events given (``spike_times_ms``) as DendroTweaks draws them
        (``cells.dendrotweaks_trains``), delivered by ``Default/vecstim.mod``'s VecStim to
        ``Default/<syn_type>.mod``."""
        if pops.items() and not path.is_file():
            pops.error(None, f"{display_path(path)} not found: DendroTweaks loads no population "
                             "without it; remove stimuli.populations or write the file")
            return
        rows = self._rows(path, ("sec_idx", "loc", "pop_idx"))
        used = set()
        for name, data in pops.items():
            p = Section(data, pops.key_path(name), pops.problems)
            p.raw("name", None)
            idx = p.number("idx", integer=True)
            if idx is not None:
                used.add(int(idx))
            syn_type = p.string("syn_type", choices=tuple(SYNAPSE_KINETICS))
            n = p.number("N", ge=0, integer=True)
            inputs = self._input_params(p.section("input_params"))
            kinetic = p.section("kinetic_params")
            params = {key: kinetic.raw(key) for key, _ in kinetic.items()}
            missing = [k for k in SYNAPSE_KINETICS.get(syn_type, ()) if k not in params]
            if missing:
                p.error("kinetic_params", f"missing {', '.join(missing)}: DendroTweaks would take "
                        "its module-wide defaults, which an earlier population of the same type "
                        "loaded in the process may have changed")
            p.finish()
            if not re.match(r"^[A-Za-z_]\w*$", str(name)) or name in out:
                pops.error(name, f"population name {quote(name)}: cellsweep names its stimulus "
                                 "after it: expected an identifier not used by another stimulus")
                continue
            if syn_type is not None:
                self._default_mechanism(syn_type, p.key_path("syn_type"), pops.problems,
                                        kind="point")
                self._default_mechanism("VecStim", p.key_path("syn_type"), pops.problems,
                                        kind="artificial", file="vecstim.mod")
            if idx is None or n is None or inputs is None or missing or syn_type is None:
                continue
            places: dict = {}          # (sec_idx, loc) -> location, in DendroTweaks' order
            count = 0
            for line, row in rows:
                if int(row["pop_idx"]) != idx:
                    continue
                count += 1
                location = self._location(path, line, row, morph, {})
                if location is not None:
                    places.setdefault((row["sec_idx"], row["loc"]), []).append(location)
            if count != n:
                p.error("N", f"{n:g} synapses, but {display_path(path)} lists {count} with "
                             f"pop_idx {idx:g}")
                continue
            locations = [loc for group in places.values() for loc in group]
            if len(locations) != count:
                continue                   # a row was refused
            trains = population_trains(int(n), inputs["rate"], inputs["noise"], inputs["start"],
                                       inputs["end"], inputs["seed"])
            out[name] = {"kind": "synapses", "synapse": syn_type, "synapse_params": params,
                         "locations": locations, "spike_times_ms": trains,
                         "weight_uS": inputs["weight"], "netcon_delay_ms": inputs["delay"]}
            self.origins[join_path(where, name)] = (label, pops.key_path(name))
        for line, row in rows:
            if row["pop_idx"] not in used:
                self.problems_of(path).items.append(Problem(
                    f"{display_path(path)}:{line}", "", f"pop_idx {row['pop_idx']:g}: no "
                    f"population of {label} has this idx (DendroTweaks ignores the row)"))
                break

    @staticmethod
    def _input_params(inp: Section):
        """A population's ``input_params`` (DendroTweaks' defaults filled in); None if refused."""
        values = {"rate": inp.number("rate", INPUT_DEFAULTS["rate"], gt=0),
                  "noise": inp.number("noise", INPUT_DEFAULTS["noise"], ge=0),
                  "start": inp.number("start", INPUT_DEFAULTS["start"], ge=0),
                  "end": inp.number("end", INPUT_DEFAULTS["end"], ge=0),
                  "weight": inp.number("weight", INPUT_DEFAULTS["weight"]),
                  "delay": inp.number("delay", INPUT_DEFAULTS["delay"], ge=0)}
        seed = inp.raw("seed", None)
        inp.finish()
        if seed is None:
            inp.error("seed", "null: DendroTweaks then draws this population's spike times from "
                              "numpy's default_rng(None), fresh entropy from the OS at every "
                              "load_stimuli, so no two runs (its own included) get the same "
                              "trains; set a whole number >= 0 (DendroTweaks then seeds one "
                              "numpy SeedSequence child per synapse from it)")
            return None
        if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
            inp.error("seed", f"expected a whole number >= 0 (numpy's SeedSequence), found "
                              f"{quote(seed)}")
            return None
        if None in values.values():
            return None
        if values["end"] < values["start"]:
            inp.error("end", f"{values['end']:g} ms is before start ({values['start']:g} ms)")
            return None
        return {**values, "seed": seed}

    def _location(self, path, line, row, morph, seen):
        where = f"{display_path(path)}:{line}"
        sec_idx, loc = row["sec_idx"], row["loc"]
        if sec_idx != int(sec_idx) or not 0 <= sec_idx < len(morph.names):
            self.problems_of(path).items.append(Problem(where, "", f"sec_idx {sec_idx:g}: "
                                                f"the cell has sections 0-{len(morph.names) - 1}"))
            return None
        if not 0 < loc < 1:
            self.problems_of(path).items.append(Problem(where, "", f"loc {loc:g}: expected "
                "0 < loc < 1 (DendroTweaks moves 0 and 1 to the first and last segment's centre, "
                "which depends on nseg)"))
            return None
        key = (int(sec_idx), loc, row.get("var"))
        if key in seen:
            self.problems_of(path).items.append(Problem(where, "", "same place as line "
                f"{seen[key]}; DendroTweaks keeps only one of them"))
            return None
        seen[key] = line
        return f"{morph.names[int(sec_idx)]}({loc!r})"

    def _iclamps(self, path, morph, out: dict) -> None:
        seen: dict = {}
        for line, row in self._rows(path, ("sec_idx", "loc", "amp", "delay", "dur")):
            location = self._location(path, line, row, morph, seen)
            if location is not None:
                out[f"iclamp_{len(out)}"] = {"kind": "step", "location": location,
                                             "amp_nA": row["amp"], "delay_ms": row["delay"],
                                             "duration_ms": row["dur"]}

    def _recordings(self, path, morph, out: dict) -> None:
        seen: dict = {}
        for line, row in self._rows(path, ("sec_idx", "loc", "var")):
            location = self._location(path, line, row, morph, seen)
            if location is not None:
                x = f"{row['loc']:g}".replace(".", "p").replace("-", "m")
                out[f"{row['var']}_sec{int(row['sec_idx'])}_{x}"] = {
                    "location": location, "variable": row["var"]}


def _csv_rows(path: Path, problems: Problems) -> list:
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            return list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.add("", f"cannot read the CSV file ({exc})")
        return []


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _relative(path: Path, base_dir: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path(base_dir).resolve()))
    except ValueError:
        return str(path)


# -- the morphology as DendroTweaks sees it ---------------------------------------------------
class _Morphology:
    """DendroTweaks' sections of an SWC file (``names``: their Import3d names by DendroTweaks'
    index) and the domains present; ``ok`` False after reporting what DendroTweaks would load
    differently from NEURON's Import3d."""

    def __init__(self, path: Path | None, problems: Problems):
        self.ok, self.names, self.domains = False, [], set()
        if path is None:
            return
        from cellsweep.cells.morphology_check import file_points, import3d_topology

        try:
            topology = import3d_topology(path)
        except MorphologyError as exc:
            problems.add("", str(exc))
            return
        points = file_points(path) or []
        self.problems = problems
        text = path.read_text(encoding="utf-8", errors="replace")
        m = re.search(r"^#\s*DOMAIN_NAMES(.*)$", text, re.M)
        if m:
            for item in m.group(1).split():
                code, _, domain = item.partition(":")
                if not code.isdigit() or TYPE_DOMAIN.get(int(code)) != domain:
                    problems.add("", f"DOMAIN_NAMES {item}: cellsweep knows only "
                                     f"{', '.join(f'{k}:{v}' for k, v in TYPE_DOMAIN.items())}")
                    return
        if not self._check(points):
            return
        somas = [s for s in topology.sections if s.type == 1]
        if len(somas) != 1 or somas[0].length_um is None \
                or abs(somas[0].length_um - max(p.diam for p in points if p.type == 1)) > 1e-6:
            problems.add("", f"NEURON's Import3d makes {len(somas)} soma section(s) of this "
                             f"soma ({topology.soma}), DendroTweaks one cylinder as long as its "
                             "diameter; write the soma's two side points right after its centre")
            return
        self.names = self._dendrotweaks_order(points, topology)
        self.ok = bool(self.names)

    def _check(self, points) -> bool:
        bad_types = sorted({p.type for p in points if p.type not in TYPE_DOMAIN})
        if bad_types:
            self.problems.add("", f"SWC type(s) {', '.join(map(str, bad_types))}: cellsweep knows "
                                  "only the DendroTweaks domains of types 1-4")
            return False
        by_id = {p.id: p for p in points}
        somas = [p for p in points if p.type == 1]
        if len(somas) not in (1, 3):
            self.problems.add("", f"{len(somas)} soma points: DendroTweaks reads a one-point or "
                                  "three-point soma only")
            return False
        if len(somas) == 3:
            root, *sides = somas
            if any(s.parent != root.id for s in sides) or root.parent != -1 \
                    or any(s.diam != root.diam for s in sides):
                self.problems.add("", "the three soma points are not a centre and two children "
                                      "of one diameter; DendroTweaks and NEURON would make "
                                      "different somas of them")
                return False
            spread = sum(math.dist((s.x, s.y, s.z), (root.x, root.y, root.z)) for s in sides)
            if abs(spread - root.diam) > 1e-9 * root.diam:
                self.problems.add("", f"the soma's side points are {spread:g} um apart through "
                                      f"the centre, not one diameter ({root.diam:g} um): "
                                      "DendroTweaks would make a soma that long, NEURON's "
                                      "Import3d a sphere of that diameter")
                return False
        children: dict = {}
        for p in points:
            if p.parent != -1:
                children.setdefault(p.parent, []).append(p)
        position = {p.id: i for i, p in enumerate(points)}
        for p in points:
            parent = by_id.get(p.parent)
            if parent is None:
                continue
            if np.allclose([p.x, p.y, p.z], [parent.x, parent.y, parent.z]):
                self.problems.items.append(Problem(f"{self.problems.source}:{p.line}", "",
                    f"point {p.id} lies on its parent {parent.id}; DendroTweaks removes such "
                    "points and NEURON keeps them"))
                return False
            if len(children[parent.id]) == 1 and position[p.id] != position[parent.id] + 1:
                self.problems.items.append(Problem(f"{self.problems.source}:{p.line}", "",
                    f"point {p.id} is its parent's only child but does not follow it in the "
                    "file; NEURON's Import3d starts a new section there and DendroTweaks does "
                    "not (write the file depth first, as DendroTweaks' export_morphology does)"))
                return False
            if parent.type != 1 and parent.type != p.type and len(children[parent.id]) == 1:
                self.problems.items.append(Problem(f"{self.problems.source}:{p.line}", "",
                    f"point {p.id} changes type inside an unbranched section; DendroTweaks "
                    "refuses such a section"))
                return False
        self.domains = {TYPE_DOMAIN[p.type] for p in points}
        return True

    @staticmethod
    def _dendrotweaks_order(points, topology) -> list:
        """Import3d names of the sections, in DendroTweaks' order: a depth-first walk where each
        point's children are sorted (stably, from the file's order) by the number of branch
        points in their subtrees; a section starts at every child of a branch point."""
        children: dict = {p.id: [] for p in points}
        for p in points:
            if p.parent != -1:
                children[p.parent].append(p.id)
        root = next(p.id for p in points if p.parent == -1)
        branches: dict = {}
        for p in reversed(_preorder(root, children)):
            branches[p] = (len(children[p]) > 1) + sum(branches[c] for c in children[p])
        for pid in children:
            children[pid].sort(key=lambda c: branches[c])
        kind = {p.id: p.type for p in points}
        parent = {p.id: p.parent for p in points}
        last_line = {p.id: p.line for p in points}
        starts = [pid for pid in _preorder(root, children)
                  if pid != root and kind[pid] != 1
                  and (kind[parent[pid]] == 1 or len(children[parent[pid]]) > 1)]
        by_last_line = {s.lines[-1]: s.name for s in topology.sections if s.lines}
        soma = next(s.name for s in topology.sections if s.type == 1)
        names = [soma]
        for start in starts:
            end = start
            while len(children[end]) == 1:
                end = children[end][0]
            names.append(by_last_line.get(last_line[end], ""))
        return names if all(names) else []


def _preorder(root, children) -> list:
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(children[node]))
    return out
